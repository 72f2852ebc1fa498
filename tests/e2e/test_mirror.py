"""The Redis mirror (SPEC section 6) against a redis-server started by the test."""

import json
import os
import subprocess
import time
import unittest

import harness
import resp

# ctest reports this exit status as "Skipped" (SKIP_RETURN_CODE), never as passed.
SKIPPED = 77


def run_check(data_dir, url, *extra):
    p = subprocess.run([harness.check_path(), "--data", data_dir, "--redis", url, *extra],
                       capture_output=True, timeout=60, env=harness.clean_env())
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def stream(client, key="idlink:events"):
    """The events stream as (id, fields) pairs, oldest first."""
    return [(e[0], dict(zip(e[1][::2], e[1][1::2])))
            for e in client.call("XRANGE", key, "-", "+")]


def as_events(changes):
    """What the events stream says of change-log entries (SPEC section 6):
    contact changes name the primary and the absorbed ones, a collection's
    record changes their pk."""
    return [("0-%d" % c["seq"],
             {"seq": str(c["seq"]), "kind": c["kind"], "pk": str(c["pk"])} if "pk" in c else
             {"seq": str(c["seq"]), "kind": c["kind"], "primary": str(c["primary"]),
              "absorbed": ",".join(str(a) for a in c.get("absorbed", []))})
            for c in changes]


def oldest_seq(srv):
    st, body = srv.get("/changes?after=0&limit=1")
    return body["results"][0]["seq"]


