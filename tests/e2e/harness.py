"""Black-box harness for idlink's end-to-end tests.

Starts the real `idlinkd` on a free loopback port with a fresh temporary --data
folder, talks HTTP to it over 127.0.0.1 and runs `idlink-check` on its store.
Python 3 standard library only.

Binaries: $IDLINKD and $IDLINK_CHECK, by default ../../build/idlinkd and
../../build/idlink-check relative to this file.

Typical use in a test:

    srv = harness.Server()
    self.addCleanup(srv.close)
    status, headers, body, raw = srv.request("POST", "/identify", {"email": "a@b.c"})
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.normpath(os.path.join(HERE, "..", "..", "build"))

READY_TIMEOUT = 10.0
REQUEST_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
NOT_FOUND = {"detail": "Not found."}
REQUIRED = {"detail": "email or phoneNumber is required"}


def idlinkd_path():
    return os.environ.get("IDLINKD") or os.path.join(BUILD, "idlinkd")


def check_path():
    return os.environ.get("IDLINK_CHECK") or os.path.join(BUILD, "idlink-check")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra=None):
    """The test process's environment without any IDLINK_* variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDLINK_")}
    if extra:
        env.update(extra)
    return env


def http_request(port, method, path, body=None, headers=None, raw=None,
                 timeout=REQUEST_TIMEOUT):
    """One HTTP request on a fresh connection to 127.0.0.1:port.

    body: a Python value sent as JSON; raw: bytes sent as they are. Either gets
    Content-Type: application/json unless headers names a Content-Type (a value
    of None removes the header). Returns (status, headers with lower-case
    names, parsed JSON or None, raw body bytes)."""
    hdrs = {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode("utf-8")
    elif raw is not None:
        payload = raw
    if payload is not None:
        hdrs["Content-Type"] = "application/json"
    for k, v in (headers or {}).items():
        for old in [h for h in hdrs if h.lower() == k.lower()]:
            del hdrs[old]
        if v is not None:
            hdrs[k] = v
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        rh = {}
        for k, v in resp.getheaders():
            k = k.lower()
            rh[k] = rh[k] + ", " + v if k in rh else v
        try:
            parsed = json.loads(data.decode("utf-8")) if data else None
        except ValueError:
            parsed = None
        return resp.status, rh, parsed, data
    finally:
        conn.close()


def raw_exchange(port, data, timeout=10):
    """Send bytes on a fresh connection, read until the server closes or timeout.

    Returns (status or None, raw response bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    chunks = []
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    resp = b"".join(chunks)
    m = re.match(rb"^HTTP/1\.[01] (\d{3}) ", resp)
    return (int(m.group(1)) if m else None), resp


class ServerError(Exception):
    pass


class Server:
    """One idlinkd process on a free loopback port and its data folder.

    data_dir: None makes a fresh temporary folder that close() removes; a
    given folder is left in place. extra_args: more command line options.
    env: extra environment variables. listen_flag/data_flag: pass --listen and
    --data on the command line (turn off to test the environment variables;
    then set IDLINK_LISTEN yourself, self.port must match it)."""

    def __init__(self, data_dir=None, extra_args=(), env=None, start=True,
                 listen_flag=True, data_flag=True, port=None, cwd=None):
        self.owned_dirs = []
        self.logdir = tempfile.mkdtemp(prefix="idlink-e2e-log-")
        self.owned_dirs.append(self.logdir)
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="idlink-e2e-data-")
            self.owned_dirs.append(data_dir)
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.listen_flag = listen_flag
        self.data_flag = data_flag
        self.fixed_port = port
        self.cwd = cwd or self.logdir
        self.port = None
        self.proc = None
        self.stderr_path = None
        self.starts = 0
        self.last_check_stderr = ""
        if start:
            try:
                self.start()
            except BaseException:
                self.close()
                raise

    # ---- process control -------------------------------------------------

    def command(self):
        cmd = [idlinkd_path()]
        if self.listen_flag:
            cmd += ["--listen", "127.0.0.1:%d" % self.port]
        if self.data_flag:
            cmd += ["--data", self.data_dir]
        return cmd + self.extra_args

    def start(self):
        """Start idlinkd (again, on the same data folder) and wait for /healthz."""
        if self.proc is not None and self.proc.poll() is None:
            raise ServerError("server already running")
        binary = idlinkd_path()
        if not os.access(binary, os.X_OK):
            raise ServerError("idlinkd binary not found or not executable: %s" % binary)
        self.port = self.fixed_port or free_port()
        self.starts += 1
        self.stderr_path = os.path.join(self.logdir, "stderr.%d.log" % self.starts)
        with open(self.stderr_path, "wb") as errf:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=errf, env=clean_env(self.env), cwd=self.cwd)
        self.wait_ready()

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerError("idlinkd exited with %s before it was ready; cmd %r; "
                                  "stderr:\n%s" % (rc, self.command(), self.stderr()))
            try:
                status, _, _, _ = http_request(self.port, "GET", "/healthz", timeout=2)
                if status == 200:
                    return
                last = "status %d" % status
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        raise ServerError("idlinkd not ready after %.0f s (last: %s); cmd %r; stderr:\n%s"
                          % (timeout, last, self.command(), self.stderr()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, return the exit code (SIGKILL and raise after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise ServerError("idlinkd did not exit %.0f s after SIGTERM; stderr:\n%s"
                                  % (timeout, self.stderr()))
        return self.proc.returncode

    def kill(self):
        """SIGKILL and reap; returns the exit status (negative signal number)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        return self.proc.returncode

    def restart(self):
        """SIGTERM, then start again on the same data folder. Returns the exit code."""
        rc = self.stop()
        self.start()
        return rc

    def close(self):
        """Stop the server if it runs (SIGTERM; SIGKILL if it will not exit) and
        remove owned folders. Raises when the server's stderr holds a sanitizer
        report: every test then also checks a clean, leak-free shutdown."""
        report = None
        try:
            if self.running():
                try:
                    self.stop()
                except ServerError:
                    pass
            report = self.sanitizer_report()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.kill()
            for d in self.owned_dirs:
                shutil.rmtree(d, ignore_errors=True)
            self.owned_dirs = []
        if report:
            raise AssertionError("idlinkd sanitizer report:\n" + report)

    def sanitizer_report(self):
        """The AddressSanitizer/UBSan lines of every run's stderr, or None."""
        found = []
        for n in range(1, self.starts + 1):
            path = os.path.join(self.logdir, "stderr.%d.log" % n)
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            if "Sanitizer" in text or "runtime error:" in text:
                found.append(text[-4000:])
        return "\n".join(found) or None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- HTTP ---------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, raw=None,
                timeout=REQUEST_TIMEOUT):
        return http_request(self.port, method, path, body=body, headers=headers,
                            raw=raw, timeout=timeout)

    def post(self, path, body):
        """POST a JSON body; returns (status, parsed JSON)."""
        status, _, parsed, _ = self.request("POST", path, body)
        return status, parsed

    def get(self, path):
        status, _, parsed, _ = self.request("GET", path)
        return status, parsed

    def identify(self, body):
        """POST /identify expecting 200; returns the parsed body."""
        status, _, parsed, raw = self.request("POST", "/identify", body)
        if status != 200:
            raise AssertionError("POST /identify %r -> %d %r" % (body, status, raw))
        return parsed

    def last_seq(self):
        status, _, parsed, raw = self.request("GET", "/changes?limit=1")
        if status != 200 or not isinstance(parsed, dict) or "last_seq" not in parsed:
            raise AssertionError("GET /changes?limit=1 -> %d %r" % (status, raw))
        return parsed["last_seq"]

    def changes_since(self, seq, max_pages=100):
        """Every change-log entry with a sequence number above seq, oldest first."""
        out = []
        for _ in range(max_pages):
            status, _, parsed, raw = self.request(
                "GET", "/changes?after=%d&limit=1000" % seq)
            if status != 200:
                raise AssertionError("GET /changes?after=%d -> %d %r" % (seq, status, raw))
            results = parsed["results"]
            if not results:
                return out
            out.extend(results)
            seq = results[-1]["seq"]
        raise AssertionError("change log longer than %d pages" % max_pages)

    def created_since(self, seq):
        """Ids of the contacts created after change seq, in log order."""
        return [c["contact"] for c in self.changes_since(seq)
                if c.get("kind") == "contact.created"]

    def healthy(self):
        try:
            status, _, parsed, _ = self.request("GET", "/healthz", timeout=5)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200 and isinstance(parsed, dict) and parsed.get("status") == "ok"

    # ---- idlink-check -------------------------------------------------------

    def check(self, timeout=60):
        """Run `idlink-check --data DIR`; returns (exit code, stdout)."""
        binary = check_path()
        if not os.access(binary, os.X_OK):
            raise ServerError("idlink-check binary not found or not executable: %s" % binary)
        p = subprocess.run([binary, "--data", self.data_dir], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout, env=clean_env())
        self.last_check_stderr = p.stderr.decode("utf-8", "replace")
        return p.returncode, p.stdout.decode("utf-8", "replace")


