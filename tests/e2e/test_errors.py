"""SPEC section 3's error cases: each answered as specified, nothing changed in the store."""

import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import NOT_FOUND, REQUIRED  # noqa: E402

PARSE_RE = re.compile(r"^JSON parse error - .+ at line (\d+) column (\d+)$", re.S)
WRITE_PATHS = ("/identify", "/api/create/", "/api/identify/")

# A 254-character email that is valid even under RFC length limits per part.
EMAIL_254 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".io"
EMAIL_255 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 59 + ".io"
assert len(EMAIL_254) == 254 and len(EMAIL_255) == 255

MALFORMED = [
    b'{"email": "a@x.io"',
    b'{"email": }',
    b"{'email': 'a@x.io'}",
    b'{"email": "a@x.io",}',
    b'{"email": "a@x.io"} trailing',
    b'nonsense',
    b'{"email": "a@x.io" "phoneNumber": "1"}',
]
NOT_OBJECT = [b'[]', b'[{"email": "a@x.io"}]', b'"a@x.io"', b'123', b'null', b'true']
BAD_EMAIL_TYPE = [5, 1.5, {}, {"email": "a@x.io"}, [], ["a@x.io"], True, False]
BAD_PHONE_TYPE = [True, False, 1.5, -1, -123456, {}, {"n": "1"}, ["123"]]
BAD_EMAILS = [
    "plainaddress", "a@b@x.io", "@x.io", "a@", "@", "a b@x.io", "a@x .io", "a@x\t.io",
    "a\u0001b@x.io", "a\u001fb@x.io", "a\u007fb@x.io", "a\nb@x.io", EMAIL_255,
    "a" * 300 + "@x.io",
]
BAD_PHONES = [
    "12a34", "abc", "phone", "1" * 21, "+" + "1" * 21, "++123", "+1+23", "12+3", "+",
    "123/456", "12#3", "１２３",
]
EMPTY = [{}, {"email": None}, {"phoneNumber": None}, {"email": None, "phoneNumber": None},
         {"email": "", "phoneNumber": ""}, {"email": "", "phoneNumber": None},
         {"name": "Biff", "other": 1}]


def all_bad_requests():
    """(description, method, path, request kwargs) of every rejected request."""
    out = []
    for path in WRITE_PATHS:
        for raw in MALFORMED + NOT_OBJECT:
            out.append(("raw %r" % raw, "POST", path, {"raw": raw}))
        for v in BAD_EMAIL_TYPE:
            out.append(("email %r" % (v,), "POST", path, {"body": {"email": v}}))
        for v in BAD_PHONE_TYPE:
            out.append(("phone %r" % (v,), "POST", path,
                        {"body": {"email": "ok@x.io", "phoneNumber": v}}))
        for v in BAD_EMAILS:
            out.append(("email %r" % v, "POST", path, {"body": {"email": v, "phoneNumber": "1"}}))
        for v in BAD_PHONES:
            out.append(("phone %r" % v, "POST", path,
                        {"body": {"email": "ok@x.io", "phoneNumber": v}}))
        for v in EMPTY:
            out.append(("empty %r" % v, "POST", path, {"body": v}))
        out.append(("text/plain", "POST", path,
                    {"raw": b'{"email": "ok@x.io"}', "headers": {"Content-Type": "text/plain"}}))
        out.append(("invalid utf-8", "POST", path, {"raw": b'{"email": "\xff\xfe@x.io"}'}))
        out.append(("deep", "POST", path, {"raw": b"[" * 100000}))
    return out


