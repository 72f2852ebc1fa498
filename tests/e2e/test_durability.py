"""Persistence across restarts and crashes, the data-folder lock, concurrency."""

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import identity  # noqa: E402


def load(srv, nthreads, at, action, request, max_per_thread=5000):
    """nthreads writers; action() runs after `at` seconds. request(t, n) gives
    writer t's n-th (path, body, status wanted, what to keep of the answer).
    Returns what was kept of every answer with the status wanted."""
    acked = [[] for _ in range(nthreads)]
    stop = threading.Event()

    def writer(t):
        deadline = time.monotonic() + at + 5
        for n in range(max_per_thread):
            if stop.is_set() or time.monotonic() > deadline:
                return
            path, body, want, keep = request(t, n)
            try:
                st, _, answer, _ = harness.http_request(srv.port, "POST", path, body,
                                                        timeout=10)
            except (OSError, http.client.HTTPException):
                if stop.is_set():
                    return
                time.sleep(0.01)
                continue
            if st == want and answer:
                acked[t].append(keep(answer))

    threads = [threading.Thread(target=writer, args=(t,), daemon=True)
               for t in range(nthreads)]
    for th in threads:
        th.start()
    time.sleep(at)
    action()
    stop.set()
    for th in threads:
        th.join(20)
    assert not any(th.is_alive() for th in threads), "writer threads hung"
    return [x for per in acked for x in per]


def write_load(srv, nthreads, at, action, tag, max_per_thread=5000):
    """Writers of distinct new contacts. Returns [(email, phone, primary id)]
    of the requests answered 200."""
    def request(t, n):
        email, phone = "%s-%d-%d@load.io" % (tag, t, n), "9%02d%06d" % (t, n)
        return ("/identify", {"email": email, "phoneNumber": phone}, 200,
                lambda body: (email, phone, body["contact"]["primaryContactId"]))
    return load(srv, nthreads, at, action, request, max_per_thread)


def assert_all_present(tc, srv, acked):
    tc.assertGreater(len(acked), 8, "too few writes acknowledged before the signal")
    missing = []
    for email, phone, pid in acked:
        st, body = srv.post("/api/identify/", {"email": email})
        if (st, body and body.get("customerID")) != (200, str(pid)):
            missing.append((email, pid, st, body))
        elif body["contact"] != identity(pid, [email], [phone], [])["contact"]:
            missing.append((email, pid, st, body))
    tc.assertEqual(missing, [], "%d of %d acknowledged writes lost or wrong"
                   % (len(missing), len(acked)))


