"""SPEC section 10, identity quality rules: junk values (--blocklist and
GET /blocklist), the hub guard (--max-identity-contacts and GET /conflicts in
section 7's paged form) and erasure (POST /erasure), with what sections 5 and
6 say of them: snapshots and the Redis mirror hold no blocked key and no
erased value.

Each class shares what it can: servers are started per class where the tests
do not disturb each other, per test where a test needs a store of its own."""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resp  # noqa: E402
from harness import NOT_FOUND, identity  # noqa: E402

HAVE_REDIS = bool(resp.redis_server_path())
# Section 7's datetimes carry microseconds, section 3's milliseconds: a
# conflict's "at" may be either, as long as it is ISO 8601 UTC.
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?Z$")
INVALID_PAGE = {"detail": "Invalid page."}
ERASED_TEXT = "[erased]"


def contact_object(primary, emails, phones, secondaries):
    return identity(primary, emails, phones, secondaries)["contact"]


def tool(name):
    env = {"idlink-dump": "IDLINK_DUMP", "idlink-restore": "IDLINK_RESTORE",
           "idlink-check": "IDLINK_CHECK"}.get(name)
    return (env and os.environ.get(env)) or os.path.join(harness.BUILD, name)


def run_tool(name, *args):
    p = subprocess.run([tool(name), *args], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=120, env=harness.clean_env())
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def wait_mirror(testcase, srv, timeout=20.0):
    """Poll /healthz until the mirror is up and has applied the whole log."""
    deadline = time.monotonic() + timeout
    h = None
    while time.monotonic() < deadline:
        _, h = srv.get("/healthz")
        m = (h or {}).get("mirror", {})
        if m.get("state") == "up" and m.get("applied_seq") == h.get("last_seq") \
                and m.get("lag_entries") == 0:
            return h
        time.sleep(0.05)
    testcase.fail("the mirror did not catch up in %.0f s: %r" % (timeout, h))


def redis_dump(client):
    """Every key of the Redis database and its value as text (strings:
    GET; hashes: HGETALL; streams: XRANGE; lists, sets, sorted sets too)."""
    out = {}
    for key in client.keys("*"):
        kind = client.call("TYPE", key)
        if kind == "string":
            v = client.call("GET", key)
        elif kind == "hash":
            v = client.call("HGETALL", key)
        elif kind == "stream":
            v = client.call("XRANGE", key, "-", "+")
        elif kind == "list":
            v = client.call("LRANGE", key, "0", "-1")
        elif kind == "set":
            v = client.call("SMEMBERS", key)
        elif kind == "zset":
            v = client.call("ZRANGE", key, "0", "-1", "WITHSCORES")
        else:
            v = kind
        out[key] = json.dumps(v)
    return out


class QualityRulesCase(harness.ServerTestCase):
    """Helpers; subclasses set self.srv (per test or per class)."""

    def setUp(self):
        pass  # no server per test unless a subclass starts one

    def new_contact(self, email, phone, created=1, srv=None):
        """POST /identify expecting `created` new contacts; returns the (last)
        created id and the response's contact object."""
        srv = srv or self.srv
        body = {}
        if email is not None:
            body["email"] = email
        if phone is not None:
            body["phoneNumber"] = phone
        seq = srv.last_seq()
        got = srv.identify(body)
        ids = srv.created_since(seq)
        self.assertEqual(len(ids), created, "request %r created %r" % (body, ids))
        return (ids[-1] if ids else None), got["contact"]

    def unchanged(self, body, srv=None):
        """POST /identify that must change nothing; returns its contact object."""
        srv = srv or self.srv
        seq = srv.last_seq()
        got = srv.identify(body)
        self.assertEqual(srv.changes_since(seq), [], "request %r changed the store" % body)
        return got["contact"]

    def ident(self, cid, srv=None):
        status, body = (srv or self.srv).get("/identities/%d" % cid)
        self.assertEqual(status, 200, "GET /identities/%d -> %r" % (cid, body))
        return body["contact"]

    def row(self, cid, srv=None):
        status, body = (srv or self.srv).get("/contacts/%d" % cid)
        self.assertEqual(status, 200, "GET /contacts/%d -> %r" % (cid, body))
        return body

    def make(self, collection, body, status=201, srv=None):
        st, _, got, raw = (srv or self.srv).request("POST", "/api/v1/%s/" % collection, body)
        self.assertEqual(st, status, "POST /api/v1/%s/ %r -> %d %r"
                         % (collection, body, st, raw))
        return got


# ==================================================================== blocklist