def open_stalled(srv, n, into):
    """Opens n connections that send a POST announcing 100 bytes of body and
    only 10 of them, appending them to into (the caller closes them)."""
    head = (b"POST /identify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        into.append(s)
        s.sendall(head + b'{"email": ')  # 10 of the 100 announced bytes
    time.sleep(0.2)


class ErrorTests(harness.ServerTestCase):
    """One server for the class; every test checks the store did not change."""

    @classmethod
    def setUpClass(cls):
        cls.shared = harness.Server()
        cls.addClassCleanup(cls.shared.close)
        # Something in the store, so that "nothing changed" is not about an empty store.
        cls.shared.identify({"email": "seed@x.io", "phoneNumber": "1"})
        cls.shared.identify({"email": "seed2@x.io", "phoneNumber": "1"})

    def setUp(self):
        self.srv = self.shared
        self.seq = self.srv.last_seq()

    def tearDown(self):
        self.assertTrue(self.srv.healthy(), "server no longer healthy; stderr:\n%s"
                        % self.srv.stderr()[-4000:])
        self.assertEqual(self.srv.last_seq(), self.seq, "the store changed: %r"
                         % self.srv.changes_since(self.seq))

    def assertEachRefused(self, field, values, alone=False):
        """Each value of field, on every write path, beside a valid other field,
        gets 400 with field errors for field (only for it when alone)."""
        other = "phoneNumber" if field == "email" else "email"
        valid = {"email": "seed@x.io", "phoneNumber": "1"}
        for path in WRITE_PATHS:
            for v in values:
                with self.subTest(path=path, **{field: v}):
                    status, _, body, rawr = self.send(
                        "POST", path, body={field: v, other: valid[other]})
                    self.assertEqual(status, 400, rawr)
                    self.assertFieldErrors(body, field, rawr)
                    if alone:
                        self.assertNotIn(other, body)

    def send(self, method, path, **kw):
        status, headers, body, raw = self.srv.request(method, path, **kw)
        if status >= 400 and status != 413:
            self.assertJsonResponse(headers, raw)
        return status, headers, body, raw

    # ---- bodies -------------------------------------------------------------

    def test_malformed_json(self):
        for path in WRITE_PATHS:
            for raw in MALFORMED:
                with self.subTest(path=path, raw=raw):
                    status, _, body, rawr = self.send("POST", path, raw=raw)
                    self.assertEqual(status, 400, rawr)
                    self.assertIsInstance(body, dict, rawr)
                    self.assertEqual(list(body), ["detail"], rawr)
                    self.assertTrue(body["detail"].startswith("JSON parse error - "), rawr)
                    self.assertIn("line", body["detail"])
                    self.assertIn("column", body["detail"])
                    self.assertRegex(body["detail"], PARSE_RE)

    def test_malformed_json_reports_the_line(self):
        raw = b'{\n  "email": "a@x.io",\n  oops: 1\n}\n'
        status, _, body, rawr = self.send("POST", "/identify", raw=raw)
        self.assertEqual(status, 400, rawr)
        m = PARSE_RE.match(body.get("detail", ""))
        self.assertIsNotNone(m, rawr)
        self.assertEqual(m.group(1), "3", "error is on line 3: %r" % body)

    def test_body_not_an_object(self):
        for path in WRITE_PATHS:
            for raw in NOT_OBJECT:
                with self.subTest(path=path, raw=raw):
                    status, _, body, rawr = self.send("POST", path, raw=raw)
                    self.assertEqual(status, 400, rawr)
                    self.assertFieldErrors(body, raw=rawr)

    def test_email_wrong_type(self):
        self.assertEachRefused("email", BAD_EMAIL_TYPE)

    def test_phone_wrong_type(self):
        self.assertEachRefused("phoneNumber", BAD_PHONE_TYPE)

    def test_invalid_emails(self):
        self.assertEachRefused("email", BAD_EMAILS, alone=True)

    def test_both_fields_invalid_reports_both(self):
        for path in WRITE_PATHS:
            with self.subTest(path=path):
                status, _, body, rawr = self.send(
                    "POST", path, body={"email": "not-an-email", "phoneNumber": "12ab"})
                self.assertEqual(status, 400, rawr)
                self.assertFieldErrors(body, "email", rawr)
                self.assertIn("phoneNumber", body, rawr)

    def test_email_nul_character(self):
        # U+0000 is a control character: rejected, whether by the parser or the validator.
        status, _, body, rawr = self.send("POST", "/identify",
                                          raw=b'{"email": "a\\u0000b@x.io"}')
        self.assertEqual(status, 400, rawr)
        self.assertIsInstance(body, dict, rawr)

    def test_invalid_phones(self):
        self.assertEachRefused("phoneNumber", BAD_PHONES, alone=True)

    def test_huge_integer_phone(self):
        # 21 digits: too long as a phone, and beyond 64-bit integers.
        status, _, body, rawr = self.send(
            "POST", "/identify", raw=b'{"email": "seed@x.io", "phoneNumber": 123456789012345678901}')
        self.assertEqual(status, 400, rawr)
        self.assertIsInstance(body, dict, rawr)

    def test_email_or_phone_required(self):
        for path in WRITE_PATHS:
            for v in EMPTY:
                with self.subTest(path=path, body=v):
                    status, _, body, rawr = self.send("POST", path, body=v)
                    self.assertEqual((status, body), (400, REQUIRED), rawr)
            with self.subTest(path=path, body="empty body"):
                status, _, body, rawr = self.send("POST", path, raw=b"")
                self.assertEqual((status, body), (400, REQUIRED), rawr)

    def test_content_type_not_json(self):
        for path in WRITE_PATHS:
            for ct in ("text/plain", "application/x-www-form-urlencoded", "text/html"):
                with self.subTest(path=path, content_type=ct):
                    status, _, body, rawr = self.send(
                        "POST", path, raw=b'{"email": "fresh415@x.io"}',
                        headers={"Content-Type": ct})
                    self.assertEqual(status, 415, rawr)
                    self.assertIsInstance(body, dict, rawr)
                    self.assertIsInstance(body.get("detail"), str, rawr)

    def test_invalid_utf8(self):
        for path in WRITE_PATHS:
            for raw in (b'{"email": "\xff\xfe@x.io"}', b'{"email": "a@x.io", "x": "\xc3\x28"}',
                        b'\xef\xbb\xbf\x80{"email": "a@x.io"}'):
                with self.subTest(path=path, raw=raw):
                    status, _, body, rawr = self.send("POST", path, raw=raw)
                    self.assertEqual(status, 400, rawr)
                    self.assertIsInstance(body, dict, rawr)

    def test_deeply_nested_json(self):
        for raw in (b"[" * 100000, b'{"email": "a@x.io", "x": ' + b"[" * 100000,
                    b'{"a":' * 50000 + b"1" + b"}" * 50000):
            with self.subTest(raw=raw[:30]):
                status, _, body, rawr = self.send("POST", "/identify", raw=raw)
                self.assertEqual(status, 400, rawr[:300])
                self.assertIsInstance(body, dict, rawr[:300])
                self.assertTrue(self.srv.healthy())

    # ---- routing ------------------------------------------------------------

    def test_unknown_path(self):
        for method, path in (("GET", "/nope"), ("POST", "/nope"), ("GET", "/"),
                             ("POST", "/identify/extra"), ("GET", "/api/"),
                             ("POST", "/api/create/x"), ("GET", "/contacts"),
                             ("GET", "/changesx")):
            with self.subTest(method=method, path=path):
                kw = {"body": {"email": "x@x.io"}} if method == "POST" else {}
                status, _, body, rawr = self.send(method, path, **kw)
                self.assertEqual((status, body), (404, NOT_FOUND), rawr)

    def test_wrong_method(self):
        cases = [("GET", "/identify", "POST"), ("PUT", "/identify", "POST"),
                 ("DELETE", "/identify", "POST"), ("GET", "/api/create/", "POST"),
                 ("PATCH", "/api/identify/", "POST"), ("POST", "/healthz", "GET"),
                 ("POST", "/changes", "GET"), ("PUT", "/contacts/1", "DELETE"),
                 ("POST", "/identities/1", "GET")]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                kw = {"body": {"email": "x@x.io"}} if method in ("PUT", "PATCH", "POST") else {}
                status, headers, body, rawr = self.send(method, path, **kw)
                self.assertEqual((status, body),
                                 (405, {"detail": 'Method "%s" not allowed.' % method}), rawr)
                self.assertIn("allow", headers, "405 without an Allow header")
                methods = [m.strip().upper() for m in headers["allow"].split(",")]
                self.assertIn(allowed, methods, headers["allow"])
                self.assertNotIn(method, methods, headers["allow"])

    # ---- misbehaving clients ------------------------------------------------

    def test_huge_body_within_limit(self):
        # ~900 kB, under the 1 MiB default: accepted; unknown keys ignored.
        email = "seed@x.io"
        body = {"email": email, "pad": "x" * 500000, "list": list(range(60000))}
        raw = json.dumps(body).encode()
        self.assertLess(len(raw), 1048576)
        self.assertGreater(len(raw), 800000)
        status, _, parsed, rawr = self.send("POST", "/identify", raw=raw)
        self.assertEqual(status, 200, rawr[:300])
        self.assertEqual(parsed["contact"]["emails"], ["seed@x.io", "seed2@x.io"])

    def test_half_request_then_close(self):
        for data in (b"POST /identify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",
                     b"POST /identify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"email": ',
                     b"GARBAGE\r\n\r\n"):
            with self.subTest(data=data):
                s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
                try:
                    s.sendall(data)
                finally:
                    s.close()
                self.assertTrue(self.srv.healthy())

    def test_slow_client_does_not_block_others(self):
        slow = []
        try:
            open_stalled(self.srv, 2, slow)
            results = []

            def other(i):
                t0 = time.monotonic()
                st, _, body, _ = self.srv.request("POST", "/api/identify/",
                                                  body={"email": "seed@x.io"}, timeout=5)
                return st, body["customerID"], time.monotonic() - t0

            for _ in range(3):
                results += harness.run_threads(other, 4, timeout=20)
                st, _, _, _ = self.srv.request("GET", "/healthz", timeout=5)
                self.assertEqual(st, 200)
            for st, cust, took in results:
                self.assertEqual(st, 200)
                self.assertLess(took, 5)
        finally:
            for s in slow:
                s.close()


class StalledClientsTests(harness.ServerTestCase):
    """A client that stops mid-body is answered 408 once the read times out,
    and its worker thread is freed; the other threads serve meanwhile."""

    server_args = ("--threads", "3")
    DEADLINE = 30.0

    def test_stalled_client_gets_408_and_others_are_served(self):
        seq = self.srv.last_seq()
        stalled = []
        try:
            open_stalled(self.srv, 2, stalled)
            t0 = time.monotonic()
            status, _, _, raw = self.srv.request("GET", "/healthz", timeout=5)
            self.assertEqual(status, 200, raw)
            self.assertLess(time.monotonic() - t0, 2.0)
            s = stalled[0]
            s.settimeout(self.DEADLINE)
            answer = s.recv(4096)
            self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer)
            self.assertIn(b"10 of the 100 bytes", answer)
        finally:
            for s in stalled:
                s.close()
        self.assertEqual(self.srv.last_seq(), seq)


