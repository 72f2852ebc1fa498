"""Tokens with roles (SPEC section 11): each role on each kind of route,
missing and wrong tokens as DRF answers them, a token file edited then
SIGHUP, and the refusal to listen beyond loopback without tokens."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness

TOKENS = """# token role name
r3ad-t0ken read reporter
wr1te-t0ken write checkout
adm1n-t0ken admin ops

"""

NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
INVALID = {"detail": "Invalid token."}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}


class TokenTests(harness.ServerTestCase):
    def setUp(self):
        fd, self.token_file = tempfile.mkstemp(prefix="idlink-e2e-tokens-")
        os.write(fd, TOKENS.encode())
        os.close(fd)
        self.addCleanup(os.unlink, self.token_file)
        self.srv = self.start_server(extra_args=("--token-file", self.token_file))

    def send(self, method, path, body=None, token=None, scheme="Token"):
        headers = {"Authorization": "%s %s" % (scheme, token)} if token else {}
        status, hdrs, parsed, raw = self.srv.request(method, path, body, headers=headers)
        return status, hdrs, parsed

    def test_each_role_on_each_kind_of_route(self):
        reads = [("GET", "/changes", None), ("GET", "/blocklist", None),
                 ("HEAD", "/changes", None),
                 ("POST", "/api/identify/", {"email": "nobody@x.io"}),
                 ("GET", "/api/v1/customers/", None)]
        writes = [("POST", "/identify", {"email": "a@x.io"}),
                  ("GET", "/api/delete/customer?id=999", None),
                  ("POST", "/api/v1/products/", {"name": "P", "price": "1.00",
                                                 "purchased": "2024-01-01", "warranty": 0}),
                  ("DELETE", "/contacts/999", None)]
        admin = [("POST", "/erasure", {"email": "nobody@x.io"})]
        for token, allowed in (("r3ad-t0ken", reads), ("wr1te-t0ken", reads + writes),
                               ("adm1n-t0ken", reads + writes + admin)):
            for method, path, body in reads + writes + admin:
                with self.subTest(token=token, method=method, path=path):
                    status, _, parsed = self.send(method, path, body, token)
                    if (method, path, body) in allowed:
                        self.assertNotIn(status, (401, 403), parsed)
                    else:
                        self.assertEqual((status, parsed), (403, FORBIDDEN))

    def test_missing_and_wrong_tokens(self):
        status, headers, body = self.send("GET", "/changes")
        self.assertEqual((status, body), (401, NO_CREDENTIALS))
        self.assertEqual(headers.get("www-authenticate"), "Token")
        for token in ("nope", "r3ad-t0ke", "r3ad-t0ken0", "R3AD-T0KEN"):
            status, headers, body = self.send("GET", "/changes", token=token)
            self.assertEqual((status, body), (401, INVALID), token)
        status, _, body = self.send("GET", "/changes", token="r3ad-t0ken", scheme="Bearer")
        self.assertEqual(status, 200, body)
        status, _, body = self.send("GET", "/changes", token="r3ad-t0ken", scheme="Basic")
        self.assertEqual((status, body), (401, NO_CREDENTIALS))
        # /healthz answers anyone; nothing was written by the refused requests.
        status, _, body = self.send("GET", "/healthz")
        self.assertEqual(status, 200, body)
        status, _, _ = self.send("POST", "/identify", {"email": "a@x.io"}, "r3ad-t0ken")
        self.assertEqual(status, 403)
        self.assertEqual(self.send("GET", "/changes", token="r3ad-t0ken")[2]["results"], [])

    def test_refused_requests_are_logged_and_counted_by_route_template(self):
        folder = tempfile.mkdtemp(prefix="idlink-e2e-authlog-")
        self.addCleanup(shutil.rmtree, folder, True)
        log = os.path.join(folder, "access.log")
        srv = self.start_server(extra_args=("--token-file", self.token_file,
                                            "--access-log", log))
        refused = [("GET", "/contacts/7", None, "/contacts/{id}", 401),
                   ("POST", "/identify", {"email": "a@x.io"}, "/identify", 403),
                   ("GET", "/api/v1/customers/12/", None, "/api/v1/customers/{pk}/", 401),
                   ("POST", "/api/v1/customers/import/", None, "/api/v1/customers/import/",
                    403),
                   ("GET", "/api/get/customer", None, "/api/get/customer", 401),
                   ("GET", "/nowhere", None, None, 401)]
        for method, path, body, _, status in refused:
            token = {"Authorization": "Token r3ad-t0ken"} if status == 403 else {}
            self.assertEqual(srv.request(method, path, body, headers=token)[0], status, path)
        # A request is counted just after its answer has gone: on a busy
        # machine the last counts may trail the answers by a moment.
        deadline = time.time() + 5
        while True:
            metrics = srv.request("GET", "/metrics",
                                  headers={"Authorization": "Token r3ad-t0ken"})[3].decode()
            if metrics.count('status="40') >= len(refused) or time.time() > deadline:
                break
            time.sleep(0.05)
        srv.stop()
        with open(log) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        logged = [(l["method"], l["route"], l["status"]) for l in lines
                  if l["route"] not in ("/healthz", "/metrics")]
        self.assertEqual(sorted(logged, key=str),
                         sorted([(m, tpl, st) for m, _, _, tpl, st in refused], key=str))
        self.assertIn('idlink_http_requests_total{route="/contacts/{id}",method="GET",'
                      'status="401"} 1', metrics)
        self.assertIn('idlink_http_requests_total{route="/api/v1/customers/import/",'
                      'method="POST",status="403"} 1', metrics)

    def test_token_file_edited_then_sighup(self):
        self.assertEqual(self.send("GET", "/changes", token="n3w-t0ken")[0], 401)
        with open(self.token_file, "w") as f:
            f.write("n3w-t0ken admin newcomer\n")
        os.kill(self.srv.proc.pid, signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline and self.send("GET", "/changes", token="n3w-t0ken")[0] != 200:
            time.sleep(0.05)
        self.assertEqual(self.send("GET", "/changes", token="n3w-t0ken")[0], 200)
        self.assertEqual(self.send("GET", "/changes", token="r3ad-t0ken")[0], 401)
        # A file broken on a later SIGHUP keeps the tokens as they were.
        with open(self.token_file, "w") as f:
            f.write("only-a-token\n")
        os.kill(self.srv.proc.pid, signal.SIGHUP)
        time.sleep(0.3)
        self.assertEqual(self.send("GET", "/changes", token="n3w-t0ken")[0], 200)
        self.assertIn("the tokens stay as they were", self.srv.stderr())


class StartTests(unittest.TestCase):
    def run_idlinkd(self, *args):
        return subprocess.run([harness.idlinkd_path(), *args], capture_output=True, text=True,
                              timeout=10, env=harness.clean_env())

    def test_beyond_loopback_needs_tokens_or_insecure(self):
        out = self.run_idlinkd("--listen", "0.0.0.0:%d" % harness.free_port())
        self.assertEqual(out.returncode, 2)
        self.assertIn("beyond loopback", out.stderr)
        self.assertIn("--token-file", out.stderr)

    def test_insecure_from_the_environment_takes_only_a_clear_yes_or_no(self):
        listen = ("--listen", "0.0.0.0:%d" % harness.free_port(), "--data", "/nonexistent/x")
        for value in ("false", "no", "off", "0", "False"):
            with self.subTest(IDLINK_INSECURE=value):
                out = subprocess.run([harness.idlinkd_path(), *listen], capture_output=True,
                                     text=True, timeout=10,
                                     env=harness.clean_env({"IDLINK_INSECURE": value}))
                self.assertEqual(out.returncode, 2)
                self.assertIn("beyond loopback", out.stderr)
        for value in ("maybe", "2", "y"):
            with self.subTest(IDLINK_INSECURE=value):
                out = subprocess.run([harness.idlinkd_path(), *listen], capture_output=True,
                                     text=True, timeout=10,
                                     env=harness.clean_env({"IDLINK_INSECURE": value}))
                self.assertEqual(out.returncode, 2)
                self.assertIn("IDLINK_INSECURE: '%s' is neither" % value, out.stderr)

    def test_bad_token_file_is_refused_naming_the_line(self):
        fd, path = tempfile.mkstemp(prefix="idlink-e2e-tokens-")
        os.write(fd, b"good-token read\nbad-token superuser\n")
        os.close(fd)
        self.addCleanup(os.unlink, path)
        out = self.run_idlinkd("--token-file", path)
        self.assertEqual(out.returncode, 2)
        self.assertIn("%s:2:" % path, out.stderr)


if __name__ == "__main__":
    unittest.main()
