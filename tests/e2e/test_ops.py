"""Operating idlink (SPEC section 11): GET /metrics in Prometheus' text format
(checked with Debian's promtool when it is installed, and by values that must
move), and the JSON access log with route templates and masked emails and
phones."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness


def series(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


class MetricsTests(harness.ServerTestCase):
    def scrape(self):
        status, headers, _, raw = self.srv.request("GET", "/metrics")
        self.assertEqual(status, 200, raw)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"), headers)
        return raw.decode()

    def test_promtool_accepts_it(self):
        self.srv.post("/identify", {"email": "a@x.io", "phoneNumber": "123456"})
        text = self.scrape()
        promtool = shutil.which("promtool")
        if not promtool:
            self.fail("promtool (Debian's prometheus package) is not installed")
        out = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_values_move(self):
        before = series(self.scrape())
        for i in range(3):
            st, _ = self.srv.post("/identify", {"email": "u%d@x.io" % i, "phoneNumber": "5550100"})
            self.assertEqual(st, 200)
        self.srv.get("/contacts/1")
        self.srv.get("/contacts/999")
        self.srv.request("PROPFIND", "/healthz")  # a method name of 8 letters, whole
        self.srv.post("/api/v1/customers/", {"channel": 1, "email": "c@x.io", "channel_code": "c"})
        # A request is counted once its answer has gone: the next request
        # may overtake the count of the one before on a slow server.
        deadline = time.time() + 5
        while True:
            after = series(self.scrape())
            if value(after, "idlink_http_requests_total", route="/api/v1/customers/",
                     method="POST", status="201") >= 1 or time.time() > deadline:
                break
            time.sleep(0.05)
        key = dict(route="/identify", method="POST", status="200")
        self.assertEqual(value(after, "idlink_http_requests_total", **key)
                         - value(before, "idlink_http_requests_total", **key), 3)
        self.assertEqual(value(after, "idlink_http_requests_total", route="/contacts/{id}",
                               method="GET", status="404"), 1)
        self.assertEqual(value(after, "idlink_http_requests_total",
                               route="/api/v1/customers/", method="POST", status="201"), 1)
        self.assertEqual(value(after, "idlink_http_request_duration_seconds_count",
                               route="/identify"), 3)
        self.assertTrue([k for k in after if ("method", "PROPFIND") in k[1]],
                        [k for k in after if k[0] == "idlink_http_requests_total"])
        # Each durable write was a commit: the batch sizes add up to the writes.
        self.assertGreaterEqual(value(after, "idlink_writer_batch_size_count"),
                                value(before, "idlink_writer_batch_size_count") + 1)
        self.assertEqual(value(after, "idlink_writer_batch_size_sum")
                         - value(before, "idlink_writer_batch_size_sum"), 4)
        self.assertGreater(value(after, "idlink_writer_commit_duration_seconds_sum"), 0)
        self.assertEqual(value(after, "idlink_contacts", state="active"), 4)
        self.assertEqual(value(after, "idlink_identities"), 1 + 1)  # the customer's own
        self.assertEqual(value(after, "idlink_records", collection="customers"), 1)
        self.assertGreater(value(after, "idlink_lmdb_used_bytes"), 0)
        self.assertGreater(value(after, "process_resident_memory_bytes"), 0)
        self.srv.request("DELETE", "/contacts/2")
        later = series(self.scrape())
        self.assertEqual(value(later, "idlink_contacts", state="deleted"), 1)


class AccessLogTests(harness.ServerTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="idlink-e2e-access-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.log = os.path.join(self.dir, "access.log")
        self.srv = self.start_server(extra_args=("--access-log", self.log))

    def lines(self):
        """The log's lines, less the harness's own readiness probes."""
        with open(self.log) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        return [l for l in lines if l["route"] != "/healthz"]

    def test_one_masked_json_line_per_request(self):
        sent = ["jane.doe@example.com", "+90 555 123 45 67", "905551234567"]
        self.srv.post("/identify", {"email": sent[0], "phoneNumber": sent[1]})
        self.srv.get("/api/v1/identities/?email=jane.doe%40example.com")
        self.srv.get("/api/v1/customers/?phone_number=%2B905551234567&page=1")
        self.srv.get("/contacts/1")
        self.srv.request("DELETE", "/contacts/1")
        self.srv.get("/nowhere")
        # A line is written once its answer has gone: wait for the last.
        deadline = time.time() + 5
        while len(self.lines()) < 6 and time.time() < deadline:
            time.sleep(0.02)
        lines = self.lines()
        self.assertEqual(len(lines), 6, lines)
        for line in lines:
            self.assertEqual(set(line), {"time", "method", "route", "status", "duration_ms",
                                         "bytes", "token", "query"}, line)
            self.assertIsInstance(line["status"], int)
            self.assertIsNone(line["token"])
        # A line is written once its answer has gone, so lines of requests
        # that follow each other closely may come in either order.
        key = lambda l: (l["method"], l["route"] or "", l["status"])
        self.assertEqual(sorted(key(l) for l in lines),
                         sorted([("POST", "/identify", 200),
                                 ("GET", "/api/v1/identities/", 200),
                                 ("GET", "/api/v1/customers/", 200),
                                 ("GET", "/contacts/{id}", 200),
                                 ("DELETE", "/contacts/{id}", 200),
                                 ("GET", "", 404)]))
        self.assertIsNone(next(l for l in lines if l["status"] == 404)["route"])
        by_route = {l["route"]: l for l in lines}
        self.assertEqual(by_route["/api/v1/identities/"]["query"], "email=j***@example.com")
        self.assertEqual(by_route["/api/v1/customers/"]["query"], "phone_number=***4567&page=1")
        self.assertGreater(by_route["/identify"]["bytes"], 50)
        with open(self.log) as f:
            text = f.read() + self.srv.stderr()
        for value in sent + ["jane.doe", "1234567", "5551234"]:
            self.assertNotIn(value, text)

    def test_emails_and_phones_are_masked_wherever_they_stand(self):
        queries = {
            "jane@example.com=1": "j***@example.com=1",
            "555-123-4567=1": "***4567=1",
            # a parameter that names an email or a phone is masked whole,
            # whatever its value's shape
            "phone_number=555%201234%20ext%2012": "phone_number=***3412",
            "email=leak16+tag@secret.com": "email=l***@secret.com",
            "email=%22leak42%22@secret.com": 'email="***@secret.com',
            "email=leak44%20@secret.com": "email=l***@secret.com",
            "phone_number=905551234569x": "phone_number=***4569",
            "phone_number=%EF%BC%95%EF%BC%95%EF%BC%95%EF%BC%91%EF%BC%92": "phone_number=***",
            "email__startswith=leak17": "email__startswith=l***",
            "phoneNumber=555-0199": "phoneNumber=***0199",
            "attributes__note=call%20jane@example.com%20or%20555-123-4567":
                "attributes__note=call j***@example.com or ***4567",
            "email=jane%2540example.com": "email=j***@example.com",
            "first_name=(555)%20123-4567,x": "first_name=***4567,x",
            # dates, and the parts of dates and times, are not phones
            "date_of_birth=1990-01-01": "date_of_birth=1990-01-01",
            "created_date__gte=2026-11-25T05:57:46.044Z&limit=20":
                "created_date__gte=2026-11-25T05:57:46.044Z&limit=20",
            # a word too long to be an email that holds an @ is not shown
            "q=" + "z" * 500 + "%7Cjohn.doe.secret@example.com": "q=(masked)",
            # nor what stands after a NUL byte
            "email=jane.doe%00@example.com": "email=(masked)",
        }
        for query in queries:
            self.srv.get("/api/v1/customers/?" + query)
        deadline = time.time() + 5
        while len(self.lines()) < len(queries) and time.time() < deadline:
            time.sleep(0.02)
        logged = sorted(l["query"] for l in self.lines())
        self.assertEqual(logged, sorted(queries.values()))
        with open(self.log) as f:
            text = f.read()
        for value in ("jane@", "jane%", "jane.doe", "john.doe", "123-4567", "555 1234",
                      "555-123", "leak16", "tag@", "leak42", "leak44", "leak17",
                      "90555123", "\uff15\uff15", "555-0"):
            self.assertNotIn(value, text)


if __name__ == "__main__":
    unittest.main()
