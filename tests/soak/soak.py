#!/usr/bin/python3
"""The soak test (SPEC section 11; `make soak`, not part of `make test`).

CYCLES times (default 100): start idlinkd on one data folder with the Redis
mirror on, put it under a write load (identify requests, customers and
orders) from several clients, kill it with SIGKILL at a random moment, start
it again, and check that every write it acknowledged is there, that
idlink-check finds the store clean, and, once the mirror has caught up, that
Redis matches the store (idlink-check --redis). Stops at the first failure,
printing the cycle and what was lost.

Environment: SOAK_CYCLES (100), SOAK_THREADS (6), SOAK_SEED (random, printed).
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402
import resp  # noqa: E402
from test_durability import load  # noqa: E402


def request_for(cycle):
    """Writer t's n-th request: an identify, a customer or an order, each
    acknowledged answer kept as (kind, key, expected)."""
    def request(t, n):
        tag = "c%d-%d-%d" % (cycle, t, n)
        kind = n % 3
        if kind == 0:
            email = tag + "@soak.io"
            return ("/identify", {"email": email, "phoneNumber": "7%02d%04d%03d" %
                                  (t, n, cycle)}, 200,
                    lambda body: ("contact", email, body["contact"]["primaryContactId"]))
        if kind == 1:
            return ("/api/v1/customers/", {"channel": 1 + t % 3, "email": tag + "@cust.io",
                                           "channel_code": tag}, 201,
                    lambda body: ("customer", body["pk"], tag))
        return ("/api/v1/orders/", {"channel": 1, "number": tag, "amount": "10.50",
                                    "currency": "TRY", "customer": {"email": tag + "@ord.io"}},
                201, lambda body: ("order", body["pk"], tag))
    return request


def missing(srv, acked):
    lost = []
    for kind, key, want in acked:
        if kind == "contact":
            st, body = srv.post("/api/identify/", {"email": key})
            ok = st == 200 and body.get("customerID") == str(want)
        elif kind == "customer":
            st, body = srv.get("/api/v1/customers/%d/" % key)
            ok = st == 200 and body.get("channel_code") == want
        else:
            st, body = srv.get("/api/v1/orders/%d/" % key)
            ok = st == 200 and body.get("number") == want
        if not ok:
            lost.append((kind, key, want, st, body))
    return lost


def wait_mirror(srv, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, body = srv.get("/healthz")
        mirror = body.get("mirror", {}) if st == 200 else {}
        if mirror.get("state") == "up" and mirror.get("lag_entries", 1) == 0:
            return True
        time.sleep(0.1)
    return False


def main():
    cycles = int(os.environ.get("SOAK_CYCLES", "100"))
    threads = int(os.environ.get("SOAK_THREADS", "6"))
    seed = int(os.environ.get("SOAK_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    print("soak: %d cycles, %d writers, SOAK_SEED=%d" % (cycles, threads, seed), flush=True)
    data = tempfile.mkdtemp(prefix="idlink-soak-")
    redis = resp.RedisServer()
    total = 0
    try:
        for cycle in range(1, cycles + 1):
            srv = harness.Server(data_dir=data, extra_args=("--redis", redis.url(),
                                                            "--access-log", "off"))
            at = rng.uniform(0.2, 1.5)
            acked = load(srv, threads, at, lambda: os.kill(srv.proc.pid, signal.SIGKILL),
                         request_for(cycle))
            srv.proc.wait(10)
            srv.close()
            again = harness.Server(data_dir=data, extra_args=("--redis", redis.url(),
                                                              "--access-log", "off"))
            try:
                lost = missing(again, acked)
                if lost:
                    print("cycle %d: %d of %d acknowledged writes lost, e.g. %r"
                          % (cycle, len(lost), len(acked), lost[:3]))
                    return 1
                if not wait_mirror(again):
                    print("cycle %d: the mirror did not catch up" % cycle)
                    return 1
                again.stop()
                rc, out = again.check()
                if rc != 0:
                    print("cycle %d: idlink-check --data: %s %s" % (cycle, out,
                                                                   again.last_check_stderr))
                    return 1
                out = subprocess.run([harness.check_path(), "--data", data, "--redis",
                                      redis.url()], capture_output=True, text=True, timeout=120,
                                     env=harness.clean_env())
                if out.returncode != 0:
                    print("cycle %d: idlink-check --redis: %s %s" % (cycle, out.stdout,
                                                                    out.stderr))
                    return 1
            finally:
                again.close()
            total += len(acked)
            print("cycle %d: killed after %.2f s, %d acknowledged writes all there, store "
                  "and Redis clean" % (cycle, at, len(acked)), flush=True)
        print("soak: %d cycles, %d acknowledged writes, none lost" % (cycles, total))
        return 0
    finally:
        redis.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