class ErrorsLeaveStoreIntactTests(harness.ServerTestCase):
    """All bad requests against one fresh server, then /healthz and idlink-check."""

    def test_store_intact_after_all_errors(self):
        self.srv.identify({"email": "keep@x.io", "phoneNumber": "10"})
        self.srv.identify({"email": "keep2@x.io", "phoneNumber": "10"})
        before = self.srv.changes_since(0)
        seq = self.srv.last_seq()
        bad = all_bad_requests()
        self.assertGreater(len(bad), 150)
        for desc, method, path, kw in bad:
            status, _, _, rawr = self.srv.request(method, path, **kw)
            self.assertIn(status, (400, 415), "%s %s %s -> %d %r"
                          % (method, path, desc, status, rawr[:200]))
        for data in (b"POST /identify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
                     b"POST /api/create/ HTTP/1.1\r\nHost: x\r\nContent-Type: applic"):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
            try:
                s.sendall(data)
            finally:
                s.close()
        self.assertTrue(self.srv.healthy())
        self.assertEqual(self.srv.last_seq(), seq)
        self.assertEqual(self.srv.changes_since(0), before)
        self.assertEqual(self.srv.identify({"email": "keep@x.io"})["contact"]["emails"],
                         ["keep@x.io", "keep2@x.io"])
        self.assertStoreChecks()
        self.assertEqual(self.srv.stop(), 0)
        self.assertStoreChecks()


