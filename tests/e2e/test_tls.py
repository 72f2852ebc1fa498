"""HTTPS (SPEC section 11): --tls-cert and --tls-key serve TLS that a client
checking the certificate accepts, with everything plain HTTP has (keep-alive,
large bodies and answers, the per-address limits); the loopback port the TLS
front relays to takes no other connection; bad files and a taken address stop
idlinkd at start with a message naming them; slow and broken clients do not
hold the server."""

import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile
import shutil
import time
import unittest

import harness


def make_certificate(folder, name="server"):
    """A self-signed certificate for 127.0.0.1 (and its key), by openssl."""
    cert, key = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class TlsServer(harness.Server):
    """idlinkd serving HTTPS with cert and key; ready when /healthz answers
    over TLS to a client that checks the certificate."""

    def __init__(self, cert, key, extra_args=()):
        self.context = ssl.create_default_context(cafile=cert)
        super().__init__(extra_args=["--tls-cert", cert, "--tls-key", key] + list(extra_args))

    def connection(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context,
                                           timeout=timeout)

    def wait_ready(self, timeout=harness.READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise harness.ServerError("idlinkd exited with %s: %s"
                                          % (self.proc.returncode, self.stderr()))
            try:
                conn = self.connection(2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    self.kill()
                    raise harness.ServerError("no HTTPS after %.0f s: %s"
                                              % (timeout, self.stderr()))
                time.sleep(0.05)

    def exchange(self, conn, method, path, body=None, headers=None):
        """One request on conn; (status, parsed JSON body)."""
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")

    def backend_ports(self):
        """The TCP ports idlinkd listens on besides its own --listen port."""
        inodes = set()
        for fd in os.listdir("/proc/%d/fd" % self.proc.pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (self.proc.pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        ports = []
        with open("/proc/%d/net/tcp" % self.proc.pid) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                port = int(cols[1].split(":")[1], 16)
                if cols[3] == "0A" and cols[9] in inodes and port != self.port:
                    ports.append(port)
        return ports


def raw_tls(port, rcvbuf=None):
    """A TLS client over a plain socket and memory buffers, so that a test
    decides what goes on the wire: (socket, SSLObject, incoming, outgoing)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            incoming.write(data)
    sock.sendall(outgoing.read())
    return sock, obj, incoming, outgoing


def cpu_seconds(pid):
    """User and system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TlsTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="idlink-e2e-tls-")
        cls.cert, cls.key = make_certificate(cls.dir)
        cls.other_cert, cls.other_key = make_certificate(cls.dir, "other")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def serve(self, *extra):
        srv = TlsServer(self.cert, self.key, extra)
        self.addCleanup(srv.close)
        return srv

    def refused_start(self, cert, key, listen=None):
        """idlinkd's exit code and stderr when it cannot start."""
        args = [harness.idlinkd_path(), "--listen", listen or "127.0.0.1:%d" % harness.free_port(),
                "--data", os.path.join(self.dir, "refused"), "--tls-cert", cert,
                "--tls-key", key]
        out = subprocess.run(args, capture_output=True, text=True, timeout=20,
                             env=harness.clean_env())
        return out.returncode, out.stderr

    def test_a_client_checking_the_certificate_is_served_on_one_connection(self):
        srv = self.serve()
        conn = srv.connection()
        status, body = srv.exchange(conn, "POST", "/identify",
                                    json.dumps({"email": "tls@x.io", "phoneNumber": "123"}),
                                    {"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        self.assertEqual(body["contact"]["emails"], ["tls@x.io"])
        primary = body["contact"]["primaryContactId"]
        # The same connection carries more requests (keep-alive through the relay).
        sock = conn.sock
        status, body = srv.exchange(conn, "POST", "/identify",
                                    json.dumps({"email": "other@x.io", "phoneNumber": "123"}),
                                    {"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        self.assertEqual(body["contact"]["primaryContactId"], primary)
        self.assertEqual(body["contact"]["emails"], ["tls@x.io", "other@x.io"])
        status, doc = srv.exchange(conn, "GET", "/openapi.json")
        self.assertEqual(status, 200)
        self.assertIn("/identify", doc["paths"])
        self.assertIs(conn.sock, sock)
        self.assertIn(sock.version(), ("TLSv1.2", "TLSv1.3"))
        conn.close()

    def test_large_bodies_cross_the_relay_both_ways(self):
        srv = self.serve()
        conn = srv.connection(30)
        # A body near --max-body (1 MiB by default), in many TLS records.
        padded = '{"email": "big@x.io"' + " " * (1000 * 1000) + "}"
        status, body = srv.exchange(conn, "POST", "/identify", padded,
                                    {"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        self.assertEqual(body["contact"]["emails"], ["big@x.io"])
        # Past it: the 413 comes back over TLS.
        status, body = srv.exchange(conn, "POST", "/identify", padded + " " * (100 * 1000),
                                    {"Content-Type": "application/json"})
        self.assertEqual(status, 413)
        conn.close()
        # An answer of many records: a page of 300 customers.
        conn = srv.connection(30)
        for i in range(300):
            status, _ = srv.exchange(conn, "POST", "/api/v1/customers/",
                                     json.dumps({"channel": 1, "channel_code": "c%d" % i,
                                                 "email": "c%d@x.io" % i,
                                                 "first_name": "N" * 50,
                                                 "last_name": "L" * 50}),
                                     {"Content-Type": "application/json"})
            self.assertEqual(status, 201)
        status, page = srv.exchange(conn, "GET", "/api/v1/customers/?limit=1000")
        self.assertEqual(status, 200)
        self.assertEqual(page["count"], 300)
        self.assertEqual(sorted(c["channel_code"] for c in page["results"]),
                         sorted("c%d" % i for i in range(300)))
        conn.close()

    def test_concurrent_clients(self):
        srv = self.serve()

        def client(i):
            conn = srv.connection(30)
            seen = []
            for j in range(10):
                status, body = srv.exchange(conn, "POST", "/identify",
                                            json.dumps({"email": "t%d-%d@x.io" % (i, j),
                                                        "phoneNumber": "9%d" % i}),
                                            {"Content-Type": "application/json"})
                self.assertEqual(status, 200)
                seen.append(body["contact"]["primaryContactId"])
            conn.close()
            return seen

        results = harness.run_threads(client, 16)
        for seen in results:
            self.assertEqual(len(set(seen)), 1)  # one identity per phone
        conn = srv.connection()
        status, health = srv.exchange(conn, "GET", "/healthz")
        self.assertEqual(health["contacts"], 160)

    def test_a_client_trusting_another_certificate_refuses_this_one(self):
        srv = self.serve()
        strict = ssl.create_default_context(cafile=self.other_cert)
        with self.assertRaises(ssl.SSLCertVerificationError):
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
                with strict.wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass
        # And TLS below 1.2 is not offered.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(self.cert)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
                with old.wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass
        self.assertEqual(srv.exchange(srv.connection(), "GET", "/healthz")[0], 200)

    def test_plain_http_slow_and_broken_clients_get_nothing_and_hold_nothing(self):
        srv = self.serve()
        # Plain HTTP on the TLS port: no answer in the clear, and the
        # connection ends.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while True:
                    chunk = raw.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        self.assertNotIn(b"HTTP/1.1", data)
        # Garbage, then a close in the middle of a handshake.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            raw.sendall(os.urandom(3000))
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        # A client that connects and says nothing is closed once the
        # handshake's time (3 s) is up.
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as raw:
            self.assertEqual(raw.recv(100), b"")
        self.assertLess(time.monotonic() - started, 8)
        # A client that completes the handshake and never sends a request is
        # closed by the HTTP server's own head timeout.
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as raw:
            with srv.context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                try:
                    self.assertEqual(tls.recv(100), b"")
                except (ssl.SSLEOFError, ConnectionResetError):
                    pass
        self.assertLess(time.monotonic() - started, 10)
        # Through all of that the server serves.
        self.assertEqual(srv.exchange(srv.connection(), "GET", "/healthz")[0], 200)

    def test_a_tcp_half_close_without_close_notify_still_gets_the_answer(self):
        srv = self.serve()
        for notify in (False, True):
            sock, obj, incoming, outgoing = raw_tls(srv.port)
            obj.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            sock.sendall(outgoing.read())
            if notify:
                try:
                    obj.unwrap()
                except ssl.SSLWantReadError:
                    pass
                sock.sendall(outgoing.read())
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                incoming.write(data)
                try:
                    while True:
                        chunk = obj.read(65536)
                        if not chunk:
                            break
                        answer += chunk
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    pass
            sock.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK"), (notify, answer[:80]))
            self.assertIn(b'"status":"ok"', answer)

    def test_a_client_that_stops_reading_costs_no_cpu(self):
        # Many pipelined requests, close_notify, and nothing read: civetweb
        # answers and closes while the answers wait for the client. The relay
        # must wait for the client without spinning, then give up.
        srv = self.serve()
        sock, obj, incoming, outgoing = raw_tls(srv.port, rcvbuf=4096)
        self.addCleanup(sock.close)
        obj.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 20000)
        sock.sendall(outgoing.read())
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(outgoing.read())
        time.sleep(1.5)  # civetweb answers what it can and closes
        before = cpu_seconds(srv.proc.pid)
        time.sleep(3)
        self.assertLess(cpu_seconds(srv.proc.pid) - before, 0.5)
        self.assertEqual(srv.exchange(srv.connection(), "GET", "/healthz")[0], 200)

    def test_the_loopback_port_behind_the_front_takes_no_one_else(self):
        srv = self.serve()
        ports = srv.backend_ports()
        self.assertEqual(len(ports), 1, ports)
        status, _, body, _ = harness.http_request(ports[0], "GET", "/healthz")
        self.assertEqual(status, 403)
        self.assertEqual(body, {
            "detail": "This port takes connections from idlinkd's HTTPS front only: use the "
                      "HTTPS address."})
        status, _, _, _ = harness.http_request(ports[0], "POST", "/identify",
                                                 body={"email": "sneak@x.io"})
        self.assertEqual(status, 403)
        status, health = srv.exchange(srv.connection(), "GET", "/healthz")
        self.assertEqual(health["contacts"], 0)

    def test_the_per_address_connection_limit_counts_tls_clients(self):
        srv = self.serve("--peer-connections", "2")
        held = [srv.connection() for _ in range(2)]
        for conn in held:
            self.assertEqual(srv.exchange(conn, "GET", "/healthz")[0], 200)
        third = srv.connection()
        status, body = srv.exchange(third, "GET", "/healthz")
        self.assertEqual(status, 503)
        self.assertEqual(body, {"detail": "Too many connections from your address (at most 2)."})
        for conn in held:
            conn.close()
        # Given back when they close.
        deadline = time.monotonic() + 5
        while True:
            status, _ = srv.exchange(srv.connection(), "GET", "/healthz")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(status, 200)

    def test_tokens_and_the_access_log_work_over_tls(self):
        tokens = os.path.join(self.dir, "tokens")
        with open(tokens, "w") as f:
            f.write("sekrit-read-token read reader\n")
        log = os.path.join(self.dir, "access.log")
        srv = self.serve("--token-file", tokens, "--access-log", log)
        conn = srv.connection()
        status, body = srv.exchange(conn, "GET", "/metrics")
        self.assertEqual(status, 401)
        conn.request("GET", "/metrics", headers={"Authorization": "Token sekrit-read-token"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertIn(b"idlink_http_requests_total", resp.read())
        srv.stop()
        with open(log) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        self.assertEqual([l["status"] for l in lines if l["route"] != "/healthz"], [401, 200])
        self.assertIn(("/metrics", 200, "reader"),
                      [(l["route"], l["status"], l["token"]) for l in lines])

    def test_stop_with_clients_connected_is_prompt_and_clean(self):
        srv = self.serve()
        idle = srv.connection()
        self.assertEqual(srv.exchange(idle, "GET", "/healthz")[0], 200)
        half = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        self.addCleanup(half.close)
        half.sendall(b"\x16\x03\x01")
        started = time.monotonic()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.monotonic() - started, 10)
        self.assertIn("stopped", srv.stderr())

    def test_a_key_of_another_certificate_is_refused(self):
        code, err = self.refused_start(self.cert, self.other_key)
        self.assertEqual(code, 1)
        self.assertIn("--tls-key %s: not the unencrypted PEM private key of the certificate"
                      % self.other_key, err)

    def test_an_encrypted_key_is_refused_without_asking_for_its_passphrase(self):
        locked = os.path.join(self.dir, "locked.key")
        subprocess.run(["openssl", "pkey", "-in", self.key, "-aes256", "-passout", "pass:s3cret",
                        "-out", locked], check=True, capture_output=True)
        code, err = self.refused_start(self.cert, locked)
        self.assertEqual(code, 1)
        self.assertIn("--tls-key %s: not the unencrypted PEM private key of the certificate"
                      % locked, err)

    def test_a_file_that_is_not_a_certificate_is_refused(self):
        junk = os.path.join(self.dir, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        code, err = self.refused_start(junk, self.key)
        self.assertEqual(code, 1)
        self.assertIn("--tls-cert %s: not a PEM certificate (chain) that can be read" % junk, err)
        code, err = self.refused_start(os.path.join(self.dir, "missing.pem"), self.key)
        self.assertEqual(code, 1)
        self.assertIn("missing.pem: not a PEM certificate", err)

    def test_a_taken_address_is_refused(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            where = "127.0.0.1:%d" % taken.getsockname()[1]
            code, err = self.refused_start(self.cert, self.key, where)
        self.assertEqual(code, 1)
        self.assertIn("cannot listen on %s: Address already in use" % where, err)

    def test_both_files_are_needed(self):
        out = subprocess.run([harness.idlinkd_path(), "--tls-cert", self.cert],
                             capture_output=True, text=True, timeout=10, env=harness.clean_env())
        self.assertEqual(out.returncode, 2)
        self.assertIn("give both --tls-cert and --tls-key", out.stderr)


if __name__ == "__main__":
    unittest.main()
