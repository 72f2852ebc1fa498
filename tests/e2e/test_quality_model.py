"""A randomized test of SPEC sections 2 and 10 against a small model.

About 3000 requests mix POST /identify (emails and phones from small pools,
so that merges and bridges are frequent; some requests carry only one value)
and DELETE /contacts/{id}. The model keeps the contacts and the bridges and
re-resolves an identity that loses a contact into the connected components
of its links (shared email, shared phone, bridge). Every answer is compared,
then every contact row, every identity and its explanation, the change log,
and idlink-check.

The run is reproducible: IDLINK_MODEL_SEED picks the seed (default below),
IDLINK_MODEL_STEPS the number of requests; a failure names both."""

import os
import json
import random
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import resp  # noqa: E402

DEFAULT_SEED = 20240611
DEFAULT_STEPS = 3000

# The pools drift: every EPOCH requests a new set of values comes into use
# beside the previous one, so that the bridges of old values do not end up
# joining everything and deletions keep splitting identities.
EPOCH = 400
N_EMAILS = 14
N_PHONES = 10


def email_value(epoch, i):
    return "u%d.%d@shop.io" % (i, epoch)


def phone_value(epoch, i):
    return str(5550100 + 100 * epoch + i)


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


class Contact:
    __slots__ = ("id", "email", "phone", "primary", "deleted")

    def __init__(self, cid, email, phone, primary):
        self.id, self.email, self.phone = cid, email, phone
        self.primary = primary  # the id of its primary (itself for a primary)
        self.deleted = False


