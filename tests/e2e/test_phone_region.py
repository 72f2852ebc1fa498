"""--phone-region (SPEC section 10): phones parsed with libphonenumber and kept
as E.164; a number it finds invalid is a field error; the store keeps the
normalization it was built with and refuses another, also after a dump and a
restore."""

import os
import shutil
import subprocess
import tempfile
import unittest

import harness


class PhoneRegionTests(harness.ServerTestCase):
    server_args = ("--phone-region", "TR")

    def test_phones_become_e164(self):
        st, body = self.srv.post("/identify", {"email": "a@x.io", "phoneNumber": "05555555555"})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["contact"]["phoneNumbers"], ["+905555555555"])
        # The same number written otherwise, or as a JSON number, is the same phone.
        for phone in ("+90 555 555 55 55", "0555 555 55 55", 5555555555):
            st, body = self.srv.post("/identify", {"phoneNumber": phone})
            self.assertEqual((st, body["contact"]["primaryContactId"],
                              body["contact"]["secondaryContactIds"]), (200, 1, []), phone)
        st, body = self.srv.post("/api/v1/customers/", {"channel": 1, "email": "c@x.io",
                                                        "channel_code": "c",
                                                        "phone_number": "(0555) 555-5555"})
        self.assertEqual((st, body["phone_number"], body["identity"]), (201, "+905555555555", 1))
        self.assertStoreChecks()

    def test_invalid_numbers_are_field_errors(self):
        for phone in ("123", "0555", "+90 123"):
            st, body = self.srv.post("/identify", {"phoneNumber": phone})
            self.assertEqual((st, body), (400, {"phoneNumber": ["Enter a valid phone number."]}),
                             phone)
        st, body = self.srv.post("/api/v1/customers/", {"channel": 1, "email": "c@x.io",
                                                        "channel_code": "c",
                                                        "phone_number": "12"})
        self.assertEqual(st, 400, body)
        self.assertIn("phone_number", body)
        self.assertEqual(self.srv.last_seq(), 0)

    def test_the_store_keeps_its_normalization(self):
        self.srv.post("/identify", {"email": "a@x.io", "phoneNumber": "05555555555"})
        self.srv.stop()
        for args in ((), ("--phone-region", "US")):
            other = harness.Server(data_dir=self.srv.data_dir, extra_args=args, start=False)
            self.addCleanup(other.close)
            with self.assertRaises(harness.ServerError, msg=repr(args)):
                other.start()
            self.assertIn("keeps phones as E.164 of region TR", other.stderr(), args)
        # A snapshot carries it: the restored store starts with TR only.
        snap = os.path.join(tempfile.mkdtemp(prefix="idlink-e2e-snap-"), "s.bin")
        self.addCleanup(shutil.rmtree, os.path.dirname(snap), True)
        subprocess.run([harness.check_path().replace("idlink-check", "idlink-dump"), "--data",
                        self.srv.data_dir, "-o", snap, "--quiet"], check=True)
        target = tempfile.mkdtemp(prefix="idlink-e2e-restored-")
        self.addCleanup(shutil.rmtree, target, True)
        subprocess.run([harness.check_path().replace("idlink-check", "idlink-restore"), "--data",
                        target, "-i", snap, "--quiet", "--force"], check=True)
        plain = harness.Server(data_dir=target, start=False)
        self.addCleanup(plain.close)
        with self.assertRaises(harness.ServerError):
            plain.start()
        restored = self.start_server(data_dir=target, extra_args=("--phone-region", "TR"))
        st, body = restored.post("/identify", {"phoneNumber": "0555 555 5555"})
        self.assertEqual((st, body["contact"]["primaryContactId"]), (200, 1))


class WithoutRegionTests(unittest.TestCase):
    def test_unknown_region_is_refused_at_start(self):
        out = subprocess.run([harness.idlinkd_path(), "--phone-region", "XX"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--phone-region", out.stderr)
        self.assertIn("'XX'", out.stderr)


if __name__ == "__main__":
    unittest.main()
