"""SPEC section 3: the HTTP API besides POST /identify's rules."""

import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import identity, NOT_FOUND  # noqa: E402

CONTACT_KEYS = {"id", "email", "phoneNumber", "linkedId", "linkPrecedence",
                "createdAt", "updatedAt", "deletedAt"}


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


class CreateTests(harness.ServerTestCase):

    def create(self, body):
        status, headers, parsed, raw = self.srv.request("POST", "/api/create/", body)
        self.assertJsonResponse(headers, raw)
        return status, parsed

    def test_create_new_then_exists(self):
        seq = self.srv.last_seq()
        status, body = self.create({"email": "new@x.io", "phoneNumber": "12345"})
        self.assertEqual(status, 201, body)
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1)
        cid = created[0]
        self.assertEqual(body, {"detail": "Successfully Created !!", "Contact_id": cid})
        seq = self.srv.last_seq()
        for req in ({"email": "new@x.io", "phoneNumber": "12345"}, {"email": "new@x.io"},
                    {"phoneNumber": 12345}, {"email": " NEW@x.io ", "phoneNumber": "123-45"}):
            with self.subTest(request=req):
                status, body = self.create(req)
                self.assertEqual((status, body),
                                 (200, {"detail": "Contact already exists", "Contact_id": cid}))
        self.assertEqual(self.srv.last_seq(), seq)

    def test_create_secondary_reports_its_own_id(self):
        status, body = self.create({"email": "p@x.io", "phoneNumber": "1"})
        self.assertEqual(status, 201, body)
        p = body["Contact_id"]
        seq = self.srv.last_seq()
        status, body = self.create({"email": "s@x.io", "phoneNumber": "1"})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1)
        s = created[0]
        self.assertNotEqual(s, p)
        self.assertEqual((status, body),
                         (201, {"detail": "Successfully Created !!", "Contact_id": s}))
        row = self.srv.get("/contacts/%d" % s)[1]
        self.assertEqual((row["linkedId"], row["linkPrecedence"]), (p, "secondary"))
        # Known now: the answer names the primary, not the secondary.
        status, body = self.create({"email": "s@x.io"})
        self.assertEqual((status, body),
                         (200, {"detail": "Contact already exists", "Contact_id": p}))

    def test_create_that_merges_reports_the_winner(self):
        a = self.create({"email": "a@x.io", "phoneNumber": "1"})[1]["Contact_id"]
        b = self.create({"email": "b@x.io", "phoneNumber": "2"})[1]["Contact_id"]
        seq = self.srv.last_seq()
        status, body = self.create({"email": "b@x.io", "phoneNumber": "1"})
        self.assertEqual((status, body),
                         (200, {"detail": "Contact already exists", "Contact_id": a}))
        self.assertEqual([c["kind"] for c in self.srv.changes_since(seq)], ["identity.merged"])
        self.assertEqual(self.srv.get("/identities/%d" % b),
                         (200, identity(a, ["a@x.io", "b@x.io"], ["1", "2"], [b])))


class ApiIdentifyTests(harness.ServerTestCase):

    def lookup(self, body):
        status, headers, parsed, raw = self.srv.request("POST", "/api/identify/", body)
        self.assertJsonResponse(headers, raw)
        return status, parsed

    def test_lookup_found_and_read_only(self):
        p = self.srv.identify({"email": "doc@x.io", "phoneNumber": "88"})["contact"][
            "primaryContactId"]
        self.srv.identify({"email": "doc2@x.io", "phoneNumber": "88"})
        ident = self.srv.get("/identities/%d" % p)[1]
        self.assertEqual(ident["contact"]["primaryContactId"], p)
        expected = {"customerID": str(p), "contact": ident["contact"]}
        seq = self.srv.last_seq()
        for req in ({"email": "doc@x.io"}, {"email": "DOC2@x.io "}, {"phoneNumber": 88},
                    {"email": "doc@x.io", "phoneNumber": "88"},
                    # a new phone would create a secondary through /identify, not here
                    {"email": "doc@x.io", "phoneNumber": "99999"},
                    {"email": "brandnew@x.io", "phoneNumber": "8-8"}):
            with self.subTest(request=req):
                self.assertEqual(self.lookup(req), (200, expected))
        self.assertEqual(self.srv.last_seq(), seq, "POST /api/identify/ changed the store")
        self.assertEqual(self.lookup({"phoneNumber": "99999"}), (404, NOT_FOUND))

    def test_lookup_not_found(self):
        seq = self.srv.last_seq()
        for req in ({"email": "nobody@x.io"}, {"phoneNumber": "404404"},
                    {"email": "nobody@x.io", "phoneNumber": "404404"}):
            with self.subTest(request=req):
                self.assertEqual(self.lookup(req), (404, NOT_FOUND))
        self.assertEqual(self.srv.last_seq(), seq)

    def test_lookup_two_identities_oldest_no_merge(self):
        old = self.srv.identify({"email": "old@x.io", "phoneNumber": "1"})["contact"][
            "primaryContactId"]
        new = self.srv.identify({"email": "new@x.io", "phoneNumber": "2"})["contact"][
            "primaryContactId"]
        seq = self.srv.last_seq()
        # email matches the newer identity, phone the older
        status, body = self.lookup({"email": "new@x.io", "phoneNumber": "1"})
        self.assertEqual((status, body),
                         (200, {"customerID": str(old),
                                "contact": identity(old, ["old@x.io"], ["1"], [])["contact"]}))
        self.assertEqual(self.srv.last_seq(), seq)
        self.assertEqual(self.srv.get("/identities/%d" % new),
                         (200, identity(new, ["new@x.io"], ["2"], [])))


