"""SPEC section 10, identity quality: DELETE /contacts/{id} with re-resolution
into connected components, GET /identities/{id}/explain, and the Redis mirror
following deletions and splits (section 6)."""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resp  # noqa: E402
from harness import identity  # noqa: E402

# ctest reports this exit status as "Skipped" (SKIP_RETURN_CODE), never as passed.
SKIPPED = 77


def contact_object(primary, emails, phones, secondaries):
    """Section 2's contact object (the value of the response's "contact")."""
    return identity(primary, emails, phones, secondaries)["contact"]


def mentions(entry, ids):
    """Whether a change-log entry names one of ids as its contact, primary,
    absorbed primary or part."""
    named = [entry.get("contact"), entry.get("primary")]
    named += entry.get("absorbed", []) + entry.get("parts", [])
    return any(n in ids for n in named)


class UnionFind:
    def __init__(self, items):
        self.parent = {i: i for i in items}

    def root(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a, b):
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


class QualityCase(harness.ServerTestCase):
    """Helpers shared by the deletion, explain and mirror tests."""

    def new_contact(self, email, phone, created=1):
        """POST /identify expecting `created` new contacts; returns the
        (last) created id and the response's contact object."""
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": email, "phoneNumber": phone})
        ids = self.srv.created_since(seq)
        self.assertEqual(len(ids), created, "request %r/%r created %r" % (email, phone, ids))
        return (ids[-1] if ids else None), body["contact"]

    def bridge(self, email, phone):
        """A request whose email and phone are in two identities: a merge and
        no new contact. Returns the contact object."""
        seq = self.srv.last_seq()
        body = self.srv.identify({"email": email, "phoneNumber": phone})
        changes = self.srv.changes_since(seq)
        self.assertEqual([c["kind"] for c in changes], ["identity.merged"],
                         "bridge %r/%r: %r" % (email, phone, changes))
        return body["contact"]

    def delete(self, cid, expect_status=200):
        status, headers, body, raw = self.srv.request("DELETE", "/contacts/%s" % cid)
        self.assertEqual(status, expect_status, "DELETE /contacts/%s -> %r" % (cid, raw))
        self.assertJsonResponse(headers, raw)
        return body

    def delete_logged(self, cid, identities, changes):
        """DELETE /contacts/cid; asserts the answer's identities and exactly
        the change-log entries (kind, primary, contact or parts) it appended."""
        seq = self.srv.last_seq()
        body = self.delete(cid)
        self.assertEqual(body, {"deleted": cid, "identities": identities})
        got = self.srv.changes_since(seq)
        self.assertEqual([self.shape(c) for c in got], changes, "change log: %r" % got)
        for c in got:
            self.assertTimestamp(c["at"], "change %r" % c)
        return got

    @staticmethod
    def shape(c):
        """A change-log entry without its seq and time."""
        return {k: v for k, v in c.items() if k not in ("seq", "at")}

    def contact(self, cid):
        status, body = self.srv.get("/contacts/%d" % cid)
        self.assertEqual(status, 200, "GET /contacts/%d -> %r" % (cid, body))
        return body

    def assertRow(self, cid, linked, precedence):
        """An active contact's row: its link, precedence, no deletedAt."""
        row = self.contact(cid)
        self.assertEqual((row["id"], row["linkedId"], row["linkPrecedence"], row["deletedAt"]),
                         (cid, linked, precedence, None), "row %r" % row)
        return row

    def assertDeletedRow(self, cid):
        """A deleted contact's row: still there, with deletedAt set (what
        its link says is not the contract's business any more)."""
        row = self.contact(cid)
        self.assertEqual(row["id"], cid)
        self.assertTimestamp(row["deletedAt"], "deletedAt of %d: %r" % (cid, row))
        self.assertGreaterEqual(row["deletedAt"], row["createdAt"])
        return row

    def assertIdentity(self, cid, expected):
        status, body = self.srv.get("/identities/%d" % cid)
        self.assertEqual((status, body), (200, {"contact": expected}),
                         "GET /identities/%d" % cid)

    def assertGone(self, cid):
        """A deleted contact belongs to no identity."""
        for path in ("/identities/%d" % cid, "/identities/%d/explain" % cid):
            status, body = self.srv.get(path)
            self.assertEqual((status, body), (404, harness.NOT_FOUND), path)

    # ---- explain ------------------------------------------------------------

    def explain(self, cid):
        status, headers, body, raw = self.srv.request("GET", "/identities/%d/explain" % cid)
        self.assertEqual(status, 200, "explain %d -> %r" % (cid, raw))
        self.assertJsonResponse(headers, raw)
        return body

    def assertExplained(self, cid, bridges=()):
        """GET /identities/cid/explain agrees with GET /identities and the
        contacts' rows, its edges are a spanning tree of real links, and its
        history is the identity's part of the change log. bridges: the
        (email, phone) pairs sent as bridges so far. Returns the body."""
        x = self.explain(cid)
        self.assertEqual(sorted(x), ["contacts", "edges", "history", "primaryContactId"], x)
        status, ident = self.srv.get("/identities/%d" % cid)
        self.assertEqual(status, 200)
        ident = ident["contact"]
        primary = ident["primaryContactId"]
        self.assertEqual(x["primaryContactId"], primary)
        ids = sorted([primary] + ident["secondaryContactIds"])
        self.assertEqual(sorted(c["id"] for c in x["contacts"]), ids, "explain %r" % x)
        rows = {}
        for c in x["contacts"]:
            self.assertEqual(sorted(c), ["createdAt", "email", "id", "linkPrecedence",
                                         "phoneNumber"], c)
            row = self.contact(c["id"])
            rows[c["id"]] = row
            self.assertEqual(c, {k: row[k] for k in c}, "explain's contact vs its row")
            self.assertTimestamp(c["createdAt"])
        self.assertEqual(rows[primary]["linkPrecedence"], "primary")
        # The edges: a spanning tree of the identity's links.
        edges = x["edges"]
        self.assertEqual(len(edges), len(ids) - 1, "a spanning tree has n-1 edges: %r" % edges)
        uf = UnionFind(ids)
        for e in edges:
            self.assertEqual(sorted(e), ["from", "to", "value", "via"], e)
            a, b = e["from"], e["to"]
            self.assertIn(a, rows, e)
            self.assertIn(b, rows, e)
            self.assertNotEqual(a, b, e)
            ra, rb = rows[a], rows[b]
            if e["via"] == "email":
                self.assertEqual((ra["email"], rb["email"]), (e["value"], e["value"]), e)
            elif e["via"] == "phoneNumber":
                self.assertEqual((ra["phoneNumber"], rb["phoneNumber"]),
                                 (e["value"], e["value"]), e)
            else:
                self.assertEqual(e["via"], "bridge", e)
                v = e["value"]
                self.assertIsInstance(v, dict, e)
                self.assertEqual(sorted(v), ["at", "email", "phoneNumber"], e)
                self.assertTimestamp(v["at"], "bridge time %r" % e)
                self.assertIn((v["email"], v["phoneNumber"]), set(bridges),
                              "a bridge nobody sent: %r" % e)
                ends = {(ra["email"], rb["phoneNumber"]), (rb["email"], ra["phoneNumber"])}
                self.assertIn((v["email"], v["phoneNumber"]), ends,
                              "the bridge does not join its two ends: %r" % e)
            self.assertTrue(uf.join(a, b), "edge %r closes a cycle: not a tree" % e)
        self.assertEqual(len({uf.root(i) for i in ids}), 1, "edges leave the identity apart")
        # The history: the log's entries about this identity, oldest first.
        log = self.srv.changes_since(0)
        by_seq = {c["seq"]: c for c in log}
        hist = x["history"]
        seqs = [h["seq"] for h in hist]
        self.assertEqual(seqs, sorted(set(seqs)), "history oldest first, no repeats")
        for h in hist:
            self.assertEqual(h, by_seq.get(h["seq"]), "history entry vs GET /changes")
            self.assertTrue(mentions(h, set(ids)), "history entry %r names no contact of "
                            "identity %r" % (h, ids))
        member = set(ids)
        for c in log:
            required = (
                (c["kind"] == "contact.created" and c["contact"] in member) or
                (c["kind"] == "identity.merged" and set(c["absorbed"]) & member) or
                (c["kind"] == "identity.split" and set(c["parts"]) & member))
            if required:
                self.assertIn(c["seq"], seqs, "history misses %r" % c)
        return x


