"""SPEC section 12: the browser console at /console/.

The static files are checked over plain HTTP (types, cache headers, 404 and
405); the views are driven in Debian's chromium, headless, through
chromium-driver and python3-selenium, using only the hooks the spec promises
(form and input names, data-* attributes). Each test starts its own idlinkd
and its own browser and closes both.

Run with Debian's /usr/bin/python3 (as ctest does). `make test` installs
chromium, chromium-driver and python3-selenium; without them the browser
tests are skipped and the file fails, so that a missing browser never passes
for a tested console.
"""

import csv
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.common.exceptions import StaleElementReferenceException
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from selenium import webdriver  # noqa: E402
        from selenium.webdriver.chrome.service import Service  # noqa: E402
        from selenium.webdriver.common.by import By  # noqa: E402
        from selenium.webdriver.common.keys import Keys  # noqa: E402
        from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
        from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
    except ImportError:
        webdriver = None

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = (webdriver is not None and os.access(CHROMIUM, os.X_OK)
                and os.access(CHROMEDRIVER, os.X_OK))
WAIT = 5.0
TOKEN = "console-t0ken-4f1c"


class StaticFilesTest(unittest.TestCase):
    """The files themselves, over HTTP: no browser needed."""

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def get(self, path, method="GET", headers=None):
        return self.srv.request(method, path, headers=headers)

    def test_types_and_cache_headers(self):
        status, h, _, body = self.get("/console/")
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertEqual(h["cache-control"], "no-cache")
        self.assertIn(b'<meta name="viewport" content="width=device-width', body)
        self.assertNotIn(b"@CONSOLE_VERSION@", body)
        for path, media in [("/console/app.js", "text/javascript"),
                            ("/console/api.js", "text/javascript"),
                            ("/console/picture.js", "text/javascript"),
                            ("/console/console.css", "text/css"),
                            ("/console/icon.svg", "image/svg+xml")]:
            status, h, _, body = self.get(path)
            self.assertEqual(status, 200, path)
            self.assertEqual(h["content-type"].split(";")[0], media, path)
            self.assertIn("max-age=", h["cache-control"], path)
            self.assertEqual(int(h["content-length"]), len(body), path)
            self.assertTrue(h["etag"].startswith('"'), path)
            self.assertEqual(h["x-content-type-options"], "nosniff", path)
            # revalidation by ETag
            status, h2, _, body2 = self.get(path, headers={"If-None-Match": h["etag"]})
            self.assertEqual((status, body2), (304, b""), path)
        # index.html names the other files by a versioned URL
        _, _, _, index = self.get("/console/")
        self.assertRegex(index.decode(), r'/console/app\.js\?v=[0-9a-f]{12}"')

    def test_views_have_urls(self):
        _, _, _, index = self.get("/console/")
        for view in ("customers", "import", "changes", "lookup", "index.html"):
            status, h, _, body = self.get("/console/" + view)
            self.assertEqual((status, h["content-type"]), (200, "text/html; charset=utf-8"))
            self.assertEqual(body, index)

    def test_head_unknown_and_methods(self):
        status, h, _, body = self.get("/console/app.js", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertGreater(int(h["content-length"]), 0)
        for path in ("/console/nope.js", "/console/app.js/x", "/console/%61pp.js",
                     "/console/customers/1"):
            status, h, parsed, _ = self.get(path)
            self.assertEqual((status, parsed), (404, harness.NOT_FOUND), path)
            self.assertEqual(h["content-type"], "application/json", path)
        for path in ("/console/", "/console/app.js"):
            status, h, parsed, _ = self.get(path, method="POST")
            self.assertEqual(status, 405, path)
            self.assertEqual(parsed, {"detail": 'Method "POST" not allowed.'})
            self.assertEqual(h["allow"], "GET, HEAD")
        status, h, _, _ = self.get("/console")
        self.assertEqual((status, h["location"]), (301, "/console/"))


@unittest.skipUnless(HAVE_BROWSER, "needs chromium, chromium-driver and python3-selenium")
class ConsoleTestCase(unittest.TestCase):
    server_args = ("--sync", "none")
    window = (1200, 900)

    def setUp(self):
        self.srv = harness.Server(extra_args=self.server_args)
        self.addCleanup(self.srv.close)
        profile = tempfile.mkdtemp(prefix="idlink-e2e-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                    "--window-size=%d,%d" % self.window):
            opts.add_argument(arg)
        self.browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.addCleanup(self.browser.quit)
        self.browser.implicitly_wait(0)

    # ---- helpers

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.srv.port, path)

    def open(self, path):
        self.browser.get(self.url(path))

    def wait(self, what, timeout=WAIT, message=""):
        """Waits until what() is truthy; returns its value."""
        try:
            # The console redraws its table as answers come: an element read
            # in the middle of a redraw is stale, and the next poll reads again.
            return WebDriverWait(self.browser, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda _: what())
        except Exception:
            self.fail("%s: not seen within %.1f s; message box: %r; url %s" % (
                message or what, timeout, self.message_text(), self.browser.current_url))

    def all(self, css):
        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def one(self, css):
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def message_text(self):
        try:
            box = self.one("#message")
            return box.text if box.is_displayed() else None
        except Exception:
            return None

    def rows(self):
        return [int(tr.get_attribute("data-pk")) for tr in self.all("tr[data-pk]")
                if tr.is_displayed()]

    def api(self, method, path, body=None, headers=None):
        status, _, parsed, raw = self.srv.request(method, path, body, headers=headers)
        self.assertLess(status, 300, "%s %s -> %d %r" % (method, path, status, raw))
        return parsed


class LookupTest(ConsoleTestCase):
    def test_lookup_draws_the_merged_identity(self):
        self.api("POST", "/identify", {"email": "doc@hillvalley.edu", "phoneNumber": "111"})
        self.api("POST", "/identify", {"email": "marty@hillvalley.edu", "phoneNumber": "222"})
        merged = self.api("POST", "/identify", {"email": "doc@hillvalley.edu",
                                                "phoneNumber": "222"})
        self.api("POST", "/identify", {"email": "emmett@hillvalley.edu", "phoneNumber": "111"})
        primary = merged["contact"]["primaryContactId"]
        explain = self.api("GET", "/identities/%d/explain" % primary)
        self.assertEqual((len(explain["contacts"]), len(explain["edges"])), (3, 2))

        self.open("/console/")
        self.assertEqual(self.one("nav a[aria-current=page]").text, "Look-up")
        q = self.one("form input[type=search][name=q]")
        q.send_keys("emmett@hillvalley.edu", Keys.ENTER)
        self.wait(lambda: len(self.all("svg [data-contact-id]")) == 3, message="3 nodes")
        self.assertEqual(len(self.all("svg [data-edge]")), 2)
        self.assertEqual(len(self.all("svg line")), 2)
        self.assertEqual(len(self.all("svg circle:not(.ring)")), 3)
        marked = self.all("svg [data-primary]")
        self.assertEqual([m.get_attribute("data-contact-id") for m in marked], [str(primary)])
        labels = " ".join(t.get_attribute("textContent") for t in self.all("svg text"))
        # doc and marty were joined by a request that sent doc's email with marty's
        # phone (a bridge); emmett shares doc's phone
        self.assertEqual(sorted(l.get_attribute("data-via") for l in self.all("svg [data-edge]")),
                         ["bridge", "phoneNumber"])
        self.assertIn("bridge: doc@hillvalley.edu + 222", labels)
        self.assertIn("phone: 111", labels)
        card = self.one("#identity-card").text
        for value in ("doc@hillvalley.edu", "marty@hillvalley.edu", "emmett@hillvalley.edu",
                      "111", "222"):
            self.assertIn(value, card)
        self.assertTrue(self.browser.current_url.endswith("/console/?q=emmett%40hillvalley.edu"))

        # by phone, through the URL; then an unknown value is a message, not a blank page
        self.open("/console/?q=222")
        self.wait(lambda: len(self.all("svg [data-contact-id]")) == 3, message="by phone")
        q = self.one("input[name=q]")
        q.clear()
        q.send_keys("nobody@nowhere.test", Keys.ENTER)
        self.wait(lambda: "nobody@nowhere.test" in (self.message_text() or ""),
                  message="not-found message")
        self.assertFalse(self.one("#identity").is_displayed())


class CustomersTest(ConsoleTestCase):
    def test_filter_page_export_and_open(self):
        for i in range(23):
            self.api("POST", "/api/v1/customers/", {
                "channel": 1, "email": "c%02d@shop.test" % i, "channel_code": "C%02d" % i,
                "first_name": "Cust", "last_name": str(i)})
        for i in range(3):
            self.api("POST", "/api/v1/customers/", {
                "channel": 2, "email": "o%d@other.test" % i, "channel_code": "O%d" % i})
        self.open("/console/customers")
        self.wait(lambda: len(self.rows()) == 10, message="first page of 10")
        self.assertIn("26 customers", self.one("#customers-count").text)

        channel = self.one("#customers-filter input[name=channel]")
        channel.send_keys("1", Keys.ENTER)
        self.wait(lambda: "23 customers" in self.one("#customers-count").text,
                  message="filtered count")
        self.assertEqual(self.rows(), list(range(1, 11)))
        prev, nxt = self.one("[data-page=prev]"), self.one("[data-page=next]")
        self.assertFalse(prev.is_enabled())
        nxt.click()
        self.wait(lambda: self.rows() == list(range(11, 21)), message="page 2")
        self.one("[data-page=next]").click()
        self.wait(lambda: self.rows() == [21, 22, 23], message="page 3")
        self.assertFalse(self.one("[data-page=next]").is_enabled())
        self.one("[data-page=prev]").click()
        self.wait(lambda: self.rows() == list(range(11, 21)), message="back to page 2")

        # the export controls carry the current filter
        for fmt in ("csv", "xlsx"):
            href = self.one("[data-export=%s]" % fmt).get_attribute("href")
            self.assertIn("/api/v1/customers/export/?", href)
            self.assertIn("channel=1", href)
            self.assertIn("format=" + fmt, href)
        href = self.one("[data-export=csv]").get_attribute("href")
        status, _, _, body = self.srv.request("GET", href.split(str(self.srv.port), 1)[1])
        self.assertEqual(status, 200)
        self.assertEqual(len(body.decode().strip().splitlines()), 24)  # header + 23

        # a filter with a bad value is a message
        self.open("/console/customers?created_date__gte=yesterday")
        self.wait(lambda: "valid date" in (self.message_text() or ""), message="filter error")

        # a row opens its single customer view (keyboard: Enter on the row)
        self.open("/console/customers?channel=2")
        self.wait(lambda: len(self.rows()) == 3, message="channel 2")
        row = self.one("tr[data-pk='25']")
        row.send_keys(Keys.ENTER)
        self.wait(lambda: self.all("#identity-card [data-identity]"), message="customer view")
        self.assertIn("o1@other.test", self.one("#identity-card").text)
        self.assertIn("/console/?identity=", self.browser.current_url)
        self.wait(lambda: len(self.all("svg [data-contact-id]")) == 1, message="its picture")


class ImportTest(ConsoleTestCase):
    def test_import_reports_skipped_rows(self):
        tmp = tempfile.mkdtemp(prefix="idlink-e2e-import-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "customers.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["Jane Doe", "jane@import.test", "1 Main St", "5551234", "1", "0", "0",
                        "active"])
            w.writerow(["No Email", "", "2 Main St", "5559999", "0", "0", "0", "active"])
            w.writerow(["John", "john@import.test", "3 Main St", "", "0", "1", "0", "lead"])
        self.open("/console/import")
        form = self.one("#import-form")
        form.find_element(By.CSS_SELECTOR, "select[name=kind] option[value=customers]").click()
        form.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(path)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait(lambda: self.all("tr[data-row='2']"), message="skipped row 2")
        self.assertEqual(len(self.all("tr[data-row]")), 1)
        self.assertIn("2 created", self.one("#import-summary").text)
        self.assertTrue(self.one("tr[data-row='2'] td:last-child").text)
        listed = self.api("GET", "/api/v1/customers/")
        self.assertEqual(sorted(c["email"] for c in listed["results"]),
                         ["jane@import.test", "john@import.test"])

        # an empty file is refused with the API's message
        empty = os.path.join(tmp, "empty.csv")
        open(empty, "w").close()
        self.one("input[type=file]").send_keys(empty)
        self.one("#import-form button[type=submit]").click()
        self.wait(lambda: "empty" in (self.message_text() or ""), message="empty-file error")


class ChangesTest(ConsoleTestCase):
    def test_new_changes_appear_within_two_seconds(self):
        self.api("POST", "/identify", {"email": "first@feed.test"})
        self.open("/console/changes")
        self.wait(lambda: self.all("#change-feed [data-seq]"), message="initial entries")
        before = {e.get_attribute("data-seq") for e in self.all("[data-seq]")}
        url = self.browser.current_url
        for email in ("second@feed.test", "third@feed.test"):
            self.api("POST", "/identify", {"email": email, "phoneNumber": "4242"})
            seq = self.srv.last_seq()
            t0 = time.monotonic()
            self.wait(lambda: self.all("[data-seq='%d']" % seq), timeout=2.0,
                      message="change %d in the feed" % seq)
            self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(self.browser.current_url, url)  # no reload, no navigation
        now = {e.get_attribute("data-seq") for e in self.all("[data-seq]")}
        self.assertTrue(before < now)
        newest = self.all("#change-feed [data-seq]")[0]
        self.assertEqual(newest.get_attribute("data-seq"), str(self.srv.last_seq()))
        self.assertIn("contact.created", newest.text)


class TokenTest(ConsoleTestCase):
    def setUp(self):
        self.tokdir = tempfile.mkdtemp(prefix="idlink-e2e-tokens-")
        self.addCleanup(shutil.rmtree, self.tokdir, True)
        path = os.path.join(self.tokdir, "tokens")
        with open(path, "w") as f:
            f.write("%s write console\n" % TOKEN)
        self.server_args = ("--sync", "none", "--token-file", path)
        super().setUp()

    def test_token_prompt(self):
        auth = {"Authorization": "Token " + TOKEN}
        self.api("POST", "/api/v1/customers/", {"channel": 1, "email": "tok@en.test",
                                                "channel_code": "T1"}, headers=auth)
        # the static files need no token; the API does
        status, _, _, _ = self.srv.request("GET", "/console/app.js")
        self.assertEqual(status, 200)
        status, _, _, _ = self.srv.request("GET", "/api/v1/customers/")
        self.assertEqual(status, 401)

        self.open("/console/customers")
        prompt = self.wait(lambda: [e for e in self.all("input[type=password][name=token]")
                                    if e.is_displayed()], message="token prompt")[0]
        prompt.send_keys("wrong-token", Keys.ENTER)
        self.wait(lambda: "Invalid token" in self.one("#token-form").text,
                  message="refused token")
        prompt = self.one("input[type=password][name=token]")
        self.assertTrue(prompt.is_displayed())
        prompt.send_keys(TOKEN, Keys.ENTER)
        self.wait(lambda: self.rows() == [1], message="rows after the token")
        self.assertFalse(self.one("#token-form").is_displayed())
        self.assertEqual(self.browser.execute_script(
            "return sessionStorage.getItem('idlink.token')"), TOKEN)
        # a reload does not ask again
        self.browser.refresh()
        self.wait(lambda: self.rows() == [1], message="rows after reload")
        self.assertFalse(self.one("#token-form").is_displayed())


class PhoneTest(ConsoleTestCase):
    window = (390, 844)

    def test_nothing_scrolls_sideways_at_390px(self):
        self.api("POST", "/identify", {"email": "a-rather-long-address@phone.test",
                                       "phoneNumber": "5551"})
        self.api("POST", "/identify", {"email": "b@phone.test", "phoneNumber": "5551"})
        self.api("POST", "/api/v1/customers/", {"channel": 1, "email": "b@phone.test",
                                                "channel_code": "B"})
        width = "return [document.documentElement.scrollWidth, window.innerWidth]"
        for path in ("/console/?q=b%40phone.test", "/console/customers",
                     "/console/import", "/console/changes"):
            self.open(path)
            self.wait(lambda: self.browser.execute_script(
                "return document.readyState") == "complete")
            time.sleep(0.3)
            scroll, inner = self.browser.execute_script(width)
            self.assertLessEqual(scroll, inner, path)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    if result.skipped:
        print("FAILED: %d browser tests could not run (skipped)" % len(result.skipped))
    sys.exit(0 if result.wasSuccessful() and not result.skipped else 1)