class MaxBodyTests(harness.ServerTestCase):
    server_args = ("--max-body", "1024")

    def body_of_size(self, n, email):
        base = {"email": email, "pad": ""}
        raw = json.dumps(base).encode()
        pad = n - len(raw)
        self.assertGreaterEqual(pad, 0)
        raw = json.dumps({"email": email, "pad": "x" * pad}).encode()
        self.assertEqual(len(raw), n)
        return raw

    def test_body_over_max_body(self):
        seq = self.srv.last_seq()
        for n in (1025, 2000, 64 * 1024):
            for path in WRITE_PATHS:
                with self.subTest(size=n, path=path):
                    status, _, body, rawr = self.srv.request(
                        "POST", path, raw=self.body_of_size(n, "big%d@x.io" % n))
                    self.assertEqual(status, 413, rawr[:300])
        self.assertEqual(self.srv.last_seq(), seq)
        self.assertTrue(self.srv.healthy())
        # Exactly at the limit is accepted.
        status, _, body, rawr = self.srv.request(
            "POST", "/identify", raw=self.body_of_size(1024, "limit@x.io"))
        self.assertEqual(status, 200, rawr)
        self.assertEqual(body["contact"]["emails"], ["limit@x.io"])
        self.assertEqual(self.srv.last_seq(), seq + 1)
        self.assertStoreChecks()

    def chunked(self, payload, piece=300):
        head = (b"POST /identify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n")
        body = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + piece]), payload[i:i + piece])
                        for i in range(0, len(payload), piece))
        return harness.raw_exchange(self.srv.port, head + body + b"0\r\n\r\n")

    def test_chunked_body_over_max_body(self):
        # The limit holds whatever the framing: no Content-Length to trust here.
        seq = self.srv.last_seq()
        status, resp = self.chunked(self.body_of_size(3000, "chunkbig@x.io"))
        self.assertEqual(status, 413, resp[:300])
        self.assertEqual(self.srv.last_seq(), seq)
        self.assertTrue(self.srv.healthy())
        status, resp = self.chunked(self.body_of_size(900, "chunksmall@x.io"))
        self.assertEqual(status, 200, resp[:300])
        self.assertIn(b'"chunksmall@x.io"', resp)