class RestartTests(harness.ServerTestCase):

    def test_data_survives_sigterm_and_restart(self):
        a = self.srv.identify({"email": "a@x.io", "phoneNumber": "1"})["contact"][
            "primaryContactId"]
        self.srv.identify({"email": "b@x.io", "phoneNumber": "1"})
        b = self.srv.identify({"email": "c@x.io", "phoneNumber": "2"})["contact"][
            "primaryContactId"]
        merged = self.srv.identify({"email": "b@x.io", "phoneNumber": "2"})
        ids = sorted({a, b} | set(merged["contact"]["secondaryContactIds"]))
        rows = {i: self.srv.get("/contacts/%d" % i)[1] for i in ids}
        log = self.srv.changes_since(0)
        last = self.srv.last_seq()

        self.assertEqual(self.srv.stop(), 0, "SIGTERM must exit 0; stderr:\n%s"
                         % self.srv.stderr()[-4000:])
        self.assertStoreChecks()
        self.srv.start()

        seq = self.srv.last_seq()
        self.assertEqual(seq, last)
        self.assertEqual(self.srv.changes_since(0), log)
        for i in ids:
            self.assertEqual(self.srv.get("/contacts/%d" % i), (200, rows[i]))
        self.assertEqual(self.srv.identify({"email": "c@x.io"}), merged)
        self.assertEqual(self.srv.get("/identities/%d" % b), (200, merged))

        # New ids continue above every id ever handed out; sequence numbers too.
        c = self.srv.identify({"email": "new@x.io"})["contact"]["primaryContactId"]
        self.assertGreater(c, max(ids))
        after = self.srv.changes_since(seq)
        self.assertEqual(len(after), 1)
        self.assertGreater(after[0]["seq"], last)
        self.assertStoreChecks()

    def test_sigterm_finishes_request_in_flight(self):
        # Headers and half the body are in when SIGTERM arrives; the rest follows.
        body = json.dumps({"email": "inflight@x.io", "phoneNumber": "5150"}).encode()
        head = (b"POST /identify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(body))
        c = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(c.close)
        c.sendall(head + body[:10])
        time.sleep(0.3)
        self.srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            c.sendall(body[10:])
        except OSError:
            pass
        resp = b""
        try:
            while len(resp) < 65536:
                b = c.recv(65536)
                if not b:
                    break
                resp += b
        except OSError as e:
            resp += b" <%r>" % e
        self.assertEqual(self.srv.proc.wait(15), 0, self.srv.stderr()[-4000:])
        self.assertTrue(resp.startswith(b"HTTP/1.1 200 "),
                        "request in flight at SIGTERM not finished; got %r" % resp[:300])
        self.srv.start()
        st, found = self.srv.post("/api/identify/", {"email": "inflight@x.io"})
        self.assertEqual(st, 200, found)

    def test_sigint_exits_0_and_keeps_data(self):
        p = self.srv.identify({"email": "int@x.io"})["contact"]["primaryContactId"]
        self.srv.proc.send_signal(signal.SIGINT)
        try:
            rc = self.srv.proc.wait(15)
        except Exception:
            self.srv.kill()
            raise
        self.assertEqual(rc, 0, self.srv.stderr()[-4000:])
        self.srv.start()
        self.assertEqual(self.srv.post("/api/identify/", {"email": "int@x.io"})[1]["customerID"],
                         str(p))

    def test_second_server_on_same_data_refuses(self):
        self.srv.identify({"email": "lock@x.io"})
        port = harness.free_port()
        cmd = [harness.idlinkd_path(), "--listen", "127.0.0.1:%d" % port,
               "--data", self.srv.data_dir]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=harness.clean_env())
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("second idlinkd on the same --data still running after 10 s; stderr %r"
                      % err)
        self.assertNotEqual(p.returncode, 0, "second idlinkd exited 0; stderr %r" % err)
        self.assertTrue(err.strip(), "no message on stderr")
        # The first one is unharmed.
        self.assertTrue(self.srv.healthy())
        self.assertEqual(self.srv.identify({"email": "lock@x.io"})["contact"]["emails"],
                         ["lock@x.io"])

    def test_sigterm_under_load_exits_0_and_keeps_answered_writes(self):
        acked = write_load(self.srv, 4, 1.0, lambda: self.srv.proc.send_signal(signal.SIGTERM),
                                "term")
        rc = self.srv.proc.wait(15)
        self.assertEqual(rc, 0, self.srv.stderr()[-4000:])
        self.srv.start()
        assert_all_present(self, self.srv, acked)
        self.assertStoreChecks()


def record_load(srv, nthreads, at, action):
    """Writers of customers and of orders that upsert customers. Returns
    [(path, answer, body)] of the requests answered 201."""
    def request(t, n):
        if n % 2:
            path, body = "/api/v1/orders/", {
                "channel": 1 + t % 3, "number": "N-%d-%d" % (t, n),
                "amount": "%d.%02d" % (n, t), "currency": "TRY",
                "customer": {"email": "buyer-%d-%d@load.io" % (t, n),
                             "phone_number": "8%02d%06d" % (t, n)}}
        else:
            path, body = "/api/v1/customers/", {
                "channel": 1 + t % 3, "email": "cust-%d-%d@load.io" % (t, n),
                "channel_code": "K-%d-%d" % (t, n), "first_name": "T%d" % t}
        return path, body, 201, lambda answer: (path, answer, body)
    return load(srv, nthreads, at, action, request)