class Model:
    """Section 2's rules and section 10's deletion, on plain Python data.

    Contacts are created in id order, so createdAt order is id order and the
    oldest of a set of contacts is the one with the smallest id."""

    def __init__(self):
        self.contacts = {}        # id -> Contact
        self.next_id = 1
        self.groups = {}          # primary id -> set of the active contacts' ids
        self.emails = {}          # email -> set of active holders
        self.phones = {}          # phone -> set of active holders
        self.bridges = set()      # (email, phone) pairs
        self.stats = {"created": 0, "merges": 0, "bridges": 0, "deletes": 0,
                      "splits": 0, "parts>1": 0, "bridge-kept": 0}

    # ---- views ---------------------------------------------------------------

    def view(self, p):
        """Section 2's contact object of the identity whose primary is p."""
        ids = sorted(self.groups[p])
        w = self.contacts[p]

        def values(attr):
            out = []
            own = getattr(w, attr)
            if own is not None:
                out.append(own)
            for cid in ids:
                v = getattr(self.contacts[cid], attr)
                if v is not None and v not in out:
                    out.append(v)
            return out

        return {"primaryContactId": p, "emails": values("email"),
                "phoneNumbers": values("phone"),
                "secondaryContactIds": [c for c in ids if c != p]}

    # ---- section 2 -----------------------------------------------------------

    def _create(self, email, phone, primary):
        cid = self.next_id
        self.next_id += 1
        self.contacts[cid] = Contact(cid, email, phone, primary or cid)
        self.groups.setdefault(primary or cid, set()).add(cid)
        if email is not None:
            self.emails.setdefault(email, set()).add(cid)
        if phone is not None:
            self.phones.setdefault(phone, set()).add(cid)
        self.stats["created"] += 1
        return cid

    def identify(self, email, phone):
        """Returns (the contact object, the change-log entries expected)."""
        matched = set()
        if email is not None:
            matched |= self.emails.get(email, set())
        if phone is not None:
            matched |= self.phones.get(phone, set())
        # A value nobody holds is still linked through a bridge that
        # remembers it beside a value someone holds (section 10: a contact
        # holding it would be linked to that value's holders).
        if email is not None and not self.emails.get(email):
            for e, p in self.bridges:
                if e == email:
                    matched |= self.phones.get(p, set())
        if phone is not None and not self.phones.get(phone):
            for e, p in self.bridges:
                if p == phone:
                    matched |= self.emails.get(e, set())
        prims = {self.contacts[c].primary for c in matched}
        log = []
        if not prims:
            cid = self._create(email, phone, None)
            log.append({"kind": "contact.created", "contact": cid, "primary": cid})
            return self.view(cid), log
        w = min(prims)
        absorbed = sorted(prims - {w})
        for p in absorbed:
            for cid in self.groups.pop(p):
                self.contacts[cid].primary = w
                self.groups[w].add(cid)
        if absorbed:
            self.stats["merges"] += 1
            log.append({"kind": "identity.merged", "primary": w, "absorbed": absorbed})
        members = [self.contacts[c] for c in self.groups[w]]
        new_info = (email is not None and all(c.email != email for c in members)) or \
                   (phone is not None and all(c.phone != phone for c in members))
        if absorbed and not new_info:
            # Only possible with both values, each in another identity.
            assert email is not None and phone is not None
            self.bridges.add((email, phone))
            self.stats["bridges"] += 1
        if new_info:
            cid = self._create(email, phone, w)
            log.append({"kind": "contact.created", "contact": cid, "primary": w})
        return self.view(w), log

    # ---- section 10 ----------------------------------------------------------

    def components(self, ids, bridges=None):
        """The connected components of the active contacts ids over their
        links, as sorted lists, the one with the smallest id first."""
        bridges = self.bridges if bridges is None else bridges
        uf = UnionFind(ids)
        by_email, by_phone = {}, {}
        for cid in ids:
            c = self.contacts[cid]
            if c.email is not None:
                by_email.setdefault(c.email, []).append(cid)
            if c.phone is not None:
                by_phone.setdefault(c.phone, []).append(cid)
        for holders in list(by_email.values()) + list(by_phone.values()):
            for other in holders[1:]:
                uf.join(holders[0], other)
        for email, phone in bridges:
            a, b = by_email.get(email), by_phone.get(phone)
            if a and b:
                uf.join(a[0], b[0])
        comps = {}
        for cid in ids:
            comps.setdefault(uf.root(cid), []).append(cid)
        return sorted((sorted(c) for c in comps.values()), key=lambda c: c[0])

    def delete(self, cid):
        """Returns (status, body, the change-log entries expected)."""
        c = self.contacts.get(cid)
        if c is None:
            return 404, harness.NOT_FOUND, []
        if c.deleted:
            return 200, {"deleted": cid, "identities": []}, []
        self.stats["deletes"] += 1
        old = c.primary
        c.deleted = True
        if c.email is not None:
            self.emails[c.email].discard(cid)
        if c.phone is not None:
            self.phones[c.phone].discard(cid)
        rest = sorted(self.groups.pop(old) - {cid})
        comps = self.components(rest)
        if len(comps) == 1 and len(self.components(rest, bridges=())) > 1:
            self.stats["bridge-kept"] += 1
        parts = []
        for comp in comps:
            p = comp[0]
            parts.append(p)
            self.groups[p] = set(comp)
            for m in comp:
                self.contacts[m].primary = p
        log = [{"kind": "contact.deleted", "contact": cid, "primary": old}]
        if parts != [old]:
            self.stats["splits"] += 1
            if len(parts) > 1:
                self.stats["parts>1"] += 1
            log.append({"kind": "identity.split", "primary": old, "parts": parts})
        return 200, {"deleted": cid, "identities": [self.view(p) for p in parts]}, log


def entry_key(e):
    return (e["kind"], repr(sorted(e.items())))