class NoBlocklistTests(QualityRulesCase):
    """Nothing is blocked unless the operator asks (section 10)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server()
        cls.addClassCleanup(cls.srv.close)

    def test_no_rules(self):
        self.assertEqual(self.srv.get("/blocklist"), (200, {"rules": []}))

    def test_seeds_link_on_repeated_phones_and_placeholder_emails(self):
        a, body = self.new_contact("george@hillvalley.edu", "111111")
        b, body = self.new_contact("biff@hillvalley.edu", 111111)
        self.assertEqual(body, contact_object(a, ["george@hillvalley.edu",
                                                  "biff@hillvalley.edu"], ["111111"], [b]))
        t, _ = self.new_contact("test@test.com", "5550101")
        self.assertEqual(self.unchanged({"email": "test@test.com"}),
                         contact_object(t, ["test@test.com"], ["5550101"], []))
        z, _ = self.new_contact("zero@x.io", "0000000000")
        z2, body = self.new_contact("zero2@x.io", "000-000-0000")
        self.assertEqual(body, contact_object(z, ["zero@x.io", "zero2@x.io"],
                                              ["0000000000"], [z2]))
        self.assertStoreChecks()


class DefaultBlocklistTests(QualityRulesCase):
    """--blocklist default; with the Redis mirror on when redis-server is
    installed."""

    @classmethod
    def setUpClass(cls):
        args = ["--blocklist", "default"]
        cls.redis = None
        if HAVE_REDIS:
            cls.redis = resp.RedisServer()
            cls.addClassCleanup(cls.redis.close)
            args += ["--redis", cls.redis.url()]
        cls.srv = harness.Server(extra_args=args)
        cls.addClassCleanup(cls.srv.close)

    def test_rules_listed(self):
        status, headers, body, raw = self.srv.request("GET", "/blocklist")
        self.assertEqual(status, 200, raw)
        self.assertJsonResponse(headers, raw)
        self.assertEqual(list(body), ["rules"], body)
        rules = body["rules"]
        for r in rules:
            self.assertEqual(sorted(r), ["kind", "pattern", "source"], r)
            self.assertIn(r["kind"], ("email", "phone"), r)
            self.assertEqual(r["source"], "default", r)
            self.assertIsInstance(r["pattern"], str)
        pairs = {(r["kind"], r["pattern"]) for r in rules}
        for want in (("email", "test@test.com"), ("email", "noreply@*"),
                     ("phone", "0000000000"), ("phone", "1234567890")):
            self.assertIn(want, pairs, rules)

    def test_only_blocked_values_make_a_new_primary_each_time(self):
        cases = [({"email": "test@test.com"}, ["test@test.com"], []),
                 ({"email": "test@test.com"}, ["test@test.com"], []),
                 ({"email": "  TEST@Test.com "}, ["test@test.com"], []),
                 ({"email": "noreply@shop.example"}, ["noreply@shop.example"], []),
                 ({"email": "NoReply@shop.example"}, ["noreply@shop.example"], []),
                 ({"phoneNumber": "0000000000"}, [], ["0000000000"]),
                 ({"phoneNumber": "(000) 000-0000"}, [], ["0000000000"]),
                 ({"phoneNumber": 1111111}, [], ["1111111"]),
                 ({"phoneNumber": "111 1111"}, [], ["1111111"]),
                 ({"email": "test@test.com", "phoneNumber": "1234567890"},
                  ["test@test.com"], ["1234567890"]),
                 ({"email": "test@test.com", "phoneNumber": "1234567890"},
                  ["test@test.com"], ["1234567890"])]
        made = []
        for body, emails, phones in cases:
            with self.subTest(body=body):
                cid, got = self.new_contact(body.get("email"), body.get("phoneNumber"))
                self.assertEqual(got, contact_object(cid, emails, phones, []))
                made.append((cid, emails, phones))
        self.assertEqual(len({m[0] for m in made}), len(made))
        for cid, emails, phones in made:
            self.assertEqual(self.ident(cid), contact_object(cid, emails, phones, []))
            row = self.row(cid)
            self.assertEqual((row["linkPrecedence"], row["linkedId"]), ("primary", None))
        # The read-only lookup matches nothing on a blocked value either.
        for body in ({"email": "test@test.com"}, {"phoneNumber": "0000000000"}):
            st, got = self.srv.post("/api/identify/", body)
            self.assertEqual((st, got), (404, NOT_FOUND), body)
        self.assertStoreChecks()

    def test_shared_blocked_phone_links_nothing(self):
        for phone, forms in (("1111111", ["1111111", "111-1111"]),
                             ("0000000000", ["0000000000", "000.000.0000"]),
                             ("999999", [999999, "99 99 99"])):
            with self.subTest(phone=phone):
                ids = []
                for i, form in enumerate(forms):
                    email = "shared%d.%s@x.io" % (i, phone)
                    cid, got = self.new_contact(email, form)
                    self.assertEqual(got, contact_object(cid, [email], [phone], []))
                    ids.append(cid)
                for i, cid in enumerate(ids):
                    email = "shared%d.%s@x.io" % (i, phone)
                    self.assertEqual(self.ident(cid), contact_object(cid, [email], [phone], []))
                    # The blocked value is stored on its contact and shown.
                    row = self.row(cid)
                    self.assertEqual((row["email"], row["phoneNumber"], row["linkedId"],
                                      row["linkPrecedence"]), (email, phone, None, "primary"))
                    st, x = self.srv.get("/identities/%d/explain" % cid)
                    self.assertEqual((st, x["edges"]), (200, []))
        self.assertStoreChecks()

    def test_known_value_with_blocked_value_creates_nothing(self):
        k, _ = self.new_contact("known@x.io", "5550001")
        want = contact_object(k, ["known@x.io"], ["5550001"], [])
        self.assertEqual(self.unchanged({"email": "known@x.io", "phoneNumber": "0000000000"}),
                         want)
        self.assertEqual(self.unchanged({"email": "Known@x.io", "phoneNumber": 2222222}), want)
        self.assertEqual(self.unchanged({"email": "test@test.com", "phoneNumber": "5550001"}),
                         want)
        self.assertEqual(self.ident(k), want)
        # The blocked value alone still matches nothing.
        z, got = self.new_contact(None, "0000000000")
        self.assertEqual(got, contact_object(z, [], ["0000000000"], []))
        self.assertEqual(self.ident(k), want)
        self.assertStoreChecks()

    @unittest.skipUnless(HAVE_REDIS, "redis-server is not installed")
    def test_mirror_has_no_key_for_a_blocked_value(self):
        a, _ = self.new_contact("test@test.com", "0000000000")
        b, _ = self.new_contact("mirror.ok@x.io", "1111111")
        c, _ = self.new_contact("noreply@mirror.example", "5553131")
        wait_mirror(self, self.srv)
        r = self.redis.client()
        self.addCleanup(r.close)
        keys = r.keys("*")
        for key in ("idlink:email:test@test.com", "idlink:phone:0000000000",
                    "idlink:phone:1111111", "idlink:email:noreply@mirror.example"):
            self.assertNotIn(key, keys)
        self.assertEqual(r.call("GET", "idlink:email:mirror.ok@x.io"), str(b))
        self.assertEqual(r.call("GET", "idlink:phone:5553131"), str(c))
        self.assertEqual(json.loads(r.call("GET", "idlink:identity:%d" % a)),
                         contact_object(a, ["test@test.com"], ["0000000000"], []))
        rc, out, err = run_tool("idlink-check", "--data", self.srv.data_dir,
                                "--redis", self.redis.url(), "--show-values")
        self.assertEqual(rc, 0, "idlink-check --redis:\n" + out + err)
        self.assertStoreChecks()


BLOCK_FILE = """# junk seen at our checkout

email:*@mailinator.com
   # an indented comment