class CrashTests(harness.ServerTestCase):

    def test_kill_9_with_customers_and_orders_loses_nothing_acknowledged(self):
        acked = record_load(self.srv, 6, 1.5, self.srv.kill)
        self.assertIsNotNone(self.srv.proc.poll())
        rc, out = self.srv.check()
        self.assertEqual(rc, 0, "idlink-check after kill -9:\n%s\n%s"
                         % (out, self.srv.last_check_stderr))
        self.srv.start()
        self.assertGreater(len(acked), 8, "too few writes acknowledged before the kill")
        lost = []
        for path, answer, body in acked:
            st, now = self.srv.get("%s%d/" % (path, answer["pk"]))
            if st != 200:
                lost.append((path, answer["pk"], st))
                continue
            for key in ("channel", "email", "channel_code", "number", "amount", "customer"):
                if key in answer and now[key] != answer[key]:
                    lost.append((path, answer["pk"], key, now[key], answer[key]))
            if path.endswith("orders/"):
                st, buyer = self.srv.get("/api/v1/customers/%d/" % answer["customer"])
                if st != 200 or buyer["email"] != body["customer"]["email"]:
                    lost.append((path, answer["pk"], "customer", st))
            # The contact graph knows every acknowledged customer's email.
            email = body["email"] if "email" in body else body["customer"]["email"]
            st, _ = self.srv.post("/api/identify/", {"email": email})
            if st != 200:
                lost.append((path, answer["pk"], "contact of", email, st))
        self.assertEqual(lost, [], "%d of %d acknowledged writes lost or wrong"
                         % (len(lost), len(acked)))
        self.assertStoreChecks()

    def test_kill_9_mid_load_loses_no_acknowledged_write(self):
        acked = write_load(self.srv, 8, 1.5, self.srv.kill, "crash")
        self.assertIsNotNone(self.srv.proc.poll())
        rc, out = self.srv.check()
        self.assertEqual(rc, 0, "idlink-check after kill -9:\n%s\n%s"
                         % (out, self.srv.last_check_stderr))
        self.srv.start()
        assert_all_present(self, self.srv, acked)
        ids = [pid for _, _, pid in acked]
        self.assertEqual(len(set(ids)), len(ids), "an id was handed out twice")
        new = self.srv.identify({"email": "after-crash@x.io"})["contact"]["primaryContactId"]
        self.assertGreater(new, max(ids), "ids must never be reused")
        self.assertStoreChecks()


class StoreFullTests(harness.ServerTestCase):
    # The smallest map the server takes; long emails fill it in a few thousand writes.
    server_args = ("--map-size", "1048576", "--sync", "none")

    def test_map_full_is_507_and_nothing_half_written(self):
        deadline = time.monotonic() + 20
        full = None
        for i in range(20000):
            self.assertLess(time.monotonic(), deadline, "no 507 after %d writes" % i)
            email = "%06d%s@full.io" % (i, "f" * 240)
            phone = str(10 ** 12 + i)
            seq = self.srv.last_seq()
            st, _, body, raw = self.srv.request("POST", "/identify",
                                                {"email": email, "phoneNumber": phone})
            if st != 200:
                full = (i, email, phone, seq, st, body, raw)
                break
        self.assertIsNotNone(full, "1 MiB map never filled")
        i, email, phone, seq, st, body, raw = full
        self.assertGreater(i, 10)
        self.assertEqual(st, 507, raw)
        self.assertIsInstance(body, dict, raw)
        self.assertIsInstance(body.get("detail"), str, raw)
        self.assertEqual(self.srv.last_seq(), seq, "a refused write left a change")
        for req in ({"email": email}, {"phoneNumber": phone}):
            self.assertEqual(self.srv.post("/api/identify/", req),
                             (404, harness.NOT_FOUND), "half-written: %r" % req)
        # Reads still work and the store holds, before and after a restart.
        self.assertTrue(self.srv.healthy())
        first = "%06d%s@full.io" % (0, "f" * 240)
        self.assertEqual(self.srv.post("/api/identify/", {"email": first})[0], 200)
        self.assertStoreChecks()
        self.srv.kill()
        self.srv.start()
        self.assertEqual(self.srv.last_seq(), seq)
        self.assertStoreChecks()


