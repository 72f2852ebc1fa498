"""SPEC section 2: the identity rules, through POST /identify."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import identity  # noqa: E402


class IdentifyTests(harness.ServerTestCase):

    def new_primary(self, email, phone):
        """Create a new primary through /identify and return its id."""
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": email, "phoneNumber": phone})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1, "one contact created for %r/%r" % (email, phone))
        pid = created[0]
        self.assertEqual(body, identity(pid, [email] if email else [],
                                        [phone] if phone else [], []))
        return pid

    def new_secondary(self, email, phone):
        """Send a request expected to create exactly one secondary; return its id."""
        seq = self.srv.last_seq()
        self.srv.identify({"email": email, "phoneNumber": phone})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1, "one contact created for %r/%r" % (email, phone))
        return created[0]

    def contact(self, cid):
        status, body = self.srv.get("/contacts/%d" % cid)
        self.assertEqual(status, 200, "GET /contacts/%d -> %r" % (cid, body))
        return body

    def assertNothingCreated(self, request, expected):
        seq = self.srv.last_seq()
        body = self.srv.identify(request)
        self.assertEqual(body, expected, "request %r" % (request,))
        self.assertEqual(self.srv.last_seq(), seq,
                         "request %r changed the store: %r"
                         % (request, self.srv.changes_since(seq)))

    # ------------------------------------------------------------------

    def test_new_primary(self):
        seq0 = self.srv.last_seq()
        status, headers, body, raw = self.srv.request(
            "POST", "/identify", {"email": "doc@hillvalley.edu", "phoneNumber": "555"})
        self.assertEqual(status, 200, raw)
        self.assertJsonResponse(headers, raw)
        pid = body["contact"]["primaryContactId"]
        self.assertIsInstance(pid, int)
        self.assertGreater(pid, 0)
        self.assertEqual(body, identity(pid, ["doc@hillvalley.edu"], ["555"], []))
        changes = self.srv.changes_since(seq0)
        self.assertEqual([(c["kind"], c.get("contact"), c.get("primary")) for c in changes],
                         [("contact.created", pid, pid)])
        row = self.contact(pid)
        self.assertEqual((row["id"], row["email"], row["phoneNumber"], row["linkedId"],
                          row["linkPrecedence"], row["deletedAt"]),
                         (pid, "doc@hillvalley.edu", "555", None, "primary", None))

    def test_ids_increase(self):
        ids = [self.new_primary("p%d@x.io" % i, str(1000 + i)) for i in range(5)]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 5)
        self.assertTrue(all(isinstance(i, int) and i > 0 for i in ids), ids)

    def test_secondary_for_new_email(self):
        p = self.new_primary("lorraine@hillvalley.edu", "123456")
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": "mcfly@hillvalley.edu", "phoneNumber": "123456"})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1, created)
        s = created[0]
        self.assertGreater(s, p)
        self.assertEqual(body, identity(p, ["lorraine@hillvalley.edu", "mcfly@hillvalley.edu"],
                                        ["123456"], [s]))
        row = self.contact(s)
        self.assertEqual((row["id"], row["email"], row["phoneNumber"], row["linkedId"],
                          row["linkPrecedence"]),
                         (s, "mcfly@hillvalley.edu", "123456", p, "secondary"))
        self.assertEqual(self.contact(p)["linkPrecedence"], "primary")

    def test_secondary_for_new_phone(self):
        p = self.new_primary("marty@hillvalley.edu", "111")
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": "marty@hillvalley.edu", "phoneNumber": "222"})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1, created)
        s = created[0]
        self.assertEqual(body, identity(p, ["marty@hillvalley.edu"], ["111", "222"], [s]))
        row = self.contact(s)
        self.assertEqual((row["email"], row["phoneNumber"], row["linkedId"],
                          row["linkPrecedence"]),
                         ("marty@hillvalley.edu", "222", p, "secondary"))

    def test_nothing_created_when_all_known(self):
        p = self.new_primary("a@x.io", "1")
        s = self.new_secondary("b@x.io", "1")
        expected = identity(p, ["a@x.io", "b@x.io"], ["1"], [s])
        for req in ({"email": "a@x.io", "phoneNumber": "1"},
                    {"email": "b@x.io", "phoneNumber": "1"},
                    # email of the secondary, phone of the primary: both known
                    {"email": "b@x.io", "phoneNumber": 1},
                    {"email": "a@x.io"},
                    {"email": "b@x.io"},
                    {"phoneNumber": "1"}):
            with self.subTest(request=req):
                self.assertNothingCreated(req, expected)

    def test_null_or_absent_is_never_new(self):
        p = self.new_primary("only@x.io", "42")
        expected = identity(p, ["only@x.io"], ["42"], [])
        for req in ({"email": "only@x.io", "phoneNumber": None},
                    {"email": "only@x.io"},
                    {"email": "only@x.io", "phoneNumber": ""},
                    {"email": None, "phoneNumber": "42"},
                    {"phoneNumber": "42"},
                    {"email": "", "phoneNumber": "42"},
                    {"email": "only@x.io", "unknown": "ignored", "phoneNumber": None}):
            with self.subTest(request=req):
                self.assertNothingCreated(req, expected)

    def test_null_on_primary_side_then_value_is_new(self):
        # A primary with no phone: a request bringing a phone brings new information.
        p = self.new_primary("nophone@x.io", None)
        self.assertIsNone(self.contact(p)["phoneNumber"])
        s = self.new_secondary("nophone@x.io", "9090")
        body = self.srv.identify({"email": "nophone@x.io"})
        self.assertEqual(body, identity(p, ["nophone@x.io"], ["9090"], [s]))

    def test_primary_without_email(self):
        p = self.new_primary(None, "5550001")
        row = self.contact(p)
        self.assertIsNone(row["email"])
        self.assertEqual(row["phoneNumber"], "5550001")
        self.assertEqual(row["linkPrecedence"], "primary")
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": "zed@x.io", "phoneNumber": "5550001"})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1, created)
        s = created[0]
        # W has no email: emails are the rest in ascending contact id.
        self.assertEqual(body, identity(p, ["zed@x.io"], ["5550001"], [s]))
        s2 = self.new_secondary("abe@x.io", "5550001")
        body = self.srv.identify({"phoneNumber": "5550001"})
        self.assertEqual(body, identity(p, ["zed@x.io", "abe@x.io"], ["5550001"], [s, s2]))

    def test_seeds_example_merge_two_primaries(self):
        george = self.new_primary("george@hillvalley.edu", "919191")
        biff = self.new_primary("biffsucks@hillvalley.edu", "717171")
        self.assertGreater(biff, george)
        before = self.contact(biff)
        time.sleep(0.02)  # so that "updatedAt now" differs from createdAt
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": "george@hillvalley.edu", "phoneNumber": "717171"})
        self.assertEqual(body, identity(george,
                                        ["george@hillvalley.edu", "biffsucks@hillvalley.edu"],
                                        ["919191", "717171"], [biff]))
        changes = self.srv.changes_since(seq)
        self.assertEqual([(c["kind"], c.get("primary"), c.get("absorbed")) for c in changes],
                         [("identity.merged", george, [biff])],
                         "one merge and nothing created: %r" % changes)
        row = self.contact(biff)
        self.assertEqual((row["linkPrecedence"], row["linkedId"], row["email"],
                          row["phoneNumber"], row["createdAt"]),
                         ("secondary", george, "biffsucks@hillvalley.edu", "717171",
                          before["createdAt"]))
        self.assertGreater(row["updatedAt"], before["updatedAt"], "updatedAt set to now")
        g = self.contact(george)
        self.assertEqual((g["linkPrecedence"], g["linkedId"]), ("primary", None))
        # Asking again changes nothing.
        self.assertNothingCreated({"email": "biffsucks@hillvalley.edu", "phoneNumber": "919191"},
                                  body)
        self.assertStoreChecks()

    def test_oldest_primary_wins_whichever_field_matches_it(self):
        old = self.new_primary("old@x.io", "100")
        new = self.new_primary("new@x.io", "200")
        # The newer primary is matched by email, the older by phone.
        body = self.srv.identify({"email": "new@x.io", "phoneNumber": "100"})
        self.assertEqual(body, identity(old, ["old@x.io", "new@x.io"], ["100", "200"], [new]))
        row = self.contact(new)
        self.assertEqual((row["linkPrecedence"], row["linkedId"]), ("secondary", old))

    def test_bridge_three_identities_no_chains(self):
        # One request holds one email and one phone, so it can join two identities;
        # two requests bridge three. Ids are interleaved so that merge order and
        # id order differ.
        x = self.new_primary("x@x.io", "100")
        y = self.new_primary("y@x.io", "200")
        z = self.new_primary("z@x.io", "300")
        x2 = self.new_secondary("x2@x.io", "100")
        y2 = self.new_secondary("y2@x.io", "200")
        z2 = self.new_secondary("z2@x.io", "300")
        self.assertEqual([x, y, z, x2, y2, z2], sorted([x, y, z, x2, y2, z2]))

        z2_before = self.contact(z2)
        time.sleep(0.02)  # so that "updatedAt now" differs from createdAt

        # y's secondary meets z's phone: y (older) absorbs z and z's secondary.
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": "y2@x.io", "phoneNumber": "300"})
        self.assertEqual(body, identity(y, ["y@x.io", "z@x.io", "y2@x.io", "z2@x.io"],
                                        ["200", "300"], [z, y2, z2]))
        self.assertEqual([(c["kind"], c.get("primary"), c.get("absorbed"))
                          for c in self.srv.changes_since(seq)],
                         [("identity.merged", y, [z])])
        for cid in (z, z2, y2):
            row = self.contact(cid)
            self.assertEqual((row["linkPrecedence"], row["linkedId"]), ("secondary", y),
                             "contact %d" % cid)
        z2_after = self.contact(z2)
        self.assertEqual(z2_after["createdAt"], z2_before["createdAt"])
        self.assertGreater(z2_after["updatedAt"], z2_before["updatedAt"],
                           "a re-pointed secondary gets updatedAt now")

        # z's secondary (now under y) meets x's phone: x (oldest) absorbs all.
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": "z2@x.io", "phoneNumber": "100"})
        expected = identity(x, ["x@x.io", "y@x.io", "z@x.io", "x2@x.io", "y2@x.io", "z2@x.io"],
                            ["100", "200", "300"], [y, z, x2, y2, z2])
        self.assertEqual(body, expected)
        self.assertEqual([(c["kind"], c.get("primary"), c.get("absorbed"))
                          for c in self.srv.changes_since(seq)],
                         [("identity.merged", x, [y])])
        for cid in (y, z, x2, y2, z2):
            row = self.contact(cid)
            self.assertEqual((row["linkPrecedence"], row["linkedId"]), ("secondary", x),
                             "contact %d must name the winner directly" % cid)
        x_row = self.contact(x)
        self.assertEqual((x_row["linkPrecedence"], x_row["linkedId"]), ("primary", None))
        for cid in (x, y, z, x2, y2, z2):
            status, body = self.srv.get("/identities/%d" % cid)
            self.assertEqual((status, body), (200, expected), "GET /identities/%d" % cid)
        self.assertStoreChecks()

    def test_email_normalization(self):
        p = self.new_primary("norm@example.com", None)
        for email in ("  Norm@Example.COM ", "NORM@EXAMPLE.COM", "\tnorm@example.com\n"):
            with self.subTest(email=email):
                self.assertNothingCreated({"email": email},
                                          identity(p, ["norm@example.com"], [], []))
        q_seq = self.srv.last_seq()
        body = self.srv.identify({"email": "  MiXeD@Case.Org  "})
        q = self.srv.created_since(q_seq)
        self.assertEqual(len(q), 1)
        self.assertEqual(body, identity(q[0], ["mixed@case.org"], [], []))
        self.assertEqual(self.contact(q[0])["email"], "mixed@case.org")

    def test_phone_normalization(self):
        seq = self.srv.last_seq()
        body = self.srv.identify({"phoneNumber": "123-456"})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1)
        p = created[0]
        expected = identity(p, [], ["123456"], [])
        self.assertEqual(body, expected)
        self.assertEqual(self.contact(p)["phoneNumber"], "123456")
        for phone in (" (123) 456 ", 123456, "123456", "123.456", "1 2 3 4 5 6", "(12)3-4.56"):
            with self.subTest(phone=phone):
                self.assertNothingCreated({"phoneNumber": phone}, expected)

    def test_phone_plus_is_kept_and_significant(self):
        seq = self.srv.last_seq()
        body = self.srv.identify({"phoneNumber": "+1 (555) 010-0000"})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1)
        plus = created[0]
        self.assertEqual(body, identity(plus, [], ["+15550100000"], []))
        self.assertEqual(self.contact(plus)["phoneNumber"], "+15550100000")
        self.assertNothingCreated({"phoneNumber": "+15550100000"}, body)
        # Without the plus it is another phone.
        other = self.new_primary(None, "15550100000")
        self.assertNotEqual(other, plus)

    def test_phone_integer_zero_and_leading_zeros(self):
        zero = self.new_primary(None, "0")
        self.assertNothingCreated({"phoneNumber": 0}, identity(zero, [], ["0"], []))
        lead = self.new_primary(None, "00123")
        self.assertNotEqual(lead, zero)
        # 123 as an integer is "123", not "00123".
        seq = self.srv.last_seq()
        body = self.srv.identify({"phoneNumber": 123})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1)
        self.assertEqual(body, identity(created[0], [], ["123"], []))

    def test_ordering_distinct_and_by_id(self):
        # Alphabetical order is the reverse of id order, to tell them apart.
        w = self.new_primary("zulu@x.io", "900")
        s1 = self.new_secondary("mike@x.io", "900")
        s2 = self.new_secondary("alpha@x.io", "900")
        s3 = self.new_secondary("alpha@x.io", "500")  # repeated email, new phone
        s4 = self.new_secondary("mike@x.io", "100")   # repeated email, new phone
        expected = identity(w, ["zulu@x.io", "mike@x.io", "alpha@x.io"],
                            ["900", "500", "100"], [s1, s2, s3, s4])
        self.assertNothingCreated({"email": "alpha@x.io", "phoneNumber": "100"}, expected)
        status, body = self.srv.get("/identities/%d" % s3)
        self.assertEqual((status, body), (200, expected))

    def test_ordering_after_merge(self):
        # The absorbed identity's values come after the winner's, in id order.
        a = self.new_primary("mm@x.io", "30")
        b = self.new_primary("zz@x.io", "20")
        a2 = self.new_secondary("aa@x.io", "30")
        b2 = self.new_secondary("zz@x.io", "10")
        body = self.srv.identify({"email": "aa@x.io", "phoneNumber": "10"})
        self.assertEqual(body, identity(a, ["mm@x.io", "zz@x.io", "aa@x.io"],
                                        ["30", "20", "10"], [b, a2, b2]))

    def test_unknown_keys_ignored(self):
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": "k@x.io", "phoneNumber": "77", "name": "Biff",
                                  "extra": {"nested": [1, 2, None]}})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1)
        self.assertEqual(body, identity(created[0], ["k@x.io"], ["77"], []))


if __name__ == "__main__":
    unittest.main()