def identity(primary, emails, phones, secondaries):
    """The body section 2 of SPEC.md fixes for POST /identify."""
    return {"contact": {"primaryContactId": primary, "emails": list(emails),
                        "phoneNumbers": list(phones),
                        "secondaryContactIds": list(secondaries)}}


class ServerTestCase(unittest.TestCase):
    """A test case with a fresh server per test (self.srv) and helpers."""

    server_args = ()
    maxDiff = None

    def setUp(self):
        self.srv = self.start_server(extra_args=self.server_args)

    def start_server(self, **kw):
        srv = Server(**kw)
        self.addCleanup(srv.close)
        return srv

    def assertStoreChecks(self, srv=None):
        srv = srv or self.srv
        rc, out = srv.check()
        self.assertEqual(rc, 0, "idlink-check failed:\nstdout:\n%s\nstderr:\n%s"
                         % (out, srv.last_check_stderr))
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "idlink-check should print one summary line, got %r"
                         % out)

    def assertFieldErrors(self, body, field=None, raw=None):
        """DRF field errors: a non-empty object of lists of non-empty strings."""
        msg = "not DRF field errors: %r" % (raw if raw is not None else body)
        self.assertIsInstance(body, dict, msg)
        self.assertTrue(body, msg)
        self.assertNotIn("detail", body, msg)
        for k, v in body.items():
            self.assertIsInstance(v, list, msg)
            self.assertTrue(v, msg)
            for m in v:
                self.assertIsInstance(m, str, msg)
                self.assertTrue(m.strip(), msg)
        if field is not None:
            self.assertIn(field, body, msg)

    def assertTimestamp(self, value, what=""):
        self.assertIsInstance(value, str, what)
        self.assertRegex(value, TIMESTAMP_RE, what)

    def assertJsonResponse(self, headers, raw):
        ct = headers.get("content-type", "")
        self.assertTrue(ct.lower().startswith("application/json"),
                        "Content-Type %r, body %r" % (ct, raw))


def run_threads(fn, n, timeout=60):
    """Run fn(i) on n threads; return results in order; re-raise the first error."""
    results = [None] * n
    errors = []

    def wrap(i):
        try:
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001 - handed back to the caller
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise AssertionError("threads still running after %.0f s" % timeout)
    if errors:
        raise errors[0]
    return results


class WriteLoad:
    """threads clients POSTing /identify for seconds, in the background;
    body(t, i) makes client t's i-th body. join() waits and returns the
    statuses that were not 200."""

    def __init__(self, srv, seconds, body, threads=4):
        self.stop = time.monotonic() + seconds
        self.failures = []
        self.threads = [threading.Thread(target=self._client, args=(srv, t, body))
                        for t in range(threads)]
        for t in self.threads:
            t.start()

    def _client(self, srv, t, body):
        i = 0
        while time.monotonic() < self.stop:
            st, _ = srv.post("/identify", body(t, i))
            if st != 200:
                self.failures.append(st)
            i += 1

    def running(self):
        return time.monotonic() < self.stop

    def join(self):
        for t in self.threads:
            t.join()
        return self.failures