class ConcurrencyTests(harness.ServerTestCase):

    def all_at_once(self, path, req, n=20):
        """n threads POST req to path together; their (status, body) pairs."""
        barrier = threading.Barrier(n, timeout=10)

        def one(i):
            barrier.wait()
            return harness.http_request(self.srv.port, "POST", path, req)[::2]

        return harness.run_threads(one, n)

    def test_20_identical_new_requests_create_one_contact(self):
        seq = self.srv.last_seq()
        results = self.all_at_once("/identify", {"email": "same@x.io", "phoneNumber": "31337"})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1, "exactly one contact: %r" % created)
        expected = (200, identity(created[0], ["same@x.io"], ["31337"], []))
        self.assertEqual(results, [expected] * 20)
        self.assertEqual(len(self.srv.changes_since(seq)), 1)

    def test_20_identical_creates_one_201(self):
        seq = self.srv.last_seq()
        results = self.all_at_once("/api/create/", {"email": "once@x.io", "phoneNumber": "+4242"})
        created = self.srv.created_since(seq)
        self.assertEqual(len(created), 1, created)
        cid = created[0]
        self.assertEqual(sorted(results, key=lambda r: r[0]),
                         [(200, {"detail": "Contact already exists", "Contact_id": cid})] * 19
                         + [(201, {"detail": "Successfully Created !!", "Contact_id": cid})])

    def test_overlapping_identities_end_consistent(self):
        # Every request (e, p) ends with e and p in one identity, and identities only
        # merge: whatever the serial order, the identities are the connected
        # components of the requests' values.
        emails = ["e%d@mix.io" % i for i in range(12)]
        phones = ["7%03d" % i for i in range(12)]
        per_thread = 25
        plans = []
        for t in range(8):
            rnd = random.Random(1000 + t)
            plan = []
            for _ in range(per_thread):
                r = rnd.random()
                e, p = rnd.choice(emails), rnd.choice(phones)
                plan.append({"email": e} if r < 0.1 else {"phoneNumber": p} if r < 0.2
                            else {"email": e, "phoneNumber": p})
            plans.append(plan)
        barrier = threading.Barrier(8, timeout=10)

        def run(t):
            barrier.wait()
            out = []
            for req in plans[t]:
                st, _, body, raw = harness.http_request(self.srv.port, "POST", "/identify", req)
                out.append((st, raw))
            return out

        for per in harness.run_threads(run, 8, timeout=60):
            for st, raw in per:
                self.assertEqual(st, 200, raw)

        parent = {}

        def find(x):
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for plan in plans:
            for req in plan:
                nodes = [("e", req["email"])] if "email" in req else []
                nodes += [("p", req["phoneNumber"])] if "phoneNumber" in req else []
                for n in nodes:
                    find(n)
                if len(nodes) == 2:
                    parent[find(nodes[0])] = find(nodes[1])
        components = {}
        for n in list(parent):
            components.setdefault(find(n), set()).add(n)

        seq = self.srv.last_seq()
        primaries = set()
        for comp in components.values():
            seen = set()
            for kind, value in sorted(comp):
                req = {"email": value} if kind == "e" else {"phoneNumber": value}
                st, body = self.srv.post("/api/identify/", req)
                self.assertEqual(st, 200, (req, body))
                seen.add(body["customerID"])
                c = body["contact"]
                self.assertEqual(set(c["emails"]), {v for k, v in comp if k == "e"}, req)
                self.assertEqual(set(c["phoneNumbers"]), {v for k, v in comp if k == "p"}, req)
                self.assertEqual(len(c["emails"]), len(set(c["emails"])))
                self.assertEqual(len(c["phoneNumbers"]), len(set(c["phoneNumbers"])))
                self.assertEqual(c["secondaryContactIds"], sorted(c["secondaryContactIds"]))
            self.assertEqual(len(seen), 1, "one component, one identity: %r" % seen)
            primaries |= seen
        self.assertEqual(len(primaries), len(components), "distinct components share a primary")
        # No chains: every contact names a primary directly.
        for cid in self.srv.created_since(0):
            st, row = self.srv.get("/contacts/%d" % cid)
            self.assertEqual(st, 200)
            if row["linkPrecedence"] == "secondary":
                self.assertIn(str(row["linkedId"]), primaries, row)
                st, lrow = self.srv.get("/contacts/%d" % row["linkedId"])
                self.assertEqual(lrow["linkPrecedence"], "primary", (row, lrow))
            else:
                self.assertEqual(row["linkPrecedence"], "primary")
                self.assertIn(str(cid), primaries)
        self.assertEqual(self.srv.last_seq(), seq, "lookups changed the store")
        self.assertStoreChecks()


if __name__ == "__main__":
    unittest.main()