class AcceptedEdgeTests(harness.ServerTestCase):
    """The valid side of the boundaries above, so that the rejections mean something."""

    def test_valid_boundaries_are_accepted(self):
        for req, email, phone in (
                ({"email": EMAIL_254}, EMAIL_254, None),
                ({"email": "  Trim@X.io  "}, "trim@x.io", None),
                ({"phoneNumber": "1" * 20}, None, "1" * 20),
                ({"phoneNumber": 1234567890123456789}, None, "1234567890123456789"),
                ({"phoneNumber": "+" + "2" * 19}, None, "+" + "2" * 19),
                ({"phoneNumber": " +44 (20) 7946-0958 "}, None, "+442079460958"),
                ({"email": "a@localhost"}, "a@localhost", None)):
            with self.subTest(request=req):
                body = self.srv.identify(req)
                c = body["contact"]
                self.assertEqual((c["emails"], c["phoneNumbers"], c["secondaryContactIds"]),
                                 ([email] if email else [], [phone] if phone else [], []))

    def test_email_trimmed_before_length_check(self):
        body = self.srv.identify({"email": "   " + EMAIL_254.upper() + "\t "})
        self.assertEqual(body["contact"]["emails"], [EMAIL_254])

    def test_query_string_on_post_path(self):
        status, _, body, raw = self.srv.request("POST", "/identify?utm=1",
                                                body={"email": "query@x.io"})
        self.assertEqual(status, 200, raw)
        self.assertEqual(body["contact"]["emails"], ["query@x.io"])

    def test_content_types_accepted(self):
        for i, ct in enumerate(("application/json", "application/json; charset=utf-8",
                                "Application/JSON", None)):
            with self.subTest(content_type=ct):
                status, _, body, rawr = self.srv.request(
                    "POST", "/identify", raw=b'{"email": "ct%d@x.io"}' % i,
                    headers={"Content-Type": ct})
                self.assertEqual(status, 200, rawr)
                self.assertEqual(body["contact"]["emails"], ["ct%d@x.io" % i])


if __name__ == "__main__":
    unittest.main()