class ModelTests(harness.ServerTestCase):

    def test_random_identify_and_delete_against_model(self):
        self.run_seeded()

    def run_seeded(self, after=None):
        seed = int(os.environ.get("IDLINK_MODEL_SEED", DEFAULT_SEED))
        steps = int(os.environ.get("IDLINK_MODEL_STEPS", DEFAULT_STEPS))
        self.seed = seed
        self.trail = []
        try:
            model = self.run_model(random.Random(seed), steps)
            if after:
                after(model)
        except AssertionError as e:
            raise AssertionError(
                "IDLINK_MODEL_SEED=%d IDLINK_MODEL_STEPS=%d; the last requests:\n  %s\n%s"
                % (seed, steps, "\n  ".join(self.trail[-12:]), e)) from None

    def request_body(self, rnd, step):
        """An /identify body: both values mostly, sometimes one; phones now
        and then as JSON numbers, emails now and then in another case."""
        epoch = step // EPOCH
        pick = lambda: epoch if epoch == 0 or rnd.random() < 0.75 else epoch - 1
        shape = rnd.random()
        email = email_value(pick(), rnd.randrange(N_EMAILS)) if shape < 0.85 else None
        phone = phone_value(pick(), rnd.randrange(N_PHONES)) if shape >= 0.15 else None
        body = {}
        if email is not None:
            body["email"] = email if rnd.random() < 0.9 else "  %s " % email.upper()
        if phone is not None:
            body["phoneNumber"] = phone if rnd.random() < 0.9 else int(phone)
        return body, email, phone

    def run_model(self, rnd, steps):
        model = Model()
        srv = self.srv
        expected_log = []   # one list of entries per request that changed something
        t0 = time.monotonic()
        for step in range(steps):
            if rnd.random() < 0.2 and model.next_id > 1:
                r = rnd.random()
                active = [c for c in model.contacts.values() if not c.deleted]
                if r < 0.8 and active:
                    cid = rnd.choice(active).id
                elif r < 0.95:
                    cid = rnd.randrange(1, model.next_id)
                else:
                    cid = model.next_id + rnd.randrange(0, 5)
                self.trail.append("step %d: DELETE /contacts/%d" % (step, cid))
                status, _, body, raw = srv.request("DELETE", "/contacts/%d" % cid)
                want_status, want_body, log = model.delete(cid)
                self.assertEqual((status, body), (want_status, want_body),
                                 "step %d: DELETE /contacts/%d -> %r" % (step, cid, raw))
            else:
                body, email, phone = self.request_body(rnd, step)
                self.trail.append("step %d: POST /identify %s" % (step, body))
                status, _, got, raw = srv.request("POST", "/identify", body)
                want, log = model.identify(email, phone)
                self.assertEqual((status, got), (200, {"contact": want}),
                                 "step %d: POST /identify %r -> %r" % (step, body, raw))
            if log:
                expected_log.append(log)
        elapsed = time.monotonic() - t0
        # Section 2 matches on values only: a contact created later with a
        # value of an old bridge is not joined through that bridge, so a
        # bridge may end up linking contacts of two identities. Counted only.
        active = [c.id for c in model.contacts.values() if not c.deleted]
        model.stats["identities"] = len(model.groups)
        model.stats["global-components"] = len(model.components(active))
        self.assertGreater(model.stats["splits"], 10, "the run proves little: %r" % model.stats)
        self.assertGreater(model.stats["bridges"], 10, "the run proves little: %r" % model.stats)
        self.trail.append("(after the requests: the final comparisons)")
        self.compare_rows(model)
        self.compare_identities(model)
        self.compare_log(expected_log)
        self.assertStoreChecks()
        if os.environ.get("IDLINK_MODEL_VERBOSE"):
            print("seed %d, %d requests in %.1f s: %r"
                  % (self.seed, steps, elapsed, model.stats), file=sys.stderr)
        return model

    def compare_rows(self, model):
        _, h = self.srv.get("/healthz")
        self.assertEqual(h["next_id"], model.next_id)
        for cid in range(1, model.next_id):
            c = model.contacts[cid]
            status, row = self.srv.get("/contacts/%d" % cid)
            self.assertEqual(status, 200, "GET /contacts/%d" % cid)
            got = (row["id"], row["email"], row["phoneNumber"], row["deletedAt"] is not None)
            self.assertEqual(got, (cid, c.email, c.phone, c.deleted), "row %r" % row)
            if not c.deleted:
                want = (None, "primary") if c.primary == cid else (c.primary, "secondary")
                self.assertEqual((row["linkedId"], row["linkPrecedence"]), want,
                                 "row %r" % row)
                status, ident = self.srv.get("/identities/%d" % cid)
                self.assertEqual((status, ident), (200, {"contact": model.view(c.primary)}),
                                 "GET /identities/%d" % cid)
            else:
                status, _ = self.srv.get("/identities/%d" % cid)
                self.assertEqual(status, 404, "GET /identities/%d of a deleted contact" % cid)

    def compare_identities(self, model):
        """Every identity is one component of its links, and its explanation
        is a spanning tree of real links."""
        for p, members in sorted(model.groups.items()):
            ids = sorted(members)
            self.assertEqual(len(model.components(ids)), 1, "model identity %d apart" % p)
            status, x = self.srv.get("/identities/%d/explain" % p)
            self.assertEqual(status, 200)
            self.assertEqual(x["primaryContactId"], p)
            self.assertEqual(sorted(c["id"] for c in x["contacts"]), ids)
            self.assertEqual(len(x["edges"]), len(ids) - 1, "explain %d: %r" % (p, x["edges"]))
            uf = UnionFind(ids)
            for e in x["edges"]:
                a, b = model.contacts.get(e["from"]), model.contacts.get(e["to"])
                self.assertTrue(a and b and a.id in members and b.id in members, e)
                if e["via"] == "email":
                    self.assertEqual((a.email, b.email), (e["value"], e["value"]), e)
                elif e["via"] == "phoneNumber":
                    self.assertEqual((a.phone, b.phone), (e["value"], e["value"]), e)
                else:
                    self.assertEqual(e["via"], "bridge", e)
                    pair = (e["value"]["email"], e["value"]["phoneNumber"])
                    self.assertIn(pair, model.bridges, e)
                    self.assertIn(pair, {(a.email, b.phone), (b.email, a.phone)}, e)
                self.assertTrue(uf.join(a.id, b.id), "edge %r closes a cycle" % e)
            self.assertEqual(len({uf.root(i) for i in ids}), 1, "explain %d apart" % p)

    def compare_log(self, expected_log):
        """The change log, request by request (the entries of one request in
        any order)."""
        got = self.srv.changes_since(0, max_pages=1000)
        pos = 0
        for n, entries in enumerate(expected_log):
            chunk = [{k: v for k, v in e.items() if k not in ("seq", "at")}
                     for e in got[pos:pos + len(entries)]]
            self.assertEqual(sorted(chunk, key=entry_key), sorted(entries, key=entry_key),
                             "change log at entry %d (change %d of the run)" % (pos, n))
            pos += len(entries)
        self.assertEqual(len(got), pos, "more entries than changes: %r" % got[pos:pos + 5])