phone:+90 555 000 00 *
"""


class BlocklistFileTests(QualityRulesCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="idlink-e2e-block-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_file_rules(self):
        path = self.write("junk.txt", BLOCK_FILE)
        self.srv = self.start_server(extra_args=("--blocklist", path))
        st, body = self.srv.get("/blocklist")
        self.assertEqual(st, 200)
        rules = body["rules"]
        self.assertEqual(len(rules), 2, rules)
        self.assertEqual(rules[0], {"kind": "email", "pattern": "*@mailinator.com",
                                    "source": "file"})
        # The pattern as written or as phones are stored: either says the rule.
        self.assertEqual((rules[1]["kind"], rules[1]["source"]), ("phone", "file"))
        self.assertIn(rules[1]["pattern"], ("+90 555 000 00 *", "+9055500000*"), rules)
        # The email rule: the same address in two requests links nothing.
        a, got = self.new_contact("Zed@Mailinator.com", "5551")
        b, got = self.new_contact("zed@mailinator.com", "5552")
        self.assertEqual(got, contact_object(b, ["zed@mailinator.com"], ["5552"], []))
        # The phone rule, in two spellings of one number.
        c, _ = self.new_contact("p1@x.io", "+90 555 000 00 12")
        d, got = self.new_contact("p2@x.io", "+905550000012")
        self.assertEqual(got, contact_object(d, ["p2@x.io"], ["+905550000012"], []))
        self.assertEqual(self.row(c)["phoneNumber"], "+905550000012")
        # A phone outside the pattern links.
        e, _ = self.new_contact("p3@x.io", "+90 555 000 01 12")
        f, got = self.new_contact("p4@x.io", "+905550000112")
        self.assertEqual(got, contact_object(e, ["p3@x.io", "p4@x.io"], ["+905550000112"], [f]))
        # The shipped rules are not on.
        t, _ = self.new_contact("test@test.com", "5553")
        self.assertEqual(self.unchanged({"email": "test@test.com", "phoneNumber": "5553"}),
                         contact_object(t, ["test@test.com"], ["5553"], []))
        self.assertStoreChecks()

    def test_default_and_file_together(self):
        path = self.write("junk.txt", BLOCK_FILE)
        srv = self.start_server(extra_args=("--blocklist", "default", "--blocklist", path))
        st, body = srv.get("/blocklist")
        self.assertEqual(st, 200)
        sources = {}
        for r in body["rules"]:
            sources.setdefault(r["source"], []).append((r["kind"], r["pattern"]))
        self.assertEqual(sorted(sources), ["default", "file"], body)
        self.assertIn(("email", "test@test.com"), sources["default"])
        self.assertIn(("email", "*@mailinator.com"), sources["file"])
        self.assertEqual(len(sources["file"]), 2)
        self.new_contact("test@test.com", None, srv=srv)
        self.new_contact("test@test.com", None, srv=srv)
        self.new_contact("x@mailinator.com", None, srv=srv)
        self.new_contact("x@mailinator.com", None, srv=srv)
        self.assertStoreChecks(srv)

    def refused(self, path):
        """Start idlinkd with --blocklist path; it must exit non-zero at
        start. Returns its stderr."""
        data = os.path.join(self.tmp, "data-%d" % time.monotonic_ns())
        port = harness.free_port()
        p = subprocess.run([harness.idlinkd_path(), "--listen", "127.0.0.1:%d" % port,
                            "--data", data, "--blocklist", path],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=15,
                           env=harness.clean_env())
        err = p.stderr.decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, "idlinkd started with --blocklist %s: %s"
                            % (path, err))
        return err

    def test_bad_line_refused_at_start(self):
        path = self.write("bad.txt", "# fine so far\nemail:ok@x.io\n\nmail:x\nphone:1*\n")
        err = self.refused(path)
        self.assertIn(path, err)
        self.assertTrue(re.search(r"(:4\b|line 4\b)", err), "stderr names no line 4: %r" % err)
        path = self.write("badphone.txt", "phone:12ab*\n")
        err = self.refused(path)
        self.assertIn(path, err)
        self.assertTrue(re.search(r"(:1\b|line 1\b)", err), "stderr names no line 1: %r" % err)
        missing = os.path.join(self.tmp, "no-such-file.txt")
        self.assertIn(missing, self.refused(missing))


class TurnRuleOnTests(QualityRulesCase):

    def test_rule_turned_on_splits_and_off_joins(self):
        redis = None
        mirror = []
        if HAVE_REDIS:
            redis = resp.RedisServer()
            self.addCleanup(redis.close)
            mirror = ["--redis", redis.url()]
        self.srv = self.start_server(extra_args=mirror)
        a, _ = self.new_contact("one@x.io", "1111111")
        b, got = self.new_contact("two@x.io", "111-1111")
        self.assertEqual(got, contact_object(a, ["one@x.io", "two@x.io"], ["1111111"], [b]))
        seq = self.srv.last_seq()
        self.assertEqual(self.srv.stop(), 0)
        # The same store with the shipped rules: 1111111 links no more.
        self.srv.extra_args = mirror + ["--blocklist", "default"]
        self.srv.start()
        self.assertEqual(self.ident(a), contact_object(a, ["one@x.io"], ["1111111"], []))
        self.assertEqual(self.ident(b), contact_object(b, ["two@x.io"], ["1111111"], []))
        rb = self.row(b)
        self.assertEqual((rb["linkedId"], rb["linkPrecedence"], rb["deletedAt"]),
                         (None, "primary", None))
        splits = [{k: v for k, v in c.items() if k not in ("seq", "at")}
                  for c in self.srv.changes_since(seq) if c["kind"] == "identity.split"]
        self.assertEqual(splits, [{"kind": "identity.split", "primary": a, "parts": [a, b]}])
        self.assertStoreChecks()
        if redis is not None:
            # The mirror follows: the blocked phone loses its key, b its own
            # identity key.
            wait_mirror(self, self.srv)
            r = redis.client()
            self.addCleanup(r.close)
            self.assertIsNone(r.call("GET", "idlink:phone:1111111"))
            self.assertEqual(json.loads(r.call("GET", "idlink:identity:%d" % b)),
                             contact_object(b, ["two@x.io"], ["1111111"], []))
            self.assertEqual(r.call("GET", "idlink:email:two@x.io"), str(b))
            rc, out, err = run_tool("idlink-check", "--data", self.srv.data_dir,
                                    "--redis", redis.url(), "--show-values")
            self.assertEqual(rc, 0, "idlink-check --redis:\n" + out + err)
        # A new request with the value joins neither.
        c, got = self.new_contact("three@x.io", "1111111")
        self.assertEqual(got, contact_object(c, ["three@x.io"], ["1111111"], []))
        self.assertStoreChecks()
        # Without the rule again: the value links them all.
        self.srv.stop()
        self.srv.extra_args = mirror
        self.srv.start()
        self.assertEqual(self.srv.get("/blocklist"), (200, {"rules": []}))
        whole = contact_object(a, ["one@x.io", "two@x.io", "three@x.io"], ["1111111"], [b, c])
        for cid in (a, b, c):
            self.assertEqual(self.ident(cid), whole)
        self.assertStoreChecks()
        if redis is not None:
            wait_mirror(self, self.srv)
            self.assertEqual(r.call("GET", "idlink:phone:1111111"), str(a))
            self.assertIsNone(r.call("GET", "idlink:identity:%d" % b))
            rc, out, err = run_tool("idlink-check", "--data", self.srv.data_dir,
                                    "--redis", redis.url(), "--show-values")
            self.assertEqual(rc, 0, "idlink-check --redis:\n" + out + err)

    def test_customer_whose_email_a_rule_blocks_later(self):
        """A customer keeps the contact that held its email; once a rule blocks
        that email, the customer's identity is what a lookup of its values
        says (its phone's holder's, or none), not the kept contact's."""
        self.srv = self.start_server()

        def create(**fields):
            body = {"channel": 1, "email": "test@example.com"}
            body.update(fields)
            st, got = self.srv.post("/api/v1/customers/", body)
            self.assertEqual(st, 201, got)
            return got

        a = create(channel_code="a", phone_number="5550001")
        c = create(channel_code="c")  # the email alone: a's contact holds it
        self.assertEqual(c["identity"], a["identity"])
        self.assertEqual(self.srv.stop(), 0)
        self.srv.extra_args = ["--blocklist", "default"]
        self.srv.start()
        st, got = self.srv.get("/api/v1/customers/%d/" % c["pk"])
        self.assertEqual((st, got["identity"]), (200, None))
        st, got = self.srv.get("/api/v1/customers/%d/" % a["pk"])
        self.assertEqual((st, got["identity"]), (200, a["identity"]))
        st, page = self.srv.get("/api/v1/customers/?email=test%40example.com")
        self.assertEqual([(r["pk"], r["identity"]) for r in page["results"]],
                         [(a["pk"], a["identity"]), (c["pk"], None)])
        self.assertStoreChecks()


