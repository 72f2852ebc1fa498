"""HTTPS (SPEC section 11): --tls-cert and --tls-key serve TLS that a client
checking the certificate accepts; a certificate and key that do not match
stop idlinkd at start with a message naming the file.

Debian 12's civetweb 1.15 cannot use OpenSSL 3 (it calls a function OpenSSL
3 no longer exports, and crashes on the first HTTPS request): there idlinkd
refuses --tls-cert at start, saying why, and these tests check that refusal
instead of a TLS exchange."""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
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


UNAVAILABLE = "HTTPS is not available"


class TlsTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="idlink-e2e-tls-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert, self.key = make_certificate(self.dir)
        # Where the platform cannot serve TLS, idlinkd refuses the option at
        # once; else it starts, and is stopped again.
        probe = subprocess.Popen([harness.idlinkd_path(), "--listen",
                                  "127.0.0.1:%d" % harness.free_port(), "--data",
                                  os.path.join(self.dir, "probe"), "--tls-cert", self.cert,
                                  "--tls-key", self.key], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, env=harness.clean_env())
        try:
            probe.wait(2)
        except subprocess.TimeoutExpired:
            probe.terminate()
        self.refusal_text = probe.communicate(timeout=15)[1]
        self.refusal_code = probe.returncode
        self.available = UNAVAILABLE not in self.refusal_text

    def start(self, cert, key):
        port = harness.free_port()
        errf = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.addCleanup(errf.close)
        proc = subprocess.Popen([harness.idlinkd_path(), "--listen", "127.0.0.1:%d" % port,
                                 "--data", os.path.join(self.dir, "data"), "--tls-cert", cert,
                                 "--tls-key", key], stdout=subprocess.DEVNULL, stderr=errf,
                                env=harness.clean_env())
        return proc, port

    def stop(self, proc):
        proc.terminate()
        self.assertEqual(proc.wait(15), 0)

    def stderr(self):
        with open(os.path.join(self.dir, "stderr.log")) as f:
            return f.read()

    def test_a_client_checking_the_certificate_is_served(self):
        if not self.available:
            # The platform's civetweb cannot serve TLS: a clear refusal, no crash.
            self.assertEqual(self.refusal_code, 2)
            self.assertIn("SSL_get_peer_certificate", self.refusal_text)
            self.assertIn("proxy", self.refusal_text)
            return
        proc, port = self.start(self.cert, self.key)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        context = ssl.create_default_context(cafile=self.cert)
        deadline = time.time() + 10
        while True:
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
                conn.request("POST", "/identify", json.dumps({"email": "tls@x.io"}),
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                break
            except (ConnectionRefusedError, ConnectionResetError):
                if time.time() > deadline or proc.poll() is not None:
                    self.fail("idlinkd did not serve TLS (exit %s): %s" % (proc.poll(), self.stderr()))
                time.sleep(0.05)
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.read())["contact"]["emails"], ["tls@x.io"])
        conn.close()
        # A client that trusts another certificate refuses this one.
        other_cert, _ = make_certificate(self.dir, "other")
        strict = ssl.create_default_context(cafile=other_cert)
        with self.assertRaises(ssl.SSLCertVerificationError):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with strict.wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass
        # Plain HTTP on the TLS port gets no answer in the clear.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = raw.recv(100)
            except (ConnectionResetError, socket.timeout):
                data = b""
        self.assertNotIn(b"HTTP/1.1 200", data)
        self.stop(proc)

    def test_a_key_of_another_certificate_is_refused(self):
        _, other_key = make_certificate(self.dir, "other")
        proc, _ = self.start(self.cert, other_key)
        self.assertNotEqual(proc.wait(15), 0)
        self.assertIn("--tls-key %s" % other_key if self.available else UNAVAILABLE,
                      self.stderr())

    def test_both_files_are_needed(self):
        out = subprocess.run([harness.idlinkd_path(), "--tls-cert", self.cert],
                             capture_output=True, text=True, timeout=10, env=harness.clean_env())
        self.assertEqual(out.returncode, 2)
        self.assertIn("give both --tls-cert and --tls-key", out.stderr)


if __name__ == "__main__":
    unittest.main()