class MirrorTestCase(unittest.TestCase):
    maxDiff = None
    password = None
    db = 0
    extra_args = ()

    def setUp(self):
        self.redis = resp.RedisServer(password=self.password)
        self.addCleanup(self.redis.close)
        self.srv = harness.Server(extra_args=("--redis", self.redis.url(self.db),
                                              *self.extra_args))
        self.addCleanup(self.srv.close)

    def health(self):
        status, _, body, _ = self.srv.request("GET", "/healthz")
        self.assertEqual(status, 200)
        return body

    def wait_converged(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        h = None
        while time.monotonic() < deadline:
            h = self.health()
            m = h["mirror"]
            if m["state"] == "up" and m["applied_seq"] == h["last_seq"]:
                return h
            time.sleep(0.05)
        self.fail("the mirror did not catch up in %.0f s: %r" % (timeout, h))

    def check_clean(self):
        rc, out, err = run_check(self.srv.data_dir, self.redis.url(self.db))
        self.assertEqual(rc, 0, out + err)

    def r(self):
        client = self.redis.client(self.db)
        self.addCleanup(client.close)
        return client

    def wait_full_syncs(self, n, srv=None, timeout=10.0):
        srv = srv or self.srv
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, _, h, _ = srv.request("GET", "/healthz")
            if h["mirror"]["full_syncs"] >= n:
                return
            time.sleep(0.05)
        self.fail("no full sync number %d in %.0f s: %r" % (n, timeout, h))

    def outage(self, before, during, after, wait_sync=False):
        """before writes, Redis killed, during writes, Redis back empty (the
        mirror's full sync awaited when wait_sync), after writes; converged."""
        write = lambda i: self.srv.identify({"email": "w%d@x.io" % i,
                                             "phoneNumber": str(5000 + i)})
        for i in range(before):
            write(i)
        self.redis.kill()
        for i in range(before, before + during):
            write(i)
        self.redis.start()  # same port, no persistence: empty
        if wait_sync:
            self.wait_full_syncs(2)
            self.wait_converged()
        for i in range(before + during, before + during + after):
            write(i)
        return self.wait_converged(timeout=30)


class KeysTests(MirrorTestCase):
    def test_keys_after_creations_and_merges(self):
        ident = self.srv.identify
        ident({"email": "a@x.io", "phoneNumber": "1"})          # 1
        ident({"email": "b@x.io", "phoneNumber": "2"})          # 2
        ident({"email": "b2@x.io", "phoneNumber": "2"})         # 3, secondary of 2
        ident({"email": "c@x.io", "phoneNumber": "3"})          # 4
        ident({"email": "b@x.io", "phoneNumber": "3"})          # 4 joins 2
        ident({"email": "a@x.io", "phoneNumber": "2"})          # 2 (with 3, 4) joins 1
        h = self.wait_converged()
        r = self.r()
        for email in ("a@x.io", "b@x.io", "b2@x.io", "c@x.io"):
            self.assertEqual(r.call("GET", "idlink:email:" + email), "1", email)
        for phone in ("1", "2", "3"):
            self.assertEqual(r.call("GET", "idlink:phone:" + phone), "1", phone)
        st, body = self.srv.get("/identities/1")
        self.assertEqual(json.loads(r.call("GET", "idlink:identity:1")), body["contact"])
        self.assertEqual(body["contact"]["secondaryContactIds"], [2, 3, 4])
        self.assertEqual(r.keys("idlink:identity:*"), ["idlink:identity:1"])
        self.assertEqual(r.call("GET", "idlink:mirror:seq"), str(h["last_seq"]))
        events = r.call("XRANGE", "idlink:events", "-", "+")
        fields = [dict(zip(e[1][::2], e[1][1::2])) for e in events]
        self.assertEqual([int(f["seq"]) for f in fields], list(range(1, h["last_seq"] + 1)))
        merges = [f for f in fields if f["kind"] == "identity.merged"]
        self.assertEqual([(m["primary"], m["absorbed"]) for m in merges],
                         [("2", "4"), ("1", "2")])
        self.assertTrue(all(f["kind"] in ("contact.created", "identity.merged")
                            for f in fields))
        self.check_clean()

    def test_flushed_redis_is_rebuilt(self):
        for i in range(20):
            self.srv.identify({"email": "f%d@x.io" % i, "phoneNumber": str(i % 4)})
        self.wait_converged()
        self.r().call("FLUSHALL")
        # An idle mirror looks at Redis every second: within a few it rebuilds.
        deadline = time.monotonic() + 5
        while self.health()["mirror"]["full_syncs"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        h = self.wait_converged()
        self.assertGreaterEqual(h["mirror"]["full_syncs"], 2)
        self.check_clean()

    def test_planted_wrong_key_is_reported(self):
        self.srv.identify({"email": "p@x.io", "phoneNumber": "77"})
        self.srv.identify({"email": "q@x.io", "phoneNumber": "78"})
        self.wait_converged()
        r = self.r()
        r.call("SET", "idlink:email:p@x.io", "2")
        r.call("SET", "idlink:identity:99", "{}")
        r.call("DEL", "idlink:phone:78")
        rc, out, err = run_check(self.srv.data_dir, self.redis.url())
        self.assertEqual(rc, 1, out + err)
        self.assertIn("stale: idlink:email:<email of contact 1> is 2, the store says 1", out)
        self.assertIn("extra: idlink:identity:99", out)
        self.assertIn("missing: idlink:phone:<phone of contact 2>", out)
        self.assertNotIn("p@x.io", out, "emails stay hidden without --show-values")
        rc, out, err = run_check(self.srv.data_dir, self.redis.url(), "--show-values")
        self.assertEqual(rc, 1)
        self.assertIn("stale: idlink:email:p@x.io is 2", out)
        self.assertIn("missing: idlink:phone:78", out)


class PasswordTests(MirrorTestCase):
    password = "s3cret"
    db = 3

    def test_password_and_database(self):
        self.srv.identify({"email": "pw@x.io", "phoneNumber": "5"})
        self.wait_converged()
        self.assertEqual(self.r().call("GET", "idlink:email:pw@x.io"), "1")
        db0 = self.redis.client(0)
        self.addCleanup(db0.close)
        self.assertEqual(db0.keys("idlink:*"), [], "db 0 untouched")
        self.check_clean()

    def test_wrong_password_keeps_serving(self):
        srv = harness.Server(extra_args=("--redis", self.redis.url(password="wrong")))
        self.addCleanup(srv.close)
        self.assertEqual(srv.post("/identify", {"email": "wp@x.io"})[0], 200)
        time.sleep(0.3)
        _, _, h, _ = srv.request("GET", "/healthz")
        self.assertEqual(h["mirror"]["state"], "down")
        self.assertEqual(h["mirror"]["lag_entries"], 1)


class OutageTests(MirrorTestCase):
    def test_redis_killed_mid_load_and_restarted_empty(self):
        load = harness.WriteLoad(self.srv, 3.0, lambda t, i: {
            "email": "o%d-%d@x.io" % (t, i), "phoneNumber": str(100 + (t * 13 + i) % 40)})
        time.sleep(1.0)
        self.redis.kill()
        time.sleep(0.3)
        self.assertEqual(self.health()["mirror"]["state"], "down")
        time.sleep(0.7)
        self.redis.start()  # same port, empty
        self.assertEqual(load.join(), [])
        h = self.wait_converged(timeout=30)
        self.assertGreaterEqual(h["mirror"]["full_syncs"], 2)
        self.check_clean()
        self.assertIn("unavailable", self.srv.stderr())
        self.assertEqual(self.srv.stderr().count("unavailable"), 1,
                         "one warning per outage, not one per retry")

    def test_http_unaffected_while_redis_down(self):
        self.redis.kill()
        took = []
        for i in range(60):
            t0 = time.monotonic()
            st, _ = self.srv.post("/identify", {"email": "d%d@x.io" % i, "phoneNumber": "9"})
            took.append(time.monotonic() - t0)
            self.assertEqual(st, 200)
        took.sort()
        self.assertLess(took[len(took) // 2], 0.05, "median latency %r" % took)
        self.assertLess(took[-1], 0.5, "slowest %r" % took[-1])
        h = self.health()
        self.assertEqual(h["mirror"]["state"], "down")
        self.assertEqual(h["mirror"]["lag_entries"], 60)
        self.assertGreater(h["mirror"]["lag_seconds"], 0)
        # Shutdown is bounded even though Redis will take nothing.
        t0 = time.monotonic()
        self.assertEqual(self.srv.stop(), 0)
        self.assertLess(time.monotonic() - t0, 12)


class StreamTests(MirrorTestCase):
    """The events stream has no gap the change log could fill."""

    def test_outage_entries_reach_the_stream(self):
        # An outside tester's report: the stream started at 0-161.
        h = self.outage(110, 50, 10)
        self.assertEqual(h["last_seq"], 170)
        self.assertEqual(self.r().call("GET", "idlink:mirror:seq"), "170")
        events = stream(self.r())
        self.assertEqual([e[0] for e in events], ["0-%d" % s for s in range(1, 171)])
        # Entries applied by the full sync say what live ones say.
        self.assertEqual(events, as_events(self.srv.changes_since(0)))
        self.check_clean()

    def test_record_changes_reach_the_stream(self):
        # Customers and orders are in the change log, so in the stream too,
        # beside the contacts they reconcile.
        st, _, body, raw = self.srv.request("POST", "/api/v1/customers/", {
            "email": "c@x.io", "channel": 1, "channel_code": "c1", "phone_number": "77"})
        self.assertEqual(st, 201, raw)
        st, _, _, raw = self.srv.request("POST", "/api/v1/orders/", {
            "channel": 1, "number": "N1", "amount": "5.00", "currency": "TRY",
            "customer": {"email": "c@x.io", "channel_code": "c1"}})
        self.assertEqual(st, 201, raw)
        self.wait_converged()
        events = stream(self.r())
        self.assertEqual(events, as_events(self.srv.changes_since(0)))
        kinds = [e[1]["kind"] for e in events]
        self.assertIn("customer.created", kinds)
        self.assertIn("order.created", kinds)
        self.assertIn("contact.created", kinds)
        self.assertEqual(self.r().call("GET", "idlink:email:c@x.io"), str(body["identity"]))
        self.check_clean()

    def test_surviving_stream_is_continued(self):
        # Redis keeps the stream (up to seq 30) but loses the other keys
        # while idlinkd runs on without it: the stream goes on at 0-31.
        for i in range(30):
            self.srv.identify({"email": "s%d@x.io" % i, "phoneNumber": str(i)})
        self.wait_converged()
        self.assertEqual(self.srv.stop(), 0)
        alone = harness.Server(data_dir=self.srv.data_dir)
        self.addCleanup(alone.close)
        for i in range(10):
            alone.identify({"email": "t%d@x.io" % i, "phoneNumber": str(100 + i)})
        for i in range(0, 20, 2):  # merges: absorbed primaries in the events
            alone.identify({"email": "s%d@x.io" % i, "phoneNumber": str(i + 1)})
        self.assertEqual(alone.stop(), 0)
        r = self.r()
        for key in r.keys("idlink:*"):
            if key != "idlink:events":
                r.call("DEL", key)
        self.srv.start()
        for i in range(5):
            self.srv.identify({"email": "u%d@x.io" % i})
        h = self.wait_converged()
        self.assertEqual(h["mirror"]["full_syncs"], 1)
        changes = self.srv.changes_since(0)
        self.assertEqual(len(changes), h["last_seq"])
        self.assertIn("identity.merged", [c["kind"] for c in changes[30:]])
        self.assertEqual(stream(r), as_events(changes))
        self.check_clean()

    def test_stream_deleted_by_hand_is_refilled_on_reconnect(self):
        # Redis keeps the position but not the stream: no full sync is due,
        # yet the stream is refilled before the next entry's event.
        for i in range(25):
            self.srv.identify({"email": "d%d@x.io" % i, "phoneNumber": str(i % 3)})
        self.wait_converged()
        self.assertEqual(self.srv.stop(), 0)
        self.r().call("DEL", "idlink:events")
        self.srv.start()
        self.srv.identify({"email": "late@x.io"})
        h = self.wait_converged()
        self.assertEqual(h["mirror"]["full_syncs"], 0)
        self.assertEqual(stream(self.r()), as_events(self.srv.changes_since(0)))
        self.check_clean()

    def test_stream_of_another_store_is_replaced(self):
        # Its ids run past this store's log: this log's entries could never
        # follow them in order, so the stream starts again from this log.
        for i in range(40):
            self.srv.identify({"email": "a%d@x.io" % i})
        self.wait_converged()
        self.assertEqual(self.srv.stop(), 0)
        other = harness.Server(extra_args=("--redis", self.redis.url()))
        self.addCleanup(other.close)
        for i in range(10):
            other.identify({"email": "b%d@x.io" % i})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, _, h, _ = other.request("GET", "/healthz")
            if h["mirror"]["state"] == "up" and h["mirror"]["applied_seq"] == 10:
                break
            time.sleep(0.05)
        self.assertEqual(stream(self.r()), as_events(other.changes_since(0)))
        rc, out, err = run_check(other.data_dir, self.redis.url())
        self.assertEqual(rc, 0, out + err)


class TrimmedLogStreamTests(MirrorTestCase):
    extra_args = ("--log-retain", "20")

    def test_stream_starts_at_the_oldest_retained_entry(self):
        # The writer trims every 256 commits, never past what the mirror applied.
        h = self.outage(300, 50, 10, wait_sync=True)
        oldest = oldest_seq(self.srv)
        self.assertGreater(oldest, 1, "the log was not trimmed: the test proves nothing")
        self.assertLessEqual(oldest, 301, "trimmed past the outage")
        self.assertEqual(stream(self.r()), as_events(self.srv.changes_since(0)))
        self.assertEqual(stream(self.r())[0][0], "0-%d" % oldest)
        self.assertEqual(h["last_seq"], 360)
        self.check_clean()


class CappedStreamTests(MirrorTestCase):
    extra_args = ("--redis-stream-maxlen", "100")

    def test_refill_keeps_the_newest_maxlen_entries(self):
        self.outage(110, 50, 0, wait_sync=True)
        # Filled after the full sync at seq 160: exactly the newest 100.
        self.assertEqual([e[0] for e in stream(self.r())],
                         ["0-%d" % s for s in range(61, 161)])
        for i in range(10):
            self.srv.identify({"email": "late%d@x.io" % i})
        self.wait_converged()
        seqs = [int(e[1]["seq"]) for e in stream(self.r())]
        # MAXLEN ~ trims whole nodes only, never below the cap.
        self.assertEqual(seqs, list(range(seqs[0], 171)))
        self.assertGreaterEqual(len(seqs), 100)
        self.check_clean()


class SharedDatabaseTests(unittest.TestCase):
    """Two mirrors in one Redis database, one prefix extending the other."""

    def setUp(self):
        self.redis = resp.RedisServer()
        self.addCleanup(self.redis.close)
        self.client = self.redis.client()
        self.addCleanup(self.client.close)
        self.a = harness.Server(extra_args=("--redis", self.redis.url()))
        self.addCleanup(self.a.close)
        self.n = harness.Server(extra_args=("--redis", self.redis.url(),
                                            "--redis-prefix", "idlink:n:"))
        self.addCleanup(self.n.close)
        for srv, tag in ((self.a, "a"), (self.n, "n")):
            for i in range(12):
                srv.identify({"email": "%s%d@x.io" % (tag, i), "phoneNumber": str(i % 5)})
            srv.identify({"email": "n:email:%s@x.io" % tag, "phoneNumber": "99"})

    def mirror(self, srv):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            _, _, h, _ = srv.request("GET", "/healthz")
            if h["mirror"]["state"] == "up" and h["mirror"]["applied_seq"] == h["last_seq"]:
                return h["mirror"]
            time.sleep(0.05)
        self.fail("the mirror did not catch up: %r" % h)

    def assertClean(self, srv, *prefix):
        rc, out, err = run_check(srv.data_dir, self.redis.url(), *prefix)
        self.assertEqual(rc, 0, out + err)

    def contents(self, pattern):
        out = {}
        for key in self.client.keys(pattern):
            kind = self.client.call("TYPE", key)
            out[key] = stream(self.client, key) if kind == "stream" else \
                self.client.call("GET", key)
        return out

    def test_checks_and_full_syncs_keep_to_their_prefix(self):
        for srv in (self.a, self.n):
            self.assertEqual(self.mirror(srv)["full_syncs"], 1)
        self.assertClean(self.a)
        self.assertClean(self.n, "--redis-prefix", "idlink:n:")
        others = self.contents("idlink:n:*")
        self.assertIn("idlink:n:mirror:seq", others)
        # The default mirror's full sync clears its keys, not idlink:n:'s.
        self.client.call("DEL", "idlink:mirror:seq")
        deadline = time.monotonic() + 10
        while self.mirror(self.a)["full_syncs"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.mirror(self.a)["full_syncs"], 2)
        self.assertEqual(self.contents("idlink:n:*"), others)
        time.sleep(1.5)  # an idle check of the other mirror
        self.assertEqual(self.mirror(self.n)["full_syncs"], 1, "idlink:n: lost keys")
        self.assertClean(self.a)
        self.assertClean(self.n, "--redis-prefix", "idlink:n:")
        # And the other way round.
        mine = self.contents("idlink:*")
        mine = {k: v for k, v in mine.items() if not k.startswith("idlink:n:")}
        self.client.call("DEL", "idlink:n:mirror:seq")
        deadline = time.monotonic() + 10
        while self.mirror(self.n)["full_syncs"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.mirror(self.n)["full_syncs"], 2)
        after = {k: v for k, v in self.contents("idlink:*").items()
                 if not k.startswith("idlink:n:")}
        self.assertEqual(after, mine)
        self.assertClean(self.a)
        self.assertClean(self.n, "--redis-prefix", "idlink:n:")


class OptionsTests(unittest.TestCase):
    def test_malformed_url_is_a_start_up_error(self):
        for url in ("http://x", "redis://", "redis://h:notaport", "redis://h:1/x"):
            p = subprocess.run([harness.idlinkd_path(), "--redis", url, "--data", "/nonexistent"],
                               capture_output=True, timeout=10, env=harness.clean_env())
            self.assertEqual(p.returncode, 2, url)
            self.assertIn("--redis", p.stderr.decode(), url)

    def test_check_reads_its_redis_options_before_it_checks(self):
        # A malformed --redis is an error before the store is read: no
        # "ok:" line of a check that then fails on its options.
        srv = harness.Server()
        srv.identify({"email": "opt@x.io"})
        srv.stop()
        self.addCleanup(srv.close)
        for extra, named in (((), "--redis"), (("--redis-prefix", "a*"), "--redis-prefix")):
            with self.subTest(extra=extra):
                url = "notaurl" if not extra else "redis://127.0.0.1:1"
                rc, out, err = run_check(srv.data_dir, url, *extra)
                self.assertEqual((rc, out), (2, ""), err)
                self.assertIn("idlink-check: %s:" % named, err)

    def test_stream_is_capped(self):
        redis = resp.RedisServer()
        self.addCleanup(redis.close)
        srv = harness.Server(extra_args=("--redis", redis.url(), "--redis-stream-maxlen", "10"))
        self.addCleanup(srv.close)
        for i in range(300):
            srv.post("/identify", {"email": "s%d@x.io" % i})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, _, h, _ = srv.request("GET", "/healthz")
            if h["mirror"]["applied_seq"] == 300:
                break
            time.sleep(0.05)
        client = redis.client()
        self.addCleanup(client.close)
        self.assertLess(client.call("XLEN", "idlink:events"), 300)

    def test_log_kept_until_the_mirror_applied_it(self):
        # Redis down: nothing may be trimmed, whatever the retention says.
        port = harness.free_port()
        srv = harness.Server(extra_args=("--redis", "redis://127.0.0.1:%d" % port,
                                         "--log-retain", "5"))
        self.addCleanup(srv.close)
        for i in range(300):
            srv.post("/identify", {"email": "t%d@x.io" % i})
        st, body = srv.get("/changes?after=0&limit=1")
        self.assertEqual(body["results"][0]["seq"], 1)
        # Without a mirror the retention bound applies.
        plain = harness.Server(extra_args=("--log-retain", "5"))
        self.addCleanup(plain.close)
        for i in range(300):
            plain.post("/identify", {"email": "t%d@x.io" % i})
        st, body = plain.get("/changes?after=0&limit=1")
        self.assertGreater(body["results"][0]["seq"], 1)
        self.assertEqual(body["last_seq"], 300)


if __name__ == "__main__":
    if not resp.redis_server_path():
        print("SKIPPED: redis-server is not installed (make test installs it); "
              "the Redis mirror tests did not run")
        raise SystemExit(SKIPPED)
    unittest.main()