# ==================================================================== hub guard


class HubGuardTests(QualityRulesCase):
    LIMIT = 3
    REASON = "identity would exceed 3 contacts"

    def setUp(self):
        self.srv = self.start_server(extra_args=("--max-identity-contacts", str(self.LIMIT)))

    def conflicts(self, query="", srv=None):
        st, headers, body, raw = (srv or self.srv).request("GET", "/conflicts" + query)
        self.assertEqual(st, 200, "GET /conflicts%s -> %r" % (query, raw))
        self.assertJsonResponse(headers, raw)
        self.assertEqual(sorted(body), ["count", "next", "previous", "results"], body)
        return body

    def grow(self):
        """An identity of 3 (p: h1, s1: h2, s2: h3 on phone 100) and a lone g."""
        p, _ = self.new_contact("h1@x.io", "100")
        s1, _ = self.new_contact("h2@x.io", "100")
        s2, got = self.new_contact("h3@x.io", "100")
        full = contact_object(p, ["h1@x.io", "h2@x.io", "h3@x.io"], ["100"], [s1, s2])
        self.assertEqual(got, full)
        g, _ = self.new_contact("g1@x.io", "200")
        return p, g, full

    def test_refused_secondary_and_merge_are_conflicts(self):
        p, g, full = self.grow()
        lone = contact_object(g, ["g1@x.io"], ["200"], [])
        _, h = self.srv.get("/healthz")
        # A 4th contact: refused, answered with the identity as it is.
        self.assertEqual(self.unchanged({"email": "h4@x.io", "phoneNumber": "100"}), full)
        self.assertEqual(self.unchanged({"email": "h1@x.io", "phoneNumber": "101"}), full)
        st, body = self.srv.post("/api/create/", {"email": "h5@x.io", "phoneNumber": "100"})
        self.assertEqual((st, body), (200, {"detail": "Contact already exists",
                                            "Contact_id": p}))
        # A merge past the limit: refused, answered with the oldest identity.
        self.assertEqual(self.unchanged({"email": "h1@x.io", "phoneNumber": "200"}), full)
        self.assertEqual(self.unchanged({"email": "g1@x.io", "phoneNumber": "100"}), full)
        self.assertEqual(self.ident(p), full)
        self.assertEqual(self.ident(g), lone)
        self.assertEqual(self.srv.get("/healthz")[1]["next_id"], h["next_id"])
        # Merges and secondaries within the limit still happen.
        m, _ = self.new_contact("m1@x.io", "300")
        n, _ = self.new_contact("n1@x.io", "400")
        seq = self.srv.last_seq()
        got = self.srv.identify({"email": "m1@x.io", "phoneNumber": "400"})
        self.assertEqual(got["contact"], contact_object(m, ["m1@x.io", "n1@x.io"],
                                                        ["300", "400"], [n]))
        self.assertEqual([c["kind"] for c in self.srv.changes_since(seq)], ["identity.merged"])
        o, got = self.new_contact("m1@x.io", "500")
        self.assertEqual(len([o] + got["secondaryContactIds"]), 3)
        # g (1) and m's identity (3): a merge to 4, refused.
        self.assertEqual(self.unchanged({"email": "g1@x.io", "phoneNumber": "500"}), lone)
        self.assertEqual(self.ident(o)["primaryContactId"], m)
        body = self.conflicts()
        self.assertEqual((body["count"], body["next"], body["previous"]), (6, None, None), body)
        got = body["results"]
        self.assertEqual([c["id"] for c in got], list(range(1, 7)), got)
        for c in got:
            self.assertEqual(sorted(c), ["at", "id", "primaries", "reason"], c)
            self.assertEqual(c["reason"], self.REASON, c)
            self.assertRegex(c["at"], ISO_UTC)
        self.assertEqual([sorted(c["primaries"]) for c in got],
                         [[p], [p], [p], [p, g], [p, g], [g, m]])
        self.assertEqual([c["at"] for c in got], sorted(c["at"] for c in got))
        self.assertStoreChecks()

    def test_conflicts_list_pages_orders_and_refuses_unknown(self):
        p, g, full = self.grow()
        for i in range(5):
            self.unchanged({"email": "over%d@x.io" % i, "phoneNumber": "100"})
        self.unchanged({"email": "g1@x.io", "phoneNumber": "100"})
        every = self.conflicts("?limit=1000")["results"]
        self.assertEqual([c["id"] for c in every], [1, 2, 3, 4, 5, 6])
        self.assertEqual(self.conflicts("?ordering=-id")["results"], every[::-1])
        self.assertEqual(self.conflicts("?ordering=id")["results"], every)
        by_at = self.conflicts("?ordering=-at")["results"]
        self.assertEqual([c["at"] for c in by_at], sorted((c["at"] for c in every),
                                                          reverse=True))
        # Paging: page and limit, absolute next/previous URLs keeping the rest.
        first = self.conflicts("?limit=2&ordering=-id")
        self.assertEqual((first["count"], first["previous"]), (6, None))
        self.assertEqual(first["results"], every[::-1][:2])
        nxt = urllib.parse.urlsplit(first["next"])
        self.assertEqual((nxt.scheme, nxt.netloc), ("http", "127.0.0.1:%d" % self.srv.port))
        self.assertEqual(nxt.path, "/conflicts")
        q = urllib.parse.parse_qs(nxt.query)
        self.assertEqual((q["page"], q["limit"], q["ordering"]), (["2"], ["2"], ["-id"]))
        second = self.conflicts("?" + nxt.query)
        self.assertEqual(second["results"], every[::-1][2:4])
        self.assertIsNotNone(second["previous"])
        self.assertIsNotNone(second["next"])
        third = self.conflicts("?limit=2&ordering=-id&page=3")
        self.assertEqual((third["results"], third["next"]), (every[::-1][4:], None))
        self.assertEqual(self.conflicts("?limit=10&page=1")["results"], every)
        # A filter on a field it offers.
        self.assertEqual(self.conflicts("?id__gt=4")["results"], every[4:])
        for query, want in (("?page=4&limit=2", (404, INVALID_PAGE)),
                            ("?page=0", (404, INVALID_PAGE)),
                            ("?colour=red", (400, {"detail":
                                                   'Unknown query parameter "colour".'})),
                            ("?reason__contains=x", (400, {"detail": 'Unknown query '
                                                           'parameter "reason__contains".'})),
                            ("?ordering=colour", (400, {"detail":
                                                        'Unknown ordering field "colour".'}))):
            with self.subTest(query=query):
                self.assertEqual(self.srv.get("/conflicts" + query), want)
        st, headers, body, raw = self.srv.request("POST", "/conflicts", {})
        self.assertEqual(st, 405, raw)
        self.assertStoreChecks()

    def test_conflicts_survive_dump_and_restore(self):
        p, g, full = self.grow()
        self.unchanged({"email": "h4@x.io", "phoneNumber": "100"})
        self.unchanged({"email": "g1@x.io", "phoneNumber": "100"})
        before = self.conflicts("?limit=1000")
        self.assertEqual(before["count"], 2)
        tmp = tempfile.mkdtemp(prefix="idlink-e2e-hub-")
        self.addCleanup(shutil.rmtree, tmp, True)
        snap = os.path.join(tmp, "snap.bin")
        rc, out, err = run_tool("idlink-dump", "--data", self.srv.data_dir, "-o", snap,
                                "--quiet")
        self.assertEqual(rc, 0, err)
        rc, out, err = run_tool("idlink-check", "--snapshot", snap)
        self.assertEqual(rc, 0, out + err)
        target = os.path.join(tmp, "restored")
        rc, out, err = run_tool("idlink-restore", "--data", target, "-i", snap, "--quiet")
        self.assertEqual(rc, 0, err)
        restored = self.start_server(data_dir=target,
                                     extra_args=("--max-identity-contacts", str(self.LIMIT)))
        self.assertEqual(self.conflicts("?limit=1000", srv=restored), before)
        self.assertEqual(self.conflicts("?ordering=-id", srv=restored)["results"],
                         before["results"][::-1])
        self.assertEqual(self.ident(p, srv=restored), full)
        self.assertStoreChecks(restored)
        # The restored store keeps the guard's record going: a new conflict
        # takes the next id.
        self.unchanged({"email": "h9@x.io", "phoneNumber": "100"}, srv=restored)
        got = self.conflicts(srv=restored)["results"]
        self.assertEqual([c["id"] for c in got], [1, 2, 3])