class ContactTests(harness.ServerTestCase):

    def test_contact_row(self):
        before = datetime.datetime.now(datetime.timezone.utc)
        p = self.srv.identify({"email": "row@x.io", "phoneNumber": "(01) 23"})["contact"][
            "primaryContactId"]
        self.srv.identify({"email": "row2@x.io", "phoneNumber": "0123"})
        s = self.srv.identify({"email": "row2@x.io"})["contact"]["secondaryContactIds"][0]
        after = datetime.datetime.now(datetime.timezone.utc)

        status, headers, row, raw = self.srv.request("GET", "/contacts/%d" % p)
        self.assertEqual(status, 200, raw)
        self.assertJsonResponse(headers, raw)
        self.assertEqual(set(row), CONTACT_KEYS)
        self.assertTimestamp(row["createdAt"], "createdAt")
        self.assertTimestamp(row["updatedAt"], "updatedAt")
        self.assertEqual({k: row[k] for k in CONTACT_KEYS - {"createdAt", "updatedAt"}},
                         {"id": p, "email": "row@x.io", "phoneNumber": "0123", "linkedId": None,
                          "linkPrecedence": "primary", "deletedAt": None})
        created = parse_ts(row["createdAt"])
        slack = datetime.timedelta(seconds=2)
        self.assertTrue(before - slack <= created <= after + slack,
                        "createdAt %s not between %s and %s (UTC)" % (created, before, after))
        self.assertGreaterEqual(row["updatedAt"], row["createdAt"])

        status, row = self.srv.get("/contacts/%d" % s)
        self.assertEqual(status, 200, row)
        self.assertEqual(set(row), CONTACT_KEYS)
        self.assertEqual({k: row[k] for k in CONTACT_KEYS - {"createdAt", "updatedAt"}},
                         {"id": s, "email": "row2@x.io", "phoneNumber": "0123", "linkedId": p,
                          "linkPrecedence": "secondary", "deletedAt": None})
        self.assertTimestamp(row["createdAt"])
        self.assertGreater(s, p)

    def test_contact_nulls(self):
        e = self.srv.identify({"email": "onlyemail@x.io"})["contact"]["primaryContactId"]
        ph = self.srv.identify({"phoneNumber": 4242})["contact"]["primaryContactId"]
        status, row = self.srv.get("/contacts/%d" % e)
        self.assertEqual(status, 200)
        self.assertEqual((row["email"], row["phoneNumber"], row["linkedId"], row["deletedAt"]),
                         ("onlyemail@x.io", None, None, None))
        status, row = self.srv.get("/contacts/%d" % ph)
        self.assertEqual(status, 200)
        self.assertEqual((row["email"], row["phoneNumber"], row["linkedId"], row["deletedAt"]),
                         (None, "4242", None, None))

    def test_contact_not_found(self):
        p = self.srv.identify({"email": "one@x.io"})["contact"]["primaryContactId"]
        for path in ("/contacts/%d" % (p + 1), "/contacts/999999", "/contacts/0",
                     "/contacts/abc", "/contacts/1x", "/contacts/-1",
                     "/contacts/99999999999999999999999"):
            with self.subTest(path=path):
                status, headers, body, raw = self.srv.request("GET", path)
                self.assertEqual((status, body), (404, NOT_FOUND), raw)

    def test_identities(self):
        p = self.srv.identify({"email": "i@x.io", "phoneNumber": "7"})["contact"][
            "primaryContactId"]
        body = self.srv.identify({"email": "j@x.io", "phoneNumber": "7"})
        s = body["contact"]["secondaryContactIds"][0]
        for cid in (p, s):
            with self.subTest(contact=cid):
                status, headers, got, raw = self.srv.request("GET", "/identities/%d" % cid)
                self.assertEqual((status, got), (200, body))
                self.assertJsonResponse(headers, raw)
        for path in ("/identities/%d" % (s + 100), "/identities/0", "/identities/abc"):
            with self.subTest(path=path):
                status, _, got, raw = self.srv.request("GET", path)
                self.assertEqual((status, got), (404, NOT_FOUND), raw)