# --------------------------------------------------------------------- deletion


class DeleteTests(QualityCase):

    def test_chain_loses_its_middle_and_splits_in_two(self):
        a, _ = self.new_contact("a@x.io", "1")           # 1
        b, _ = self.new_contact("b@x.io", "1")           # secondary: phone 1
        c, body = self.new_contact("b@x.io", "2")        # secondary: email b
        self.assertEqual(body, contact_object(a, ["a@x.io", "b@x.io"], ["1", "2"], [b, c]))
        self.assertExplained(c)
        self.delete_logged(b, [contact_object(a, ["a@x.io"], ["1"], []),
                               contact_object(c, ["b@x.io"], ["2"], [])],
                           [{"kind": "contact.deleted", "contact": b, "primary": a},
                            {"kind": "identity.split", "primary": a, "parts": [a, c]}])
        self.assertRow(a, None, "primary")
        row = self.assertRow(c, None, "primary")
        self.assertGreaterEqual(row["updatedAt"], row["createdAt"])
        self.assertDeletedRow(b)
        self.assertIdentity(a, contact_object(a, ["a@x.io"], ["1"], []))
        self.assertIdentity(c, contact_object(c, ["b@x.io"], ["2"], []))
        self.assertGone(b)
        for part in (a, c):
            x = self.assertExplained(part)
            self.assertEqual(x["edges"], [])
        # The split is in the history of both parts.
        split = [h for h in self.explain(c)["history"] if h["kind"] == "identity.split"]
        self.assertEqual([(h["primary"], h["parts"]) for h in split], [(a, [a, c])])
        self.assertStoreChecks()

    def test_star_of_bridges_loses_its_centre(self):
        centre, _ = self.new_contact("centre@x.io", "100")
        l1, _ = self.new_contact("l1@x.io", "201")
        l2, _ = self.new_contact("l2@x.io", "202")
        l3, _ = self.new_contact("l3@x.io", "203")
        l4, _ = self.new_contact("l4@x.io", "204")
        # Leaves 1-3 bridged by their email to the centre's phone, leaf 4 by
        # the centre's email to its phone: merges, no contact created.
        bridges = [("l1@x.io", "100"), ("l2@x.io", "100"), ("l3@x.io", "100"),
                   ("centre@x.io", "204")]
        for email, phone in bridges:
            self.bridge(email, phone)
        whole = contact_object(centre, ["centre@x.io", "l1@x.io", "l2@x.io", "l3@x.io",
                                        "l4@x.io"],
                               ["100", "201", "202", "203", "204"], [l1, l2, l3, l4])
        self.assertIdentity(l3, whole)
        x = self.assertExplained(l2, bridges)
        self.assertEqual(sorted(e["via"] for e in x["edges"]), ["bridge"] * 4)
        merges = [h for h in x["history"] if h["kind"] == "identity.merged"]
        self.assertEqual([(h["primary"], h["absorbed"]) for h in merges],
                         [(centre, [l1]), (centre, [l2]), (centre, [l3]), (centre, [l4])])
        self.delete_logged(centre,
                           [contact_object(l, ["l%d@x.io" % i], [str(200 + i)], [])
                            for i, l in enumerate((l1, l2, l3, l4), 1)],
                           [{"kind": "contact.deleted", "contact": centre, "primary": centre},
                            {"kind": "identity.split", "primary": centre,
                             "parts": [l1, l2, l3, l4]}])
        for leaf in (l1, l2, l3, l4):
            self.assertRow(leaf, None, "primary")
            self.assertEqual(self.assertExplained(leaf, bridges)["edges"], [])
        self.assertGone(centre)
        self.assertStoreChecks()

    def test_bridge_keeps_identity_whole_when_a_middle_contact_goes(self):
        # 1 (a, 1) and 2 (b, 2) joined by a contact holding (a, 2): deleting it
        # splits them. Joined by a bridge as well, they stay one.
        a, _ = self.new_contact("a@x.io", "1")
        b, _ = self.new_contact("b@x.io", "2")
        m, _ = self.new_contact("a@x.io", "3")            # secondary of a
        self.bridge("b@x.io", "3")                          # b joins a: bridge (b, 3)
        bridges = [("b@x.io", "3")]
        self.assertExplained(a, bridges)
        # m holds phone 3: the bridge (b, 3) links b with m, m links a by email.
        self.delete_logged(m, [contact_object(a, ["a@x.io"], ["1"], []),
                               contact_object(b, ["b@x.io"], ["2"], [])],
                           [{"kind": "contact.deleted", "contact": m, "primary": a},
                            {"kind": "identity.split", "primary": a, "parts": [a, b]}])
        # Now the same shape with a bridge straight between the two ends.
        c, _ = self.new_contact("c@x.io", "5")
        d, _ = self.new_contact("d@x.io", "6")
        self.bridge("c@x.io", "6")                          # bridge (c, 6): c - d
        bridges.append(("c@x.io", "6"))
        n, _ = self.new_contact("c@x.io", "7")            # secondary of c
        x = self.assertExplained(d, bridges)
        self.assertEqual(x["primaryContactId"], c)
        whole = contact_object(c, ["c@x.io", "d@x.io"], ["5", "6"], [d])
        self.delete_logged(n, [whole],
                           [{"kind": "contact.deleted", "contact": n, "primary": c}])
        self.assertIdentity(d, whole)
        self.assertRow(d, c, "secondary")
        x = self.assertExplained(c, bridges)
        self.assertEqual([(e["via"], e["value"]["email"], e["value"]["phoneNumber"])
                          for e in x["edges"]], [("bridge", "c@x.io", "6")])
        self.assertStoreChecks()

    def test_delete_primary_identity_stays_whole(self):
        p, _ = self.new_contact("p@x.io", "1")
        q, _ = self.new_contact("q@x.io", "1")
        r, _ = self.new_contact("r@x.io", "1")
        s, _ = self.new_contact("r@x.io", "2")
        before = self.contact(q)
        time.sleep(0.01)
        self.delete_logged(p, [contact_object(q, ["q@x.io", "r@x.io"], ["1", "2"], [r, s])],
                           [{"kind": "contact.deleted", "contact": p, "primary": p},
                            {"kind": "identity.split", "primary": p, "parts": [q]}])
        row = self.assertRow(q, None, "primary")
        self.assertGreater(row["updatedAt"], before["updatedAt"], "updatedAt set to now")
        self.assertEqual(row["createdAt"], before["createdAt"])
        self.assertRow(r, q, "secondary")
        self.assertRow(s, q, "secondary")
        self.assertDeletedRow(p)
        for cid in (q, r, s):
            self.assertIdentity(cid, contact_object(q, ["q@x.io", "r@x.io"], ["1", "2"],
                                                    [r, s]))
        self.assertGone(p)
        x = self.assertExplained(s)
        self.assertIn({"kind": "identity.split", "primary": p, "parts": [q]},
                      [self.shape(h) for h in x["history"]])
        # The deleted primary's email matches nothing any more; its phone
        # is still held by q and r.
        self.assertEqual(self.srv.identify({"phoneNumber": "1"}),
                         identity(q, ["q@x.io", "r@x.io"], ["1", "2"], [r, s]))
        t, body = self.new_contact("p@x.io", None)
        self.assertEqual(body, contact_object(t, ["p@x.io"], [], []))
        self.assertStoreChecks()

    def test_delete_secondary_nothing_splits(self):
        p, _ = self.new_contact("p@x.io", "1")
        q, _ = self.new_contact("q@x.io", "1")
        r, _ = self.new_contact("q@x.io", "2")
        self.delete_logged(r, [contact_object(p, ["p@x.io", "q@x.io"], ["1"], [q])],
                           [{"kind": "contact.deleted", "contact": r, "primary": p}])
        self.assertRow(q, p, "secondary")
        self.assertIdentity(q, contact_object(p, ["p@x.io", "q@x.io"], ["1"], [q]))
        # Phone 2 left with r: a request with it alone is a new primary.
        t, body = self.new_contact(None, "2")
        self.assertEqual(body, contact_object(t, [], ["2"], []))
        self.assertStoreChecks()

    def test_unrelated_delete_leaves_bridge_joined_identity_whole(self):
        a, _ = self.new_contact("a@x.io", "1")
        b, _ = self.new_contact("b@x.io", "2")
        self.bridge("a@x.io", "2")
        joined = contact_object(a, ["a@x.io", "b@x.io"], ["1", "2"], [b])
        d, _ = self.new_contact("d@x.io", "9")
        e, _ = self.new_contact("e@x.io", "9")
        self.delete_logged(e, [contact_object(d, ["d@x.io"], ["9"], [])],
                           [{"kind": "contact.deleted", "contact": e, "primary": d}])
        self.assertIdentity(b, joined)
        self.assertRow(b, a, "secondary")
        self.delete_logged(d, [], self.lone_delete_changes(d))
        self.assertIdentity(a, joined)
        x = self.assertExplained(b, [("a@x.io", "2")])
        self.assertEqual([(e["via"], e["value"]["email"], e["value"]["phoneNumber"])
                          for e in x["edges"]], [("bridge", "a@x.io", "2")])
        self.assertStoreChecks()

    def lone_delete_changes(self, cid):
        """What deleting the only contact of an identity logs. SPEC section
        10 asks for identity.split "whenever the identity splits or its
        primary changes"; an identity that vanishes has its primary gone, and
        its parts are none. Read that way: deleted, then split into []."""
        return [{"kind": "contact.deleted", "contact": cid, "primary": cid},
                {"kind": "identity.split", "primary": cid, "parts": []}]

    def test_delete_lone_contact(self):
        a, _ = self.new_contact("solo@x.io", "77")
        self.delete_logged(a, [], self.lone_delete_changes(a))
        self.assertDeletedRow(a)
        self.assertGone(a)
        b, body = self.new_contact("solo@x.io", "77")
        self.assertGreater(b, a)
        self.assertEqual(body, contact_object(b, ["solo@x.io"], ["77"], []))
        self.assertStoreChecks()

    def test_old_bridge_still_links_its_value(self):
        # Once nobody holds a@x.io, the bridge (a@x.io, 2) still links it to
        # the holders of 2, as a contact holding both would (section 10): a
        # request with a@x.io alone joins b's identity as a new secondary.
        a, _ = self.new_contact("a@x.io", "1")
        b, _ = self.new_contact("b@x.io", "2")
        self.bridge("a@x.io", "2")
        self.delete_logged(a, [contact_object(b, ["b@x.io"], ["2"], [])],
                           [{"kind": "contact.deleted", "contact": a, "primary": a},
                            {"kind": "identity.split", "primary": a, "parts": [b]}])
        c, body = self.new_contact("a@x.io", None)
        self.assertEqual(body, contact_object(b, ["b@x.io", "a@x.io"], ["2"], [c]))
        self.assertIdentity(c, contact_object(b, ["b@x.io", "a@x.io"], ["2"], [c]))
        self.assertStoreChecks()

    def test_delete_twice_changes_nothing(self):
        a, _ = self.new_contact("a@x.io", "1")
        b, _ = self.new_contact("b@x.io", "1")
        self.delete(b)
        row = self.contact(b)
        seq = self.srv.last_seq()
        for _ in range(2):
            self.assertEqual(self.delete(b), {"deleted": b, "identities": []})
        self.assertEqual(self.srv.last_seq(), seq)
        self.assertEqual(self.srv.changes_since(seq), [])
        self.assertEqual(self.contact(b), row, "the second delete touched the row")
        self.assertIdentity(a, contact_object(a, ["a@x.io"], ["1"], []))
        self.assertStoreChecks()

    def test_unknown_and_malformed_ids(self):
        a, _ = self.new_contact("a@x.io", "1")
        seq = self.srv.last_seq()
        for path in ("/contacts/%d" % (a + 1), "/contacts/999999", "/contacts/0",
                     "/contacts/abc", "/contacts/-1", "/contacts/1x"):
            with self.subTest(path=path):
                status, headers, body, raw = self.srv.request("DELETE", path)
                self.assertEqual((status, body), (404, harness.NOT_FOUND), raw)
        for path in ("/identities/%d/explain" % (a + 1), "/identities/0/explain",
                     "/identities/abc/explain"):
            with self.subTest(path=path):
                status, body = self.srv.get(path)
                self.assertEqual((status, body), (404, harness.NOT_FOUND))
        self.assertEqual(self.srv.last_seq(), seq)
        self.assertIdentity(a, contact_object(a, ["a@x.io"], ["1"], []))
        # A method the path does not take: 405 naming the ones it does.
        status, headers, body, raw = self.srv.request("PUT", "/contacts/%d" % a, {})
        self.assertEqual((status, body), (405, {"detail": 'Method "PUT" not allowed.'}), raw)
        allow = {m.strip() for m in headers.get("allow", "").split(",")}
        self.assertTrue({"GET", "DELETE"} <= allow, "Allow: %r" % headers.get("allow"))
        self.assertStoreChecks()

    def test_deleted_values_no_longer_match(self):
        a, _ = self.new_contact("a@x.io", "1")
        b, _ = self.new_contact("b@x.io", "1")
        self.delete(b)
        self.assertDeletedRow(b)
        # b@x.io is held by no active contact: a new primary.
        c, body = self.new_contact("b@x.io", None)
        self.assertEqual(body, contact_object(c, ["b@x.io"], [], []))
        self.assertIdentity(a, contact_object(a, ["a@x.io"], ["1"], []))
        # With the phone of a's identity: a merge (and a bridge), nothing new.
        body = self.bridge("b@x.io", "1")
        self.assertEqual(body, contact_object(a, ["a@x.io", "b@x.io"], ["1"], [c]))
        # The read-only lookup does not see the deleted row; the bridge
        # (b@x.io, 1) still leads b@x.io to a's identity.
        self.delete(c)
        status, body = self.srv.post("/api/identify/", {"email": "b@x.io"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["contact"]["primaryContactId"], a)
        status, body = self.srv.post("/api/identify/", {"email": "nobody@x.io"})
        self.assertEqual((status, body), (404, harness.NOT_FOUND))
        self.assertStoreChecks()

    def test_deleted_contact_keeps_its_values_on_its_row(self):
        a, _ = self.new_contact("keep@x.io", "4242")
        before = self.contact(a)
        self.delete(a)
        row = self.contact(a)
        self.assertEqual((row["email"], row["phoneNumber"], row["createdAt"]),
                         (before["email"], before["phoneNumber"], before["createdAt"]))
        self.assertTimestamp(row["deletedAt"])
        self.assertStoreChecks()


# ---------------------------------------------------------------------- explain


class ExplainTests(QualityCase):

    def test_single_contact(self):
        a, _ = self.new_contact("one@x.io", None)
        x = self.assertExplained(a)
        self.assertEqual(x["edges"], [])
        self.assertEqual(x["contacts"], [{"id": a, "email": "one@x.io", "phoneNumber": None,
                                          "linkPrecedence": "primary",
                                          "createdAt": self.contact(a)["createdAt"]}])
        self.assertEqual([self.shape(h) for h in x["history"]],
                         [{"kind": "contact.created", "contact": a, "primary": a}])
        self.assertStoreChecks()

    def test_mixed_links_spanning_tree(self):
        bridges = []
        p, _ = self.new_contact("p@x.io", "10")
        s1, _ = self.new_contact("p@x.io", "11")          # email link
        s2, _ = self.new_contact("s2@x.io", "11")         # phone link
        o, _ = self.new_contact("o@x.io", "20")
        o2, _ = self.new_contact("o@x.io", "21")
        self.bridge("s2@x.io", "21")                       # bridge: s2 - o2
        bridges.append(("s2@x.io", "21"))
        lone, _ = self.new_contact(None, "30")
        self.bridge("p@x.io", "30")                        # bridge: p/s1 - lone
        bridges.append(("p@x.io", "30"))
        ids = [p, s1, s2, o, o2, lone]
        for cid in ids:
            with self.subTest(via=cid):
                x = self.assertExplained(cid, bridges)
                self.assertEqual(x["primaryContactId"], p)
        x = self.explain(p)
        vias = sorted(e["via"] for e in x["edges"])
        self.assertEqual(vias.count("bridge"), 2, x["edges"])
        # Both explained through any of its contacts are the same answer.
        self.assertEqual(self.explain(lone), x)
        # A bridge's time is the time of the request that joined them.
        merges = {h["seq"]: h for h in x["history"] if h["kind"] == "identity.merged"}
        self.assertEqual(len(merges), 2)
        for e in x["edges"]:
            if e["via"] == "bridge":
                self.assertIn(e["value"]["at"], [h["at"] for h in merges.values()], e)
        self.assertStoreChecks()

    def test_bigger_identity_tree(self):
        # 30 contacts in 6 groups sharing a phone, the groups joined by 5
        # bridges, plus contacts sharing an email: any spanning tree holds
        # exactly 5 bridge edges.
        for i in range(30):
            self.new_contact("m%d@x.io" % i, str(500 + i % 6))
        bridges = [("m%d@x.io" % i, str(501 + i)) for i in range(5)]
        for email, phone in bridges:
            self.bridge(email, phone)
        for i in range(6, 12):
            self.new_contact("m%d@x.io" % i, str(600 + i))
        st, ident = self.srv.get("/identities/1")
        n = 1 + len(ident["contact"]["secondaryContactIds"])
        self.assertEqual(n, 36)
        x = self.assertExplained(17, bridges)
        self.assertEqual(len(x["edges"]), n - 1)
        self.assertEqual(sum(e["via"] == "bridge" for e in x["edges"]), 5)
        self.assertEqual(sum(e["via"] == "email" for e in x["edges"]), 6)
        self.assertStoreChecks()

    def test_explain_after_split_and_of_deleted(self):
        a, _ = self.new_contact("a@x.io", "1")
        b, _ = self.new_contact("b@x.io", "1")
        c, _ = self.new_contact("b@x.io", "2")
        self.delete(b)
        for part in (a, c):
            x = self.assertExplained(part)
            self.assertEqual(x["edges"], [])
            self.assertEqual(len(x["contacts"]), 1)
            self.assertEqual(x["contacts"][0]["linkPrecedence"], "primary")
        status, body = self.srv.get("/identities/%d/explain" % b)
        self.assertEqual((status, body), (404, harness.NOT_FOUND))
        self.assertStoreChecks()


# ----------------------------------------------------------------------- mirror


def run_check(data_dir, url, *extra):
    p = subprocess.run([harness.check_path(), "--data", data_dir, "--redis", url, *extra],
                       capture_output=True, timeout=60, env=harness.clean_env())
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def stream(client, key="idlink:events"):
    return [(e[0], dict(zip(e[1][::2], e[1][1::2])))
            for e in client.call("XRANGE", key, "-", "+")]


@unittest.skipUnless(resp.redis_server_path(), "redis-server is not installed")
class MirrorTests(QualityCase):

    def setUp(self):
        self.redis = resp.RedisServer()
        self.addCleanup(self.redis.close)
        self.srv = self.start_server(extra_args=("--redis", self.redis.url()))
        self.r = self.redis.client()
        self.addCleanup(self.r.close)

    def wait_converged(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        h = None
        while time.monotonic() < deadline:
            _, _, h, _ = self.srv.request("GET", "/healthz")
            m = h["mirror"]
            if m["state"] == "up" and m["applied_seq"] == h["last_seq"] \
                    and m["lag_entries"] == 0:
                return h
            time.sleep(0.05)
        self.fail("the mirror did not catch up in %.0f s: %r" % (timeout, h))

    def assertMirrorClean(self):
        rc, out, err = run_check(self.srv.data_dir, self.redis.url(), "--show-values")
        self.assertEqual(rc, 0, "idlink-check --redis:\n" + out + err)

    def expected_keys(self):
        """What the mirror should hold, from the API: for every active
        contact, its values' keys point at its primary, and every primary has
        its identity key."""
        _, h = self.srv.get("/healthz")
        keys = {}
        for cid in range(1, h["next_id"]):
            st, row = self.srv.get("/contacts/%d" % cid)
            if st != 200 or row["deletedAt"] is not None:
                continue
            st, ident = self.srv.get("/identities/%d" % cid)
            self.assertEqual(st, 200)
            p = str(ident["contact"]["primaryContactId"])
            if row["email"] is not None:
                keys["idlink:email:" + row["email"]] = p
            if row["phoneNumber"] is not None:
                keys["idlink:phone:" + row["phoneNumber"]] = p
            keys["idlink:identity:" + p] = ident["contact"]
        return keys

    def mirror_keys(self):
        out = {}
        for pattern in ("idlink:email:*", "idlink:phone:*", "idlink:identity:*"):
            for key in self.r.keys(pattern):
                v = self.r.call("GET", key)
                out[key] = json.loads(v) if key.startswith("idlink:identity:") else v
        return out

    def assertMirrored(self):
        self.wait_converged()
        self.assertEqual(self.mirror_keys(), self.expected_keys())

    def test_split_reaches_redis(self):
        a, _ = self.new_contact("a@x.io", "1")
        b, _ = self.new_contact("b@x.io", "1")
        c, _ = self.new_contact("b@x.io", "2")
        d, _ = self.new_contact("c@x.io", "2")
        self.assertMirrored()
        self.assertEqual(self.r.keys("idlink:identity:*"), ["idlink:identity:%d" % a])
        # b goes: a alone; c and d (phone 2) under c. b@x.io stays with c.
        self.delete_logged(b, [contact_object(a, ["a@x.io"], ["1"], []),
                               contact_object(c, ["b@x.io", "c@x.io"], ["2"], [d])],
                           [{"kind": "contact.deleted", "contact": b, "primary": a},
                            {"kind": "identity.split", "primary": a, "parts": [a, c]}])
        self.wait_converged()
        get = lambda k: self.r.call("GET", k)
        self.assertEqual(json.loads(get("idlink:identity:%d" % a)),
                         contact_object(a, ["a@x.io"], ["1"], []))
        self.assertEqual(json.loads(get("idlink:identity:%d" % c)),
                         contact_object(c, ["b@x.io", "c@x.io"], ["2"], [d]))
        self.assertEqual(get("idlink:email:b@x.io"), str(c))
        self.assertEqual(get("idlink:email:c@x.io"), str(c))
        self.assertEqual(get("idlink:phone:2"), str(c))
        self.assertEqual(get("idlink:phone:1"), str(a))
        self.assertEqual(get("idlink:email:a@x.io"), str(a))
        self.assertMirrored()
        self.assertMirrorClean()
        # c, now a primary, goes: d takes over; c's identity key goes, and
        # b@x.io, held by nobody now, loses its key.
        self.delete_logged(c, [contact_object(d, ["c@x.io"], ["2"], [])],
                           [{"kind": "contact.deleted", "contact": c, "primary": c},
                            {"kind": "identity.split", "primary": c, "parts": [d]}])
        self.wait_converged()
        self.assertIsNone(get("idlink:identity:%d" % c))
        self.assertIsNone(get("idlink:email:b@x.io"))
        self.assertEqual(get("idlink:phone:2"), str(d))
        self.assertEqual(json.loads(get("idlink:identity:%d" % d)),
                         contact_object(d, ["c@x.io"], ["2"], []))
        self.assertMirrored()
        # The lone a goes: its keys go.
        self.delete(a)
        self.wait_converged()
        for key in ("idlink:identity:%d" % a, "idlink:email:a@x.io", "idlink:phone:1"):
            self.assertIsNone(get(key), key)
        self.assertMirrored()
        self.assertMirrorClean()
        # The events: one per change, deletions and splits included.
        h = self.wait_converged()
        events = stream(self.r)
        changes = self.srv.changes_since(0)
        self.assertEqual([e[0] for e in events], ["0-%d" % c["seq"] for c in changes])
        for (eid, f), ch in zip(events, changes):
            self.assertEqual((f["seq"], f["kind"], f["primary"]),
                             (str(ch["seq"]), ch["kind"], str(ch["primary"])), f)
        kinds = [f["kind"] for _, f in events]
        self.assertEqual(kinds.count("contact.deleted"), 3, kinds)
        self.assertGreaterEqual(kinds.count("identity.split"), 2, kinds)
        splits = [f for _, f in events if f["kind"] == "identity.split"]
        # The parts are listed (section 6's list field of the entry).
        listed = [f.get("parts", f.get("absorbed")) for f in splits]
        self.assertEqual(listed[:2], ["%d,%d" % (a, c), str(d)], splits)
        self.assertEqual(self.r.call("GET", "idlink:mirror:seq"), str(h["last_seq"]))
        self.assertStoreChecks()

    def test_secondary_delete_updates_identity_key(self):
        # No split: the identity keeps its primary but loses a contact, so
        # its idlink:identity: JSON must lose the contact's values and id.
        p, _ = self.new_contact("x@x.io", "7")
        s, _ = self.new_contact("y@x.io", "7")
        t, _ = self.new_contact("y@x.io", "8")   # secondary: phone 8 is new
        self.wait_converged()
        self.delete_logged(t, [contact_object(p, ["x@x.io", "y@x.io"], ["7"], [s])],
                           [{"kind": "contact.deleted", "contact": t, "primary": p}])
        self.wait_converged()
        self.assertEqual(self.r.call("GET", "idlink:email:y@x.io"), str(p))
        self.assertIsNone(self.r.call("GET", "idlink:phone:8"))
        self.assertEqual(json.loads(self.r.call("GET", "idlink:identity:%d" % p)),
                         contact_object(p, ["x@x.io", "y@x.io"], ["7"], [s]))
        self.assertMirrored()
        self.assertMirrorClean()

    def test_shared_value_stays_pointing_at_its_holder(self):
        p, _ = self.new_contact("x@x.io", "7")
        s, _ = self.new_contact("y@x.io", "7")
        self.wait_converged()
        self.delete_logged(s, [contact_object(p, ["x@x.io"], ["7"], [])],
                           [{"kind": "contact.deleted", "contact": s, "primary": p}])
        self.wait_converged()
        self.assertEqual(self.r.call("GET", "idlink:phone:7"), str(p))
        self.assertIsNone(self.r.call("GET", "idlink:email:y@x.io"))
        self.assertEqual(json.loads(self.r.call("GET", "idlink:identity:%d" % p)),
                         contact_object(p, ["x@x.io"], ["7"], []))
        self.assertMirrored()
        self.assertMirrorClean()

    def test_catch_up_over_a_merge_whose_winner_was_deleted_since(self):
        # The mirror applies the log from the store's current state; here it
        # is behind (the changes are made by an idlinkd without --redis) and
        # meets a merge whose winner is deleted by the time it applies it.
        a, _ = self.new_contact("a@x.io", "1")
        a2, _ = self.new_contact("a@x.io", "5")
        b, _ = self.new_contact("b@x.io", "6")
        self.assertMirrored()
        self.assertEqual(self.srv.stop(), 0)
        alone = harness.Server(data_dir=self.srv.data_dir)
        self.addCleanup(alone.close)
        body = alone.identify({"email": "b@x.io", "phoneNumber": "5"})   # b joins a
        self.assertEqual(body["contact"]["primaryContactId"], a)
        st, _, gone, raw = alone.request("DELETE", "/contacts/%d" % a)
        self.assertEqual(gone, {"deleted": a, "identities": [
            contact_object(a2, ["a@x.io", "b@x.io"], ["5", "6"], [b])]}, raw)
        self.assertEqual(alone.stop(), 0)
        self.srv.start()
        h = self.wait_converged()
        self.assertEqual(h["mirror"]["full_syncs"], 0, "caught up, not rebuilt")
        # b is a secondary of a2 now: its identity key must be gone.
        self.assertIsNone(self.r.call("GET", "idlink:identity:%d" % b))
        self.assertMirrored()
        self.assertMirrorClean()

    def test_bridged_identity_split_and_full_sync(self):
        centre, _ = self.new_contact("c@x.io", "100")
        leaves = [self.new_contact("l%d@x.io" % i, str(200 + i))[0] for i in range(3)]
        for i in range(3):
            self.bridge("l%d@x.io" % i, "100")
        self.assertMirrored()
        self.delete(centre)
        self.assertMirrored()
        self.assertEqual(self.r.keys("idlink:identity:*"),
                         sorted("idlink:identity:%d" % l for l in leaves))
        self.assertMirrorClean()
        # A rebuilt mirror says the same.
        self.r.call("FLUSHALL")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, _, h, _ = self.srv.request("GET", "/healthz")
            if h["mirror"]["full_syncs"] >= 2:
                break
            time.sleep(0.05)
        self.assertMirrored()
        self.assertMirrorClean()


if __name__ == "__main__":
    unittest.main()