# ===================================================================== erasure


class ErasureValidationTests(QualityRulesCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server()
        cls.addClassCleanup(cls.srv.close)

    def test_bad_requests_change_nothing(self):
        self.new_contact("keep@x.io", "5550100")
        seq = self.srv.last_seq()
        for body in ({}, {"email": None}, {"email": ""},
                     {"email": "keep@x.io", "phoneNumber": "5550100"},
                     {"email": "keep@x.io", "contactId": 1},
                     {"phoneNumber": "5550100", "contactId": 1},
                     {"email": "not-an-email"}, {"email": "a b@x.io"},
                     {"phoneNumber": "12ab"}, {"contactId": 0}, {"contactId": -1},
                     {"contactId": "abc"}, {"contactId": 1.5}, {"email": 5}, [],
                     "keep@x.io"):
            with self.subTest(body=body):
                st, _, got, raw = self.srv.request("POST", "/erasure", body)
                self.assertEqual(st, 400, raw)
                self.assertIsInstance(got, dict, raw)
        st, got = self.srv.post("/erasure", {"email": "not-an-email"})
        self.assertEqual((st, got), (400, {"email": ["Enter a valid email address."]}))
        st, got = self.srv.post("/erasure", {"contactId": 0})
        self.assertEqual(st, 400)
        self.assertFieldErrors(got, "contactId")
        # An empty value counts as absent, as in /identify.
        one = {"non_field_errors": ["Send exactly one of email, phoneNumber and contactId."]}
        for body in ({"email": ""}, {"email": "", "phoneNumber": ""}):
            self.assertEqual(self.srv.post("/erasure", body), (400, one), body)
        st, got = self.srv.post("/erasure", {"email": "", "phoneNumber": "12ab"})
        self.assertEqual((st, got), (400, {"phoneNumber": ["Enter a valid phone number."]}))
        st, _, got, raw = self.srv.request("POST", "/erasure", raw=b'{"email": ')
        self.assertEqual(st, 400, raw)
        self.assertTrue(got["detail"].startswith("JSON parse error - "), got)
        st, headers, got, raw = self.srv.request("GET", "/erasure")
        self.assertEqual((st, got), (405, {"detail": 'Method "GET" not allowed.'}), raw)
        self.assertEqual(self.srv.last_seq(), seq)
        self.assertEqual(self.ident(1), contact_object(1, ["keep@x.io"], ["5550100"], []))

    def test_nothing_holds_it(self):
        self.new_contact("held@x.io", "5550200")
        seq = self.srv.last_seq()
        for body in ({"email": "nobody@x.io"}, {"phoneNumber": "5550999"},
                     {"phoneNumber": 5550998}, {"contactId": 999999}):
            with self.subTest(body=body):
                self.assertEqual(self.srv.post("/erasure", body), (404, NOT_FOUND))
        self.assertEqual(self.srv.last_seq(), seq)


def erased_values():
    """The erased people of ErasureTests: every value, as sent and as stored."""
    return {
        # identity A (erased by email)
        "ann.erase@example.com", "Ann.Erase@Example.com", "ann.work@example.com",
        "ann.shop2@example.com", "5551000001", "+905551000001", "+90 (555) 100-0001",
        "+90 555 100 0001", "5551000002", "555-100-0002", "5551000003",
        "annabel", "forgetme", "ann.erase", "ann.work", "ann.shop2",
        # identity B (erased by phone)
        "bob.erase@example.net", "robert.erase@example.net", "05321112233",
        "5321112233", "0532 111 22 33", "(0532) 111-22-33", "bobbinsky", "bob.erase",
        "robert.erase",
        # identity C (erased by contact id)
        "cara.erase@example.org", "5553330001", "5553330002", "cara.erase",
    }


class ErasureTests(QualityRulesCase):
    """Three identities erased (by email, phone and contact id) beside an
    unrelated one; then every answer, Redis and a new snapshot are searched."""

    def setUp(self):
        self.redis = None
        args = []
        if HAVE_REDIS:
            self.redis = resp.RedisServer()
            self.addCleanup(self.redis.close)
            args = ["--redis", self.redis.url()]
        self.srv = self.start_server(extra_args=args)
        self.tmp = tempfile.mkdtemp(prefix="idlink-e2e-erase-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def get_ok(self, path):
        st, body = self.srv.get(path)
        self.assertEqual(st, 200, "GET %s -> %r" % (path, body))
        return body

    def erase(self, body, want):
        st, headers, got, raw = self.srv.request("POST", "/erasure", body)
        self.assertEqual(st, 200, "POST /erasure %r -> %r" % (body, raw))
        self.assertJsonResponse(headers, raw)
        self.assertEqual(sorted(got), ["erased"], got)
        self.assertEqual(sorted(got["erased"]), ["contacts", "customers", "feedback",
                                                 "tickets"], got)
        for k, v in want.items():
            if isinstance(v, tuple):
                self.assertIn(got["erased"][k], v, "POST /erasure %r -> %r" % (body, got))
            else:
                self.assertEqual(got["erased"][k], v, "POST /erasure %r -> %r" % (body, got))
        return got["erased"]

    # ---- the people -----------------------------------------------------------

    def build_ann(self):
        """Identity A: contacts through phone, email and a bridge, a deleted
        contact that held its email, customers on three channels (one made
        by an order, its channel_code the email), feedback, tickets, orders."""
        A = {}
        A["gone"], _ = self.new_contact("ann.erase@example.com", None)
        A["c1"], _ = self.new_contact("Ann.Erase@Example.com ", "+90 (555) 100-0001")
        st, _, body, raw = self.srv.request("DELETE", "/contacts/%d" % A["gone"])
        self.assertEqual(st, 200, raw)
        A["c2"], _ = self.new_contact("ann.erase@example.com", "555-100-0002")
        A["c3"], _ = self.new_contact("ann.work@example.com", "5551000003")
        seq = self.srv.last_seq()
        got = self.srv.identify({"email": "ann.work@example.com", "phoneNumber": "5551000002"})
        self.assertEqual([c["kind"] for c in self.srv.changes_since(seq)],
                         ["identity.merged"], "the bridge")
        self.assertEqual(got["contact"]["primaryContactId"], A["c1"])
        seq = self.srv.last_seq()
        A["cust1"] = self.make("customers", {
            "channel": 1, "channel_code": "A-1", "email": "ann.erase@example.com",
            "first_name": "Annabel", "last_name": "Forgetme",
            "phone_number": "+90 555 100 0001", "erp_code": "ERP-1",
            "attributes": {"address": "12 Forgetme Lane"},
            "extra_field": {"note": "Forgetme vip"}})["pk"]
        A["cust2"] = self.make("customers", {
            "channel": 2, "channel_code": "B-7", "email": "ann.shop2@example.com",
            "first_name": "Ann", "last_name": "Forgetme", "phone_number": "5551000003",
            "attributes": {"chat_allowed": True}})["pk"]
        made = self.srv.created_since(seq)
        self.assertEqual(len(made), 1, "cust2's new email: one secondary")
        A["c5"] = made[0]
        # An order creating a customer on channel 3 (channel_code: the email),
        # one updating customer 1.
        o3 = self.make("orders", {"channel": 3, "number": "MP-E-3", "amount": "10.00",
                                  "currency": "EUR",
                                  "customer": {"email": "Ann.Shop2@example.com",
                                               "first_name": "Annabel"}})
        A["cust3"] = o3["customer"]
        A["o3"] = o3["pk"]
        o1 = self.make("orders", {"channel": 1, "number": "MP-E-1", "amount": "149.90",
                                  "currency": "TRY", "created_date": "2023-01-17T09:01:27Z",
                                  "customer": {"email": "ann.erase@example.com",
                                               "channel_code": "A-1",
                                               "phone_number": "+90 555 100 0001",
                                               "first_name": "Annabel",
                                               "last_name": "Forgetme"}})
        self.assertEqual(o1["customer"], A["cust1"])
        A["o1"] = o1["pk"]
        A["orders_before"] = {pk: self.get_ok("/api/v1/orders/%d/" % pk)
                              for pk in (A["o1"], A["o3"])}
        A["prod"] = self.make("products", {"name": "Desk lamp", "price": "20.00",
                                           "purchased": "2024-01-02", "warranty": 12,
                                           "customer": A["cust2"]})["pk"]
        A["fb"] = [
            self.make("feedback", {"kind": "brand", "customer": A["cust1"],
                                   "heading": "Forgetme complaint",
                                   "body": "Call Annabel on +90 555 100 0001 or "
                                           "ann.erase@example.com"})["pk"],
            self.make("feedback", {"kind": "product", "customer": A["cust2"],
                                   "product": A["prod"], "heading": "Lamp",
                                   "body": "ann.shop2@example.com says it flickers"})["pk"]]
        t1 = self.make("tickets", {"customer": A["cust1"],
                                   "request": "Forgetme: refund to ann.erase@example.com"})
        t2 = self.make("tickets", {"customer": A["cust3"],
                                   "request": "Annabel wants a call on 5551000003"})
        st, _, body, raw = self.srv.request("POST", "/api/v1/tickets/%d/close/" % t2["pk"],
                                            {"resolved": True,
                                             "resolution": "Called 5551000003 (Forgetme)"})
        self.assertEqual(st, 200, raw)
        A["tickets"] = [t1["pk"], t2["pk"]]
        ident = self.ident(A["c1"])
        self.assertEqual(sorted([ident["primaryContactId"]] + ident["secondaryContactIds"]),
                         sorted([A["c1"], A["c2"], A["c3"], A["c5"]]), ident)
        self.assertEqual(ident["emails"], ["ann.erase@example.com", "ann.work@example.com",
                                           "ann.shop2@example.com"])
        view = self.get_ok("/api/v1/identities/%d/" % A["c1"])
        self.assertEqual([c["pk"] for c in view["customers"]],
                         [A["cust1"], A["cust2"], A["cust3"]])
        self.assertEqual(view["orders"]["count"], 2)
        return A

    def build_bob(self):
        B = {}
        B["b1"], _ = self.new_contact("bob.erase@example.net", "0532 111 22 33")
        B["b2"], _ = self.new_contact("robert.erase@example.net", "05321112233")
        B["cust"] = self.make("customers", {
            "channel": 1, "channel_code": "BOB-1", "email": "robert.erase@example.net",
            "first_name": "Bobbinsky", "last_name": "Forgetme"})["pk"]
        return B

    def build_cara(self):
        C = {}
        C["k1"], _ = self.new_contact("cara.erase@example.org", "5553330001")
        C["k2"], _ = self.new_contact("cara.erase@example.org", "5553330002")
        return C

    def build_uma(self):
        U = {}
        U["u1"], _ = self.new_contact("uma.keep@example.com", "5559990001")
        U["u2"], _ = self.new_contact("uma.keep2@example.com", "5559990001")
        U["cust"] = self.make("customers", {
            "channel": 1, "channel_code": "U-1", "email": "uma.keep@example.com",
            "first_name": "Uma", "last_name": "Keeper", "phone_number": "5559990001",
            "attributes": {"address": "1 Keep Street"}, "extra_field": {"k": "v"}})["pk"]
        self.make("feedback", {"kind": "brand", "customer": U["cust"], "heading": "Great",
                               "body": "Uma likes it"})
        self.make("tickets", {"customer": U["cust"], "request": "Uma asks for a catalogue"})
        self.make("orders", {"channel": 1, "number": "MP-U-1", "amount": "5.50",
                             "currency": "TRY", "customer": {"email": "uma.keep@example.com",
                                                             "channel_code": "U-1"}})
        return U

    def uma_view(self, U):
        """Every answer about the unrelated person."""
        paths = ["/contacts/%d" % U["u1"], "/contacts/%d" % U["u2"],
                 "/identities/%d" % U["u1"], "/api/v1/identities/%d/" % U["u2"],
                 "/api/v1/customers/%d/" % U["cust"],
                 "/api/v1/feedback/?customer=%d" % U["cust"],
                 "/api/v1/tickets/?customer=%d" % U["cust"],
                 "/api/v1/orders/?customer=%d" % U["cust"]]
        out = {p: self.get_ok(p) for p in paths}
        x = self.get_ok("/identities/%d/explain" % U["u1"])
        out["explain"] = {k: v for k, v in x.items() if k != "history"}
        return out

    # ---- the search -----------------------------------------------------------

    def answers(self):
        """(what, bytes) of every answer the API gives to a GET."""
        out = []

        def get(path):
            st, headers, body, raw = self.srv.request("GET", path)
            out.append(("GET %s -> %d" % (path, st), raw))
            return st, body, raw

        _, h, _ = get("/healthz")
        for cid in range(1, h["next_id"]):
            st, row, _ = get("/contacts/%d" % cid)
            self.assertEqual(st, 200)
            get("/identities/%d" % cid)
            get("/identities/%d/explain" % cid)
            get("/api/v1/identities/%d/" % cid)
        seq = 0
        while True:
            st, body, _ = get("/changes?after=%d&limit=1000" % seq)
            self.assertEqual(st, 200)
            if not body["results"]:
                break
            seq = body["results"][-1]["seq"]
        get("/conflicts?limit=1000")
        get("/blocklist")
        get("/metrics")
        for coll in ("customers", "orders", "products", "feedback", "tickets"):
            st, body, _ = get("/api/v1/%s/?limit=1000" % coll)
            self.assertEqual(st, 200)
            for rec in body["results"]:
                get("/api/v1/%s/%d/" % (coll, rec["pk"]))
            get("/api/v1/%s/export/?format=csv" % coll)
            st, _, raw = get("/api/v1/%s/export/?format=xlsx" % coll)
            if st == 200:
                with zipfile.ZipFile(io.BytesIO(raw)) as z:
                    for name in z.namelist():
                        out.append(("xlsx %s %s" % (coll, name), z.read(name)))
            if coll == "tickets":
                for rec in body["results"]:
                    get("/api/get/customer/request?id=%d" % rec["pk"])
            if coll == "customers":
                for rec in body["results"]:
                    get("/api/get/customer?id=%d" % rec["pk"])
                    get("/api/get/brand/feedback?customerid=%d" % rec["pk"])
                    get("/api/get/product/feedback?customerid=%d" % rec["pk"])
                    get("/api/get/product?customerid=%d" % rec["pk"])
        return out

    def assertNoErasedValue(self, items, where):
        needles = sorted(v.lower().encode() for v in erased_values())
        found = []
        for what, data in items:
            low = data.lower() if isinstance(data, bytes) else data.lower().encode()
            for n in needles:
                if n in low:
                    i = low.index(n)
                    found.append("%s holds %r: ...%r..." % (what, n.decode(),
                                                           data[max(0, i - 60):i + 60]))
        self.assertEqual(found, [], "erased values still in %s:\n%s"
                         % (where, "\n".join(found[:20])))

    # ---- the test ---------------------------------------------------------------

    def test_erasure_forgets_three_people_and_keeps_the_fourth(self):
        A = self.build_ann()
        B = self.build_bob()
        C = self.build_cara()
        U = self.build_uma()
        uma_before = self.uma_view(U)
        # The erased values are there before: the search is not blind.
        self.assertTrue([w for w, raw in self.answers() if b"ann.erase@example.com" in raw])

        # A by email, as a user might type it.
        self.erase({"email": " Ann.Erase@Example.COM"},
                   {"contacts": (4, 5), "customers": 3, "feedback": 2, "tickets": 2})
        # B by phone, in another spelling than either request's.
        self.erase({"phoneNumber": "(0532) 111-22-33"},
                   {"contacts": 2, "customers": 1, "feedback": 0, "tickets": 0})
        # C by the id of a secondary.
        self.erase({"contactId": C["k2"]},
                   {"contacts": 2, "customers": 0, "feedback": 0, "tickets": 0})

        # Again: nothing holds the values any more, and nothing changes.
        for body in ({"email": "ann.erase@example.com"}, {"email": "ann.work@example.com"},
                     {"phoneNumber": "+905551000001"}, {"phoneNumber": "05321112233"},
                     {"contactId": C["k2"]}, {"contactId": A["c1"]}):
            with self.subTest(again=body):
                seq = self.srv.last_seq()
                self.assertEqual(self.srv.post("/erasure", body), (404, NOT_FOUND))
                self.assertEqual(self.srv.changes_since(seq), [])

        # The contacts keep their ids as deleted rows without values.
        for cid in (A["gone"], A["c1"], A["c2"], A["c3"], A["c5"], B["b1"], B["b2"],
                    C["k1"], C["k2"]):
            row = self.row(cid)
            self.assertEqual((row["id"], row["email"], row["phoneNumber"]), (cid, None, None),
                             row)
            self.assertTimestamp(row["deletedAt"], "deletedAt of %d" % cid)
            for path in ("/identities/%d" % cid, "/identities/%d/explain" % cid):
                self.assertEqual(self.srv.get(path), (404, NOT_FOUND), path)
        # Customers anonymized.
        for key in ("cust1", "cust2", "cust3"):
            pk = A[key]
            c = self.get_ok("/api/v1/customers/%d/" % pk)
            self.assertEqual(
                {k: c[k] for k in ("pk", "email", "first_name", "last_name", "phone_number",
                                   "attributes", "extra_field", "is_active", "identity")},
                {"pk": pk, "email": "erased-%d@erased.invalid" % pk, "first_name": "",
                 "last_name": "", "phone_number": None, "attributes": {},
                 "extra_field": {}, "is_active": False, "identity": None}, c)
        self.assertEqual(self.get_ok("/api/v1/customers/%d/" % A["cust1"])["channel"], 1)
        self.assertEqual(self.get_ok("/api/v1/customers/%d/" % A["cust3"])["channel"], 3)
        c = self.get_ok("/api/v1/customers/%d/" % B["cust"])
        self.assertEqual((c["email"], c["first_name"], c["is_active"], c["identity"]),
                         ("erased-%d@erased.invalid" % B["cust"], "", False, None))
        # Anonymized customers are not reconciled.
        for key in ("cust1", "cust2", "cust3"):
            st, _ = self.srv.get("/api/v1/identities/?email=erased-%d@erased.invalid" % A[key])
            self.assertEqual(st, 404)
        # Feedback and tickets texts.
        for pk in A["fb"]:
            fb = self.get_ok("/api/v1/feedback/%d/" % pk)
            self.assertEqual((fb["heading"], fb["body"]), (ERASED_TEXT, ERASED_TEXT), fb)
        t1 = self.get_ok("/api/v1/tickets/%d/" % A["tickets"][0])
        self.assertEqual((t1["request"], t1["status"]), (ERASED_TEXT, "open"), t1)
        t2 = self.get_ok("/api/v1/tickets/%d/" % A["tickets"][1])
        self.assertEqual((t2["request"], t2["resolution"], t2["status"], t2["resolved"]),
                         (ERASED_TEXT, ERASED_TEXT, "closed", True), t2)
        # Orders keep amounts, currencies and dates.
        for pk, before in A["orders_before"].items():
            o = self.get_ok("/api/v1/orders/%d/" % pk)
            keep = ("pk", "channel", "number", "amount", "currency", "created_date",
                    "customer")
            self.assertEqual({k: o[k] for k in keep}, {k: before[k] for k in keep})
            self.assertIsNone(o["identity"], o)
        o1 = self.get_ok("/api/v1/orders/%d/" % A["o1"])
        self.assertEqual((o1["amount"], o1["currency"], o1["created_date"]),
                         ("149.90", "TRY", "2023-01-17T09:01:27.000000Z"))
        # The email the order was sent with went too: its replay matches no more.
        st, got = self.srv.post("/api/v1/orders/", {
            "channel": 1, "number": "MP-E-1", "amount": "149.90", "currency": "TRY",
            "customer": {"email": "ann.erase@example.com", "channel_code": "A-1"}})
        self.assertEqual((st, got), (409, {"detail": "Order MP-E-1 of channel 1 already exists "
                                                     "with other values."}))
        # Look-ups by the erased values find nothing.
        for q in ("email=ann.erase@example.com", "email=ann.shop2@example.com",
                  "phone_number=5551000001", "phone_number=05321112233"):
            st, body = self.srv.get("/api/v1/identities/?" + q)
            self.assertEqual((st, body), (404, NOT_FOUND), q)
        for q in ("email=ann.erase@example.com", "phone_number=%2B905551000001",
                  "email=robert.erase@example.net"):
            self.assertEqual(self.get_ok("/api/v1/customers/?" + q)["count"], 0, q)
        for body in ({"email": "ann.erase@example.com"}, {"phoneNumber": "5551000002"},
                     {"email": "bob.erase@example.net"}, {"phoneNumber": "5553330001"}):
            self.assertEqual(self.srv.post("/api/identify/", body), (404, NOT_FOUND), body)
        # The unrelated person is untouched.
        self.assertEqual(self.uma_view(U), uma_before)

        # No API answer holds an erased value.
        answers = self.answers()
        self.assertNoErasedValue(answers, "the API's answers")
        # Nor the Redis mirror, keys and values.
        if self.redis is not None:
            wait_mirror(self, self.srv)
            r = self.redis.client()
            self.addCleanup(r.close)
            keys = redis_dump(r)
            self.assertIn("idlink:identity:%d" % U["u1"], keys)
            self.assertNoErasedValue([("key %s" % k, k) for k in keys] +
                                     [("value of %s" % k, v) for k, v in keys.items()],
                                     "Redis")
            for key in ("idlink:identity:%d" % A["c1"], "idlink:identity:%d" % B["b1"],
                        "idlink:identity:%d" % C["k1"]):
                self.assertNotIn(key, keys)
            rc, out, err = run_tool("idlink-check", "--data", self.srv.data_dir,
                                    "--redis", self.redis.url())
            self.assertEqual(rc, 0, "idlink-check --redis:\n" + out + err)
        # Nor a new snapshot.
        snap = os.path.join(self.tmp, "after.bin")
        rc, out, err = run_tool("idlink-dump", "--data", self.srv.data_dir, "-o", snap,
                                "--quiet")
        self.assertEqual(rc, 0, err)
        with open(snap, "rb") as f:
            self.assertNoErasedValue([("the snapshot", f.read())], "the new snapshot")
        rc, out, err = run_tool("idlink-check", "--snapshot", snap)
        self.assertEqual(rc, 0, out + err)
        self.assertStoreChecks()


class RacesWithDeletionTests(QualityRulesCase):
    """Writes that race an erasure or a contact's deletion end as a serial
    order would: each is answered 200 with its identity as its own commit
    left it (or 201 with its record), never 404 because the deletion
    committed before the answer was read."""

    ROUNDS = 6
    WRITERS = 16

    def race(self, round_no, delete):
        import threading
        phone = "4460%03d" % round_no
        st, got = self.srv.post("/identify", {"email": "base%d@race.io" % round_no,
                                              "phoneNumber": phone})
        self.assertEqual(st, 200, got)
        primary = got["contact"]["primaryContactId"]
        answers = []
        lock = threading.Lock()
        go = threading.Event()

        def identify(i):
            go.wait()
            st, body = self.srv.post("/identify", {"email": "w%d-%d@race.io" % (round_no, i),
                                                   "phoneNumber": phone})
            with lock:
                answers.append(("identify", st, body))

        def customer(i):
            go.wait()
            st, body = self.srv.post("/api/v1/customers/", {
                "channel": 1, "email": "c%d-%d@race.io" % (round_no, i),
                "phone_number": phone, "channel_code": "race-%d-%d" % (round_no, i)})
            with lock:
                answers.append(("customer", st, body))

        threads = [threading.Thread(target=identify if i % 2 else customer, args=(i,))
                   for i in range(self.WRITERS)]
        for t in threads:
            t.start()
        go.set()
        if delete == "erasure":
            st, body = self.srv.post("/erasure", {"phoneNumber": phone})
        else:
            st, _, body, _ = self.srv.request("DELETE", "/contacts/%d" % primary)
        self.assertEqual(st, 200, body)
        for t in threads:
            t.join()
        for kind, st, body in answers:
            self.assertEqual(st, 200 if kind == "identify" else 201, (kind, body))

    def test_writes_beside_an_erasure(self):
        self.srv = self.start_server()
        for n in range(self.ROUNDS):
            self.race(n, "erasure")
        self.assertStoreChecks()

    def test_writes_beside_a_contact_deletion(self):
        self.srv = self.start_server()
        for n in range(self.ROUNDS):
            self.race(100 + n, "delete")
        self.assertStoreChecks()


if __name__ == "__main__":
    unittest.main()