class ChangesTests(harness.ServerTestCase):

    def changes(self, query=""):
        status, headers, body, raw = self.srv.request("GET", "/changes" + query)
        self.assertEqual(status, 200, "GET /changes%s -> %r" % (query, raw))
        self.assertJsonResponse(headers, raw)
        self.assertEqual(set(body), {"results", "last_seq"}, raw)
        return body

    def test_empty_store(self):
        body = self.changes()
        self.assertEqual(body["results"], [])
        self.assertIsInstance(body["last_seq"], int)
        self.assertGreaterEqual(body["last_seq"], 0)

    def test_log_entries_and_paging(self):
        start = self.srv.last_seq()
        a = self.srv.identify({"email": "a@x.io", "phoneNumber": "1"})["contact"][
            "primaryContactId"]
        b = self.srv.identify({"email": "b@x.io", "phoneNumber": "2"})["contact"][
            "primaryContactId"]
        a2 = self.srv.identify({"email": "a2@x.io", "phoneNumber": "1"})["contact"][
            "secondaryContactIds"][0]
        self.srv.identify({"email": "a@x.io", "phoneNumber": "2"})  # merge b into a
        self.srv.identify({"email": "a@x.io", "phoneNumber": "2"})  # no change

        body = self.changes("?after=%d" % start)
        res = body["results"]
        self.assertEqual(len(res), 4, res)
        seqs = [r["seq"] for r in res]
        self.assertEqual(seqs, sorted(set(seqs)), "seq strictly increasing")
        self.assertTrue(all(isinstance(s, int) and s > start for s in seqs), seqs)
        self.assertEqual(body["last_seq"], seqs[-1])
        for r in res:
            self.assertTimestamp(r["at"], "at of %r" % r)
        self.assertEqual([{k: v for k, v in r.items() if k not in ("seq", "at")} for r in res],
                         [{"kind": "contact.created", "contact": a, "primary": a},
                          {"kind": "contact.created", "contact": b, "primary": b},
                          {"kind": "contact.created", "contact": a2, "primary": a},
                          {"kind": "identity.merged", "primary": a, "absorbed": [b]}])

        # Paging: after and limit.
        self.assertEqual(self.changes("?after=%d&limit=2" % seqs[0]),
                         {"results": res[1:3], "last_seq": seqs[-1]})
        self.assertEqual(self.changes("?after=%d&limit=1" % start),
                         {"results": res[:1], "last_seq": seqs[-1]})
        self.assertEqual(self.changes("?limit=2&after=%d" % seqs[2]),
                         {"results": res[3:], "last_seq": seqs[-1]})
        self.assertEqual(self.changes("?after=%d" % seqs[-1]),
                         {"results": [], "last_seq": seqs[-1]})
        self.assertEqual(self.changes("?after=%d" % (seqs[-1] + 1000)),
                         {"results": [], "last_seq": seqs[-1]})
        # limit is clamped to 1..1000, so a huge limit returns everything.
        self.assertEqual(self.changes("?after=%d&limit=100000" % start)["results"], res)
        # numbers past 64 bits are numbers still: past every seq, over every limit
        self.assertEqual(self.changes("?after=%d&limit=99999999999999999999" % start)
                         ["results"], res)
        for after in ("18446744073709551615", "99999999999999999999999"):
            self.assertEqual(self.changes("?after=" + after),
                             {"results": [], "last_seq": seqs[-1]})
        if start == 0:
            self.assertEqual(self.changes()["results"], res)

    def test_bad_query_values(self):
        self.srv.identify({"email": "q@x.io"})
        seq = self.srv.last_seq()
        for query, field in (("?limit=abc", "limit"), ("?after=xyz", "after"),
                             ("?limit=1.5", "limit"), ("?after=1e3", "after")):
            with self.subTest(query=query):
                status, _, body, raw = self.srv.request("GET", "/changes" + query)
                self.assertEqual(status, 400, raw)
                self.assertFieldErrors(body, field, raw)
        self.assertEqual(self.srv.last_seq(), seq)


class ChangesDefaultLimitTests(harness.ServerTestCase):
    server_args = ("--sync", "none")

    def test_default_limit_is_100(self):
        start = self.srv.last_seq()
        for i in range(105):
            self.srv.identify({"email": "bulk%d@x.io" % i})
        status, body = self.srv.get("/changes?after=%d" % start)
        self.assertEqual(status, 200)
        res = body["results"]
        self.assertEqual(len(res), 100)
        self.assertEqual(body["last_seq"] - start, 105)
        self.assertEqual([r["kind"] for r in res], ["contact.created"] * 100)
        status, body2 = self.srv.get("/changes?after=%d" % res[-1]["seq"])
        self.assertEqual(len(body2["results"]), 5)
        self.assertEqual(body2["results"][-1]["seq"], body["last_seq"])
        ids = [r["contact"] for r in res + body2["results"]]
        self.assertEqual(ids, sorted(set(ids)), "contacts created in increasing id order")


class HealthTests(harness.ServerTestCase):

    def test_healthz(self):
        status, headers, body, raw = self.srv.request("GET", "/healthz")
        self.assertEqual(status, 200, raw)
        self.assertJsonResponse(headers, raw)
        self.assertIsInstance(body, dict, raw)
        self.assertEqual(body.get("status"), "ok", raw)


if __name__ == "__main__":
    unittest.main()