@unittest.skipUnless(resp.redis_server_path(), "redis-server is not installed")
class MirroredModelTests(ModelTests):
    """The same run with the Redis mirror on: once it caught up, Redis holds
    exactly the model's keys (section 6) and idlink-check --redis is clean."""

    def setUp(self):
        self.redis = resp.RedisServer()
        self.addCleanup(self.redis.close)
        self.srv = self.start_server(extra_args=("--redis", self.redis.url()))

    def test_random_identify_and_delete_against_model(self):
        self.run_seeded(after=self.compare_mirror)

    def compare_mirror(self, model):
        deadline = time.monotonic() + 30
        while True:
            _, h = self.srv.get("/healthz")
            m = h["mirror"]
            if m["state"] == "up" and m["applied_seq"] == h["last_seq"]:
                break
            self.assertLess(time.monotonic(), deadline, "the mirror did not catch up: %r" % h)
            time.sleep(0.05)
        want = {}
        for p in model.groups:
            for cid in model.groups[p]:
                c = model.contacts[cid]
                if c.email is not None:
                    want["idlink:email:" + c.email] = str(p)
                if c.phone is not None:
                    want["idlink:phone:" + c.phone] = str(p)
            want["idlink:identity:%d" % p] = json.dumps(model.view(p), sort_keys=True)
        r = self.redis.client()
        self.addCleanup(r.close)
        got = {}
        for pattern in ("idlink:email:*", "idlink:phone:*", "idlink:identity:*"):
            for key in r.keys(pattern):
                v = r.call("GET", key)
                got[key] = json.dumps(json.loads(v), sort_keys=True) \
                    if key.startswith("idlink:identity:") else v
        p = subprocess.run([harness.check_path(), "--data", self.srv.data_dir, "--redis",
                            self.redis.url(), "--show-values"],
                           capture_output=True, timeout=60, env=harness.clean_env())
        wrong = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        self.assertEqual(wrong, [], "Redis keys that differ from the model (first: %r), "
                         "idlink-check --redis says:\n%s"
                         % ([(k, want.get(k), got.get(k)) for k in wrong[:3]],
                            p.stdout.decode()[-2000:]))
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        kinds = {e[1][3] for e in r.call("XRANGE", "idlink:events", "-", "+")}
        self.assertTrue({"contact.deleted", "identity.split"} <= kinds, kinds)


if __name__ == "__main__":
    unittest.main()
