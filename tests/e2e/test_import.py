"""SPEC section 9, "Bulk import" (and seed 003's section VI): customers and
products uploaded as xlsx, xls, csv or txt files over multipart/form-data.

Every file here is written by a program idlink did not write: Debian's
python3-openpyxl (xlsx; its 3.0 writes inline strings), libxlsxwriter through
ctypes (xlsx with a shared strings table, as Excel writes them), python3-xlwt
(xls) and Python's csv module; never a hand-built zip. Multipart bodies are
built here (a uuid boundary); uploads also go through curl as `curl -F
file=@path` sends them, and the upload forms of GET /upload/customers and
/upload/products are parsed and submitted as a browser would. Each class
shares one idlinkd; when it ends the server is stopped and `idlink-check
--data DIR` must pass on its folder.

Run with Debian's /usr/bin/python3 (as ctest does); another python3 first on
PATH gets /usr/lib/python3/dist-packages appended to find the readers.
"""

import csv
import ctypes
import ctypes.util
import datetime
import html.parser
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import uuid
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness

HERE_TESTS = os.path.dirname(os.path.abspath(__file__))  # noqa: E402

try:
    import openpyxl
    import xlrd
    import xlwt
except ImportError:
    # Another python3 first on PATH (pyenv) does not see Debian's packages;
    # ctest runs /usr/bin/python3, which does.
    sys.path.append("/usr/lib/python3/dist-packages")
    import openpyxl  # noqa: E402
    import xlrd  # noqa: E402
    import xlwt  # noqa: E402

CUSTOMERS = "/api/v1/customers/"
PRODUCTS = "/api/v1/products/"
CUSTOMERS_IMPORT = "/api/v1/customers/import/"
PRODUCTS_IMPORT = "/api/v1/products/import/"
CUSTOMER_IMPORT_ROUTES = {"/api/v1/customers/import/", "/api/v1/customers/import",
                          "/upload/customers", "/upload/customers/"}
PRODUCT_IMPORT_ROUTES = {"/api/v1/products/import/", "/api/v1/products/import",
                         "/upload/products", "/upload/products/"}

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CUSTOMER_HEADER = ["Name", "Email", "Address", "Phone", "Opt_email", "Opt_phone", "Opt_chat",
                   "Status"]
PRODUCT_HEADER = ["Name", "Price", "Purchased", "Warranty"]

EMPTY_FILE = {"file": ["The submitted file is empty."]}
NO_FILE = {"file": ["No file was submitted."]}
UTC = datetime.timezone.utc

_phones = iter(range(1000, 100000))


def phone():
    """A phone number no other test uses (identities must not meet by accident)."""
    return "5557%06d" % next(_phones)


# ---------------------------------------------------------------- files

def xlsx_bytes(rows, header=None, formats=None):
    """An xlsx written by openpyxl: strings as inline strings (openpyxl 3.0
    writes no shared strings table), ints and floats number cells, bools bool
    cells, dates serial numbers with a date format. formats: {(row, col):
    number_format} (1-based, file rows)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    if header is not None:
        ws.append(header)
    for row in rows:
        ws.append(list(row))
    for (r, c), fmt in (formats or {}).items():
        ws.cell(row=r, column=c).number_format = fmt
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_lxw = None


def libxlsxwriter():
    """Debian's libxlsxwriter through ctypes, or None when it cannot be loaded."""
    global _lxw
    if _lxw is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("xlsxwriter") or "libxlsxwriter.so.4")
        except OSError:
            _lxw = False
            return None
        vp = ctypes.c_void_p
        lib.workbook_new.restype = vp
        lib.workbook_new.argtypes = [ctypes.c_char_p]
        lib.workbook_add_worksheet.restype = vp
        lib.workbook_add_worksheet.argtypes = [vp, ctypes.c_char_p]
        lib.workbook_add_format.restype = vp
        lib.workbook_add_format.argtypes = [vp]
        lib.format_set_num_format.argtypes = [vp, ctypes.c_char_p]
        lib.worksheet_write_string.argtypes = [vp, ctypes.c_uint32, ctypes.c_uint16,
                                               ctypes.c_char_p, vp]
        lib.worksheet_write_number.argtypes = [vp, ctypes.c_uint32, ctypes.c_uint16,
                                               ctypes.c_double, vp]
        lib.worksheet_write_boolean.argtypes = [vp, ctypes.c_uint32, ctypes.c_uint16,
                                                ctypes.c_int, vp]
        lib.workbook_close.argtypes = [vp]
        lib.workbook_close.restype = ctypes.c_int
        _lxw = lib
    return _lxw or None


def lxw_xlsx_bytes(rows, header=None):
    """An xlsx written by libxlsxwriter (not in constant-memory mode): strings go
    to the shared strings table, as Excel writes them; dates are serial numbers
    with a yyyy-mm-dd format."""
    lib = libxlsxwriter()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "book.xlsx")
        wb = lib.workbook_new(path.encode())
        assert wb, "workbook_new failed"
        ws = lib.workbook_add_worksheet(wb, None)
        date_fmt = lib.workbook_add_format(wb)
        lib.format_set_num_format(date_fmt, b"yyyy-mm-dd")
        all_rows = ([header] if header is not None else []) + [list(r) for r in rows]
        for r, row in enumerate(all_rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, bool):
                    rc = lib.worksheet_write_boolean(ws, r, c, int(v), None)
                elif isinstance(v, (int, float)):
                    rc = lib.worksheet_write_number(ws, r, c, float(v), None)
                elif isinstance(v, datetime.date):
                    serial = (v - datetime.date(1899, 12, 30)).days
                    rc = lib.worksheet_write_number(ws, r, c, float(serial), date_fmt)
                else:
                    rc = lib.worksheet_write_string(ws, r, c, str(v).encode("utf-8"), None)
                assert rc == 0, "libxlsxwriter error %d" % rc
        assert lib.workbook_close(wb) == 0, "workbook_close failed"
        with open(path, "rb") as f:
            return f.read()


def zip_member(data, name):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(name) if name in z.namelist() else None


def xls_bytes(rows, header=None):
    """An xls (BIFF8) written by xlwt; dates get a 'YYYY-MM-DD' date format."""
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    all_rows = ([header] if header is not None else []) + [list(r) for r in rows]
    for r, row in enumerate(all_rows):
        for c, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, datetime.date):
                ws.write(r, c, v, date_style)
            else:
                ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def text_bytes(rows, delimiter=",", lineterminator="\r\n", bom=False, encoding="utf-8"):
    """A csv/txt written by Python's csv module (no header row)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def multipart(fields=(), files=(), boundary=None):
    """(body, content type) of a multipart/form-data request, the fields'
    parts first. fields: (name, value) pairs; files: (name, filename, bytes,
    content type)."""
    return multipart_parts(list(fields) + list(files), boundary)


def multipart_parts(parts, boundary=None):
    """multipart/form-data with the parts in the order given: (name, value)
    for a field, (name, filename, bytes, content type) for a file."""
    boundary = boundary or "idlink-" + uuid.uuid4().hex
    out = []
    for part in parts:
        if len(part) == 2:
            name, value = part
            out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n"
                        % (boundary, name)).encode("utf-8"))
            out.append(value if isinstance(value, bytes) else str(value).encode("utf-8"))
        else:
            name, filename, data, ctype = part
            out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                        "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n"
                        % (boundary, name, filename, ctype)).encode("utf-8"))
            out.append(data)
        out.append(b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode("utf-8"))
    return b"".join(out), "multipart/form-data; boundary=%s" % boundary


class FormParser(html.parser.HTMLParser):
    """The <form>s of a page with their controls, as a browser sees them."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self._form = None
        self._select = None

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"attrs": a, "controls": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag in ("input", "button", "textarea"):
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if tag == "textarea":
                kind = "textarea"
            self._form["controls"].append(dict(a, tag=tag, type=kind))
        elif tag == "select":
            self._select = dict(a, tag="select", type="select", options=[])
            self._form["controls"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


# ---------------------------------------------------------------- base

class ImportCase(unittest.TestCase):
    """One idlinkd for the whole class; at the end it is stopped and its
    folder must pass idlink-check."""

    maxDiff = None
    server_args = ()
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server(extra_args=cls.server_args)

    @classmethod
    def tearDownClass(cls):
        srv = cls.srv
        try:
            rc = srv.stop()
            stderr = srv.stderr()
            code, out = srv.check()
            check_err = srv.last_check_stderr
        finally:
            srv.close()
        if rc != 0:
            raise AssertionError("idlinkd exited %r after SIGTERM; stderr:\n%s" % (rc, stderr))
        if code != 0:
            raise AssertionError("idlink-check --data on the stopped server's folder exited %d"
                                 "\nstdout:\n%s\nstderr:\n%s" % (code, out, check_err))

    # ---- requests -----------------------------------------------------------

    def upload(self, path, data, filename="customers.xlsx", channel=None,
               ctype="application/octet-stream", fields=(), channel_last=False):
        """POST a multipart upload; (status, parsed JSON, headers, raw)."""
        fields = list(fields)
        files = [("file", filename, data, ctype)] if data is not None else []
        if channel is not None:
            fields.append(("channel", channel))
        if channel_last:  # the channel part after the file part
            body, ct = multipart_parts(files + fields)
        else:
            body, ct = multipart(fields, files)
        st, hdrs, parsed, raw = self.srv.request("POST", path, raw=body,
                                                 headers={"Content-Type": ct})
        return st, parsed, hdrs, raw

    def imported(self, path, data, filename="customers.xlsx", **kw):
        """An upload that must answer 200 with the import's body; returns it."""
        st, parsed, hdrs, raw = self.upload(path, data, filename, **kw)
        self.assertEqual(st, 200, "POST %s %s -> %d %s" % (path, filename, st, raw[:2000]))
        self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), hdrs)
        self.assertIsInstance(parsed, dict, raw[:2000])
        self.assertEqual(set(parsed), {"created", "updated", "skipped"}, parsed)
        self.assertIsInstance(parsed["skipped"], list, parsed)
        for s in parsed["skipped"]:
            self.assertEqual(set(s), {"row", "reason"}, parsed)
            self.assertIsInstance(s["row"], int, parsed)
            self.assertIsInstance(s["reason"], str, parsed)
            self.assertTrue(s["reason"].strip(), parsed)
        return parsed

    def assertCounts(self, answer, created, updated, skipped_rows=()):
        self.assertEqual((answer["created"], answer["updated"],
                          [s["row"] for s in answer["skipped"]]),
                         (created, updated, list(skipped_rows)), answer)

    def assertReason(self, answer, row, *words):
        """The skipped row's reason mentions each word (case-insensitive)."""
        reasons = [s["reason"] for s in answer["skipped"] if s["row"] == row]
        self.assertEqual(len(reasons), 1, answer)
        for w in words:
            self.assertIn(w.lower(), reasons[0].lower(), "row %d: %r" % (row, reasons[0]))
        return reasons[0]

    def assertFileError(self, st, parsed, raw, kind, exact_form=False):
        """400 {"file": ["The file is not a valid <kind> ...: <why>"]}: one message
        naming the kind and giving a reason. exact_form: it also starts with
        SPEC section 9's words, "The file is not a valid <kind>"."""
        self.assertEqual(st, 400, raw[:2000])
        self.assertIsInstance(parsed, dict, raw[:2000])
        self.assertEqual(list(parsed), ["file"], parsed)
        self.assertIsInstance(parsed["file"], list, parsed)
        self.assertEqual(len(parsed["file"]), 1, parsed)
        msg = parsed["file"][0]
        self.assertIsInstance(msg, str, parsed)
        self.assertRegex(msg, r"^The file is not .*\b%s\b" % kind, "the kind is named")
        self.assertGreater(len(msg), len("The file is not a valid %s" % kind) + 10,
                           "no reason given: %r" % msg)
        if exact_form:
            self.assertTrue(msg.startswith("The file is not a valid %s" % kind),
                            "%r should start with 'The file is not a valid %s'" % (msg, kind))
        return msg

    def get(self, path):
        st, parsed = self.srv.get(path)
        self.assertEqual(st, 200, "GET %s -> %d %r" % (path, st, parsed))
        return parsed

    def count(self, collection=CUSTOMERS, query=""):
        return self.get(collection + "?limit=1" + query)["count"]

    def customer(self, email, channel=1):
        q = urllib.parse.urlencode({"email": email, "channel": channel})
        body = self.get(CUSTOMERS + "?" + q)
        self.assertEqual(body["count"], 1, "customers with %s on channel %d: %r"
                         % (email, channel, body))
        return body["results"][0]

    def assertCustomer(self, email, channel=1, first=None, last=None, phone=None,
                       email_allowed=False, sms_allowed=False, chat=False, address=None,
                       status=None):
        """The imported customer of email (normalized) has these fields, and it is
        reconciled: /identify with its email answers an identity holding its phone,
        whose primary is the customer's identity. Returns the identity body."""
        c = self.customer(email, channel)
        what = "customer %s: %s" % (email, json.dumps(c, ensure_ascii=False))
        self.assertEqual(c["email"], email, what)
        self.assertEqual(c["channel_code"], email, what)
        self.assertEqual(c["channel"], channel, what)
        self.assertEqual((c["first_name"], c["last_name"]), (first, last), what)
        self.assertEqual(c["phone_number"], phone, what)
        self.assertIs(c["email_allowed"], email_allowed, what)
        self.assertIs(c["sms_allowed"], sms_allowed, what)
        attrs = c["attributes"]
        self.assertIsInstance(attrs, dict, what)
        self.assertIs(attrs.get("chat_allowed"), chat, what)
        if address is None:
            self.assertIn(attrs.get("address"), (None, ""), what)
        else:
            self.assertEqual(attrs.get("address"), address, what)
        if status is None:
            self.assertIn(attrs.get("status"), (None, ""), what)
        else:
            self.assertEqual(attrs.get("status"), status, what)
        ident = self.srv.identify({"email": email})["contact"]
        self.assertIn(email, ident["emails"], what)
        if phone is not None:
            self.assertIn(phone, ident["phoneNumbers"], what)
        self.assertEqual(c["identity"], ident["primaryContactId"], what)
        return ident

    def assertStoreClean(self):
        rc, out = self.srv.check()
        self.assertEqual(rc, 0, "idlink-check failed:\nstdout:\n%s\nstderr:\n%s"
                         % (out, self.srv.last_check_stderr))

    def kinds_since(self, seq):
        return [c.get("kind") for c in self.srv.changes_since(seq)]

    # ---- the browser --------------------------------------------------------

    def submit_upload_form(self, page, routes, filename, ctype, data):
        """GET the page, find its upload form, submit it as a browser would;
        returns the answer's (status, headers, raw)."""
        st, hdrs, _, raw = self.srv.request("GET", page)
        self.assertEqual(st, 200, raw[:2000])
        self.assertTrue(hdrs.get("content-type", "").lower().startswith("text/html"), hdrs)
        parser = FormParser()
        parser.feed(raw.decode("utf-8"))
        parser.close()
        forms = [f for f in parser.forms
                 if any(c["type"] == "file" and c.get("name") == "file" for c in f["controls"])]
        self.assertEqual(len(forms), 1, "one form with <input type=file name=file>: %r"
                         % parser.forms)
        form = forms[0]
        self.assertEqual(form["attrs"].get("method", "get").lower(), "post", form)
        self.assertEqual(form["attrs"].get("enctype", "").lower(), "multipart/form-data", form)
        page_url = "http://127.0.0.1:%d%s" % (self.srv.port, page)
        action = urllib.parse.urljoin(page_url, form["attrs"].get("action", ""))
        target = urllib.parse.urlsplit(action)
        self.assertEqual((target.hostname, target.port), ("127.0.0.1", self.srv.port), action)
        self.assertIn(target.path, routes, "the form posts to %r" % action)
        # the form's successful controls, in document order
        fields, clicked = [], False
        for c in form["controls"]:
            name = c.get("name")
            if not name or "disabled" in c:
                continue
            kind = c["type"]
            if kind == "file":
                fields.append((name, filename, data, ctype))
            elif kind in ("submit", "image", "button", "reset"):
                if kind == "submit" and not clicked:
                    fields.append((name, c.get("value", "")))
                    clicked = True
            elif kind in ("checkbox", "radio"):
                if "checked" in c:
                    fields.append((name, c.get("value", "on")))
            elif kind == "select":
                opts = c["options"]
                chosen = [o for o in opts if "selected" in o] or opts[:1]
                for o in chosen:
                    fields.append((name, o.get("value", "")))
            else:
                fields.append((name, c.get("value", "")))
        boundary = "----WebKitFormBoundary" + uuid.uuid4().hex[:16]
        body, ct = multipart_parts(fields, boundary)
        path = target.path + ("?" + target.query if target.query else "")
        st, hdrs, parsed, raw = self.srv.request(
            "POST", path, raw=body,
            headers={"Content-Type": ct, "Origin": "http://127.0.0.1:%d" % self.srv.port,
                     "Referer": page_url, "Accept": "text/html,application/xhtml+xml,*/*"})
        self.assertEqual(st, 200, "POST %s -> %d %s" % (path, st, raw[:2000]))
        if hdrs.get("content-type", "").startswith("application/json"):
            self.assertEqual(parsed.get("created"), 1, parsed)
        return st, hdrs, raw


# ================================================================ customers

class CustomerImportTests(ImportCase):

    def test_xlsx_every_column_and_reconciliation(self):
        p = [phone() for _ in range(4)]
        shared = phone()
        rows = [
            ["Ada Lovelace", " Ada.Lovelace@XLSX.Example ", "12 St James's Square, London",
             "+44 " + p[0], 1, 0, "x", "active"],
            ["Çağla Öztürk", "cagla@xlsx.example", "Bağdat Cd. 5, İstanbul", int(p[1]),
             True, True, False, "vip"],
            ["Jean Claude Van Damme", "jcvd@xlsx.example", "Brussels", "(%s) %s-%s"
             % (p[2][:3], p[2][3:6], p[2][6:]), "yes", "no", None, 2],
            ["Cher", "cher@xlsx.example", None, None, None, None, None, None],
            ["Grace Hopper", "grace@xlsx.example", "Arlington", p[3], "y", "n", "true",
             "inactive"],
            ["Twin One", "twin1@xlsx.example", "Here", shared, "false", "true", "0", "a"],
            ["Twin Two", "twin2@xlsx.example", "There", int(shared), 0, 1, 1, "b"],
        ]
        data = xlsx_bytes(rows, CUSTOMER_HEADER)
        sheet = zip_member(data, "xl/worksheets/sheet1.xml")
        self.assertIn(b't="inlineStr"', sheet)  # what this file covers
        self.assertIn(b't="b"', sheet)
        seq = self.srv.last_seq()
        before = self.count()
        answer = self.imported(CUSTOMERS_IMPORT, data)
        self.assertCounts(answer, 7, 0)
        self.assertEqual(self.count(), before + 7)
        self.assertEqual(self.kinds_since(seq).count("customer.created"), 7)
        self.assertCustomer("ada.lovelace@xlsx.example", first="Ada", last="Lovelace",
                            phone="+44" + p[0], email_allowed=True, sms_allowed=False,
                            chat=True, address="12 St James's Square, London", status="active")
        self.assertCustomer("cagla@xlsx.example", first="Çağla", last="Öztürk", phone=p[1],
                            email_allowed=True, sms_allowed=True, chat=False,
                            address="Bağdat Cd. 5, İstanbul", status="vip")
        self.assertCustomer("jcvd@xlsx.example", first="Jean", last="Claude Van Damme",
                            phone=p[2], email_allowed=True, sms_allowed=False, chat=False,
                            address="Brussels", status="2")
        self.assertCustomer("cher@xlsx.example", first="Cher", last="")
        self.assertCustomer("grace@xlsx.example", first="Grace", last="Hopper", phone=p[3],
                            email_allowed=True, sms_allowed=False, chat=True,
                            address="Arlington", status="inactive")
        one = self.assertCustomer("twin1@xlsx.example", first="Twin", last="One", phone=shared,
                                  email_allowed=False, sms_allowed=True, chat=False,
                                  address="Here", status="a")
        two = self.assertCustomer("twin2@xlsx.example", first="Twin", last="Two", phone=shared,
                                  email_allowed=False, sms_allowed=True, chat=True,
                                  address="There", status="b")
        # two rows sharing a phone end up in one identity
        self.assertEqual(one["primaryContactId"], two["primaryContactId"])
        self.assertEqual(set(one["emails"]), {"twin1@xlsx.example", "twin2@xlsx.example"})
        self.assertEqual(one["phoneNumbers"], [shared])
        self.assertStoreClean()

    def test_xlsx_with_shared_strings(self):
        # Excel, LibreOffice and libxlsxwriter keep strings in xl/sharedStrings.xml
        if not libxlsxwriter():
            self.fail("libxlsxwriter (libxlsxwriter4, a build dependency) cannot be loaded")
        p = [phone() for _ in range(3)]
        rows = [["Shared Strings", "shared@sst.example", "Same St", int(p[0]), True, False,
                 1, "active"],
                ["Şükrü Saraçoğlu", "sukru@sst.example", "Same St", p[1], "yes", "x", "",
                 "active"],
                ["Solo", "SOLO@sst.example", "Other St", "+90 " + p[2], 0, 1, "y", "vip"]]
        data = lxw_xlsx_bytes(rows, CUSTOMER_HEADER)
        self.assertIsNotNone(zip_member(data, "xl/sharedStrings.xml"))
        self.assertIn(b't="s"', zip_member(data, "xl/worksheets/sheet1.xml"))
        back = list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
        self.assertEqual(back[2][0], "Şükrü Saraçoğlu")
        answer = self.imported(CUSTOMERS_IMPORT, data)
        self.assertCounts(answer, 3, 0)
        self.assertCustomer("shared@sst.example", first="Shared", last="Strings", phone=p[0],
                            email_allowed=True, sms_allowed=False, chat=True,
                            address="Same St", status="active")
        self.assertCustomer("sukru@sst.example", first="Şükrü", last="Saraçoğlu", phone=p[1],
                            email_allowed=True, sms_allowed=True, chat=False,
                            address="Same St", status="active")
        self.assertCustomer("solo@sst.example", first="Solo", last="", phone="+90" + p[2],
                            email_allowed=False, sms_allowed=True, chat=True,
                            address="Other St", status="vip")

    def test_markup_quotes_and_line_breaks_in_cells(self):
        address = 'Smith & Sons <Ltd> "Unit 4"\nBack door'
        writers = [("openpyxl.xlsx", lambda r: xlsx_bytes(r, CUSTOMER_HEADER)),
                   ("quoted.csv", text_bytes)]
        if libxlsxwriter():
            writers.append(("libxlsxwriter.xlsx", lambda r: lxw_xlsx_bytes(r, CUSTOMER_HEADER)))
        for i, (name, write) in enumerate(writers):
            with self.subTest(file=name):
                email = "markup%d@cells.example" % i
                rows = [["O'Neil & Co", email, address, "", "", "", "", "<b>vip</b>"]]
                self.assertCounts(self.imported(CUSTOMERS_IMPORT, write(rows), name), 1, 0)
                self.assertCustomer(email, first="O'Neil", last="& Co", address=address,
                                    status="<b>vip</b>")

    def test_header_only_workbook_imports_nothing(self):
        before = self.count()
        answer = self.imported(CUSTOMERS_IMPORT, xlsx_bytes([], CUSTOMER_HEADER))
        self.assertCounts(answer, 0, 0)
        self.assertEqual(self.count(), before)

    def test_same_file_twice_updates_never_duplicates(self):
        p = [phone() for _ in range(3)]
        rows = [["Ann Ames", "ann@twice.example", "1 Road", p[0], "1", "0", "1", "new"],
                ["Bob Bell", "BOB@twice.example", "2 Road", p[1], "0", "1", "0", "new"],
                ["Cyd", "cyd@twice.example", "3 Road", p[2], "", "", "", "new"]]
        data = text_bytes(rows)
        first = self.imported(CUSTOMERS_IMPORT, data, "people.csv")
        self.assertCounts(first, 3, 0)
        total = self.count()
        idents = {e: self.srv.identify({"email": e})["contact"]["primaryContactId"]
                  for e in ("ann@twice.example", "bob@twice.example", "cyd@twice.example")}
        seq = self.srv.last_seq()
        second = self.imported(CUSTOMERS_IMPORT, data, "people.csv")
        self.assertCounts(second, 0, 3)  # a row that changes nothing counts as updated
        self.assertEqual(self.count(), total)
        self.assertEqual(self.srv.created_since(seq), [], "re-import created contacts")
        self.assertNotIn("customer.created", self.kinds_since(seq))
        for e, primary in idents.items():
            self.assertEqual(self.customer(e)["identity"], primary)
        # a changed row updates the stored customer; a new row is created
        rows[0] = ["Ann Ames-Smith", "ann@twice.example", "9 Lane", p[0], "0", "1", "0",
                   "gold"]
        rows.append(["Dee Dunn", "dee@twice.example", "4 Road", phone(), "", "", "", "new"])
        third = self.imported(CUSTOMERS_IMPORT, text_bytes(rows), "people.csv")
        self.assertCounts(third, 1, 3)
        self.assertEqual(self.count(), total + 1)
        self.assertCustomer("ann@twice.example", first="Ann", last="Ames-Smith", phone=p[0],
                            email_allowed=False, sms_allowed=True, chat=False,
                            address="9 Lane", status="gold")
        self.assertCustomer("bob@twice.example", first="Bob", last="Bell", phone=p[1],
                            email_allowed=False, sms_allowed=True, chat=False,
                            address="2 Road", status="new")
        self.assertStoreClean()

    def test_channel_part(self):
        p = phone()
        rows = [["Chan Nel", "chan@channel.example", "Addr", p, "1", "1", "1", "s"]]
        data = xlsx_bytes(rows, CUSTOMER_HEADER)
        self.assertCounts(self.imported(CUSTOMERS_IMPORT, data, channel="7"), 1, 0)
        self.assertEqual(self.count(query="&channel=7&email=chan@channel.example"), 1)
        self.assertEqual(self.count(query="&channel=1&email=chan@channel.example"), 0)
        # without a channel part: channel 1, another customer of the same identity
        self.assertCounts(self.imported(CUSTOMERS_IMPORT, data), 1, 0)
        # the channel part after the file part
        self.assertCounts(self.imported(CUSTOMERS_IMPORT, data, channel="9",
                                        channel_last=True), 1, 0)
        a = self.assertCustomer("chan@channel.example", 7, "Chan", "Nel", p, True, True, True,
                                "Addr", "s")
        b = self.assertCustomer("chan@channel.example", 1, "Chan", "Nel", p, True, True, True,
                                "Addr", "s")
        self.assertCustomer("chan@channel.example", 9, "Chan", "Nel", p, True, True, True,
                            "Addr", "s")
        self.assertEqual(a["primaryContactId"], b["primaryContactId"])
        # a channel that is not a positive integer: 400 naming channel, nothing imported
        before = self.count()
        other = xlsx_bytes([["X Y", "badchan@channel.example", "", "", "", "", "", ""]],
                           CUSTOMER_HEADER)
        for bad, message in (("abc", "A valid integer is required."),
                             ("7\x00", "A valid integer is required."),
                             ("0", "Ensure this value is greater than or equal to 1."),
                             ("-3", "Ensure this value is greater than or equal to 1."),
                             ("2147483648", "Ensure this value is less than or equal to "
                                            "2147483647."),
                             ("99999999999999999999", "Ensure this value is less than or "
                                                      "equal to 2147483647.")):
            with self.subTest(channel=bad):
                st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, other, channel=bad)
                self.assertEqual((st, parsed), (400, {"channel": [message]}), raw[:2000])
        self.assertEqual(self.count(), before)
        self.assertStoreClean()

    def test_xls(self):
        p = [phone() for _ in range(3)]
        rows = [["Ola Nordmann", "ola@xls.example", "Storgata 1, Oslo", float(p[0]), 1, 0, 1,
                 "active"],
                ["Zoë Ångström", "zoe@xls.example", "Göteborg", p[1], True, False, True, "vip"],
                ["Mono", "mono@xls.example", "", "+1 " + p[2], "yes", "y", "x", 3]]
        data = xls_bytes(rows, CUSTOMER_HEADER)
        book = xlrd.open_workbook(file_contents=data)  # what this file claims to cover
        sheet = book.sheet_by_index(0)
        self.assertEqual(sheet.cell(1, 3).ctype, xlrd.XL_CELL_NUMBER)
        self.assertEqual(sheet.cell(2, 4).ctype, xlrd.XL_CELL_BOOLEAN)
        answer = self.imported(CUSTOMERS_IMPORT, data, "customers.xls",
                               ctype="application/vnd.ms-excel")
        self.assertCounts(answer, 3, 0)
        self.assertCustomer("ola@xls.example", first="Ola", last="Nordmann", phone=p[0],
                            email_allowed=True, sms_allowed=False, chat=True,
                            address="Storgata 1, Oslo", status="active")
        self.assertCustomer("zoe@xls.example", first="Zoë", last="Ångström", phone=p[1],
                            email_allowed=True, sms_allowed=False, chat=True,
                            address="Göteborg", status="vip")
        self.assertCustomer("mono@xls.example", first="Mono", last="", phone="+1" + p[2],
                            email_allowed=True, sms_allowed=True, chat=True, status="3")
        self.assertStoreClean()

    def test_csv_quoting_and_non_ascii(self):
        p = [phone() for _ in range(4)]
        rows = [["Çağla Öztürk", "cagla@csv.example", "Flat 2, \"The Old Mill\", Leeds", p[0],
                 "1", "0", "yes", "active"],
                ["李 小龍", "lee@csv.example", "香港", p[1], "no", "yes", "n", "vip"],
                ["Ελένη Παπαδοπούλου", "eleni@csv.example", "Αθήνα", p[2], "TRUE", "False",
                 "Yes", "new"],
                ["Short Row", "short@csv.example"]]
        answer = self.imported(CUSTOMERS_IMPORT, text_bytes(rows), "customers.csv",
                               ctype="text/csv")
        self.assertCounts(answer, 4, 0)
        self.assertCustomer("cagla@csv.example", first="Çağla", last="Öztürk", phone=p[0],
                            email_allowed=True, sms_allowed=False, chat=True,
                            address="Flat 2, \"The Old Mill\", Leeds", status="active")
        self.assertCustomer("lee@csv.example", first="李", last="小龍", phone=p[1],
                            email_allowed=False, sms_allowed=True, chat=False,
                            address="香港", status="vip")
        self.assertCustomer("eleni@csv.example", first="Ελένη", last="Παπαδοπούλου",
                            phone=p[2], email_allowed=True, sms_allowed=False, chat=True,
                            address="Αθήνα", status="new")
        self.assertCustomer("short@csv.example", first="Short", last="Row")

    def test_semicolon_txt(self):
        p = [phone() for _ in range(3)]
        # the first line has no comma; later fields hold commas and a quoted semicolon
        rows = [["Jean Dupont", "jean@semi.example", "Paris", p[0], "1", "1", "0", "actif"],
                ["Marie Curie", "marie@semi.example", "5 Rue de Rivoli, Paris", p[1], "0",
                 "x", "1", "vip, gold"],
                ["Anaïs Nin", "anais@semi.example", "Apt 3; 7 Quai", p[2], "", "", "", ""]]
        data = text_bytes(rows, delimiter=";", lineterminator="\n")
        self.assertIn(b'"Apt 3; 7 Quai"', data)
        answer = self.imported(CUSTOMERS_IMPORT, data, "customers.txt", ctype="text/plain")
        self.assertCounts(answer, 3, 0)
        self.assertCustomer("jean@semi.example", first="Jean", last="Dupont", phone=p[0],
                            email_allowed=True, sms_allowed=True, chat=False,
                            address="Paris", status="actif")
        self.assertCustomer("marie@semi.example", first="Marie", last="Curie", phone=p[1],
                            email_allowed=False, sms_allowed=True, chat=True,
                            address="5 Rue de Rivoli, Paris", status="vip, gold")
        self.assertCustomer("anais@semi.example", first="Anaïs", last="Nin", phone=p[2],
                            address="Apt 3; 7 Quai")

    def test_tab_separated(self):
        p = [phone() for _ in range(2)]
        rows = [["Tab Ulator", "tab@tsv.example", "1 Tab St, Tabtown; TT", p[0], "1", "0", "1",
                 "ok"],
                ["Tess Tab", "tess@tsv.example", "2 Tab St", p[1], "0", "1", "0", "ok"]]
        data = text_bytes(rows, delimiter="\t", lineterminator="\n")
        answer = self.imported(CUSTOMERS_IMPORT, data, "customers.tsv",
                               ctype="text/tab-separated-values")
        self.assertCounts(answer, 2, 0)
        self.assertCustomer("tab@tsv.example", first="Tab", last="Ulator", phone=p[0],
                            email_allowed=True, sms_allowed=False, chat=True,
                            address="1 Tab St, Tabtown; TT", status="ok")
        self.assertCustomer("tess@tsv.example", first="Tess", last="Tab", phone=p[1],
                            email_allowed=False, sms_allowed=True, chat=False,
                            address="2 Tab St", status="ok")

    def test_windows_line_ends_and_bom(self):
        p = [phone() for _ in range(2)]
        rows = [["Ada Byron", "ada@bom.example", "Marylebone", p[0], "1", "1", "1", "vip"],
                ["Şule Çelik", "sule@bom.example", "Kadıköy", p[1], "0", "0", "0", "new"]]
        data = text_bytes(rows, lineterminator="\r\n", bom=True)
        self.assertTrue(data.startswith(b"\xef\xbb\xbfAda Byron,") and b"\r\n" in data)
        answer = self.imported(CUSTOMERS_IMPORT, data, "export-from-excel.csv")
        self.assertCounts(answer, 2, 0)  # the last line end is no empty row
        # the BOM is not part of the first name
        self.assertCustomer("ada@bom.example", first="Ada", last="Byron", phone=p[0],
                            email_allowed=True, sms_allowed=True, chat=True,
                            address="Marylebone", status="vip")
        self.assertCustomer("sule@bom.example", first="Şule", last="Çelik", phone=p[1],
                            address="Kadıköy", status="new")

    def test_kind_from_content_not_name(self):
        p = [phone() for _ in range(3)]
        cases = [
            ("data.csv", xlsx_bytes([["Xl Sx", "xlsx@kind.example", "A", p[0], 1, 0, 0, "s"]],
                                    CUSTOMER_HEADER), "text/csv"),
            ("data.xlsx", text_bytes([["Cs V", "csv@kind.example", "A", p[1], "1", "0", "0",
                                       "s"]]), XLSX_TYPE),
            ("data.txt", xls_bytes([["Xl S", "xls@kind.example", "A", p[2], 1, 0, 0, "s"]],
                                   CUSTOMER_HEADER), "text/plain"),
        ]
        for (name, data, ctype), email, ph in zip(
                cases, ("xlsx@kind.example", "csv@kind.example", "xls@kind.example"), p):
            with self.subTest(filename=name, email=email):
                answer = self.imported(CUSTOMERS_IMPORT, data, name, ctype=ctype)
                self.assertCounts(answer, 1, 0)
                c = self.customer(email)
                self.assertEqual((c["phone_number"], c["email_allowed"],
                                  c["attributes"].get("status")), (ph, True, "s"))

    def test_bad_rows_are_skipped_and_good_rows_kept(self):
        p = [phone() for _ in range(3)]
        rows = [["Good One", "good1@skip.example", "A", p[0], "1", "", "", "s"],   # row 2
                ["No Email", None, "B", phone(), "", "", "", "s"],                 # row 3
                [None, "noname@skip.example", "C", phone(), "", "", "", "s"],      # row 4
                ["Bad Email", "not-an-email", "D", phone(), "", "", "", "s"],      # row 5
                ["Good Two", "good2@skip.example", "E", p[1], "", "", "", "s"],    # row 6
                ["Two Ats", "a@b@skip.example", "F", phone(), "", "", "", "s"],    # row 7
                ["Blank Email", "   ", "G", phone(), "", "", "", "s"],             # row 8
                ["Good Three", "good3@skip.example", "H", p[2], "", "", "", "s"]]  # row 9
        before = self.count()
        answer = self.imported(CUSTOMERS_IMPORT, xlsx_bytes(rows, CUSTOMER_HEADER))
        self.assertCounts(answer, 3, 0, [3, 4, 5, 7, 8])
        missing = self.assertReason(answer, 3, "email")
        self.assertReason(answer, 4, "name")
        invalid = self.assertReason(answer, 5, "email")
        self.assertNotEqual(invalid, missing, "an invalid email is not a missing one")
        self.assertReason(answer, 7, "email")
        self.assertReason(answer, 8, "email")
        self.assertEqual(self.count(), before + 3)
        self.assertCustomer("good1@skip.example", first="Good", last="One", phone=p[0],
                            email_allowed=True, address="A", status="s")
        self.assertCustomer("good2@skip.example", first="Good", last="Two", phone=p[1],
                            address="E", status="s")
        self.assertCustomer("good3@skip.example", first="Good", last="Three", phone=p[2],
                            address="H", status="s")
        self.assertEqual(self.count(query="&email=noname@skip.example"), 0)
        # csv has no header row: the rows count from the first line
        rows = [["No Email", "", "B"],                                   # row 1
                ["Good Four", "good4@skip.example", "A", phone()],       # row 2
                ["", "noname2@skip.example", "C"],                       # row 3
                ["Bad Email", "nobody at skip.example", "D"]]            # row 4
        answer = self.imported(CUSTOMERS_IMPORT, text_bytes(rows), "people.csv")
        self.assertCounts(answer, 1, 0, [1, 3, 4])
        self.assertReason(answer, 1, "email")
        self.assertReason(answer, 3, "name")
        self.assertReason(answer, 4, "email")
        self.assertEqual(self.count(), before + 4)
        self.assertStoreClean()

    def test_row_numbers_count_blank_lines_and_gaps(self):
        # text: a blank line is a file row too (LF and CRLF files alike)
        for term in ("\n", "\r\n"):
            with self.subTest(line_end=repr(term)):
                tag = "crlf" if term == "\r\n" else "lf"
                lines = ["Row One,one.%s@rows.example" % tag,       # row 1
                         "",                                        # row 2
                         "No Email,",                               # row 3
                         "",                                        # row 4
                         ",noname.%s@rows.example" % tag,           # row 5
                         "Row Six,six.%s@rows.example" % tag]       # row 6
                answer = self.imported(CUSTOMERS_IMPORT, (term.join(lines) + term).encode(),
                                       "rows.csv")
                self.assertEqual((answer["created"], answer["updated"]), (2, 0), answer)
                rows = [s["row"] for s in answer["skipped"]]
                self.assertIn(3, rows, answer)
                self.assertIn(5, rows, answer)
                self.assertTrue(set(rows) <= {2, 3, 4, 5}, answer)  # blank rows may be reported
                self.assertReason(answer, 3, "email")
                self.assertReason(answer, 5, "name")
        # xlsx: rows 3 and 4 are not in the file at all; row 5 is row 5
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(CUSTOMER_HEADER)
        ws.append(["Gap One", "gap1@rows.example"])
        ws.cell(row=5, column=1, value="Gap Five")
        ws.cell(row=7, column=1, value="Gap Seven")
        ws.cell(row=7, column=2, value="gap7@rows.example")
        buf = io.BytesIO()
        wb.save(buf)
        answer = self.imported(CUSTOMERS_IMPORT, buf.getvalue(), "gaps.xlsx")
        self.assertCounts(answer, 2, 0, [5])
        self.assertReason(answer, 5, "email")

    def test_csv_with_a_header_row_reports_it(self):
        # csv files have no header row: a header is a row with an invalid email
        rows = [CUSTOMER_HEADER,
                ["Head Er", "header@head.example", "A", phone(), "1", "0", "0", "s"]]
        answer = self.imported(CUSTOMERS_IMPORT, text_bytes(rows), "with-header.csv")
        self.assertCounts(answer, 1, 0, [1])
        self.assertReason(answer, 1, "email")
        self.customer("header@head.example")

    def test_invalid_phone_is_skipped(self):
        rows = [["Bad Phone", "badphone@phone.example", "", "12ab34", "", "", "", ""],
                ["Good Phone", "goodphone@phone.example", "", "0555 111 22 33", "", "", "", ""]]
        answer = self.imported(CUSTOMERS_IMPORT, text_bytes(rows), "phones.csv")
        self.assertCounts(answer, 1, 0, [1])
        self.assertReason(answer, 1, "phone")
        self.assertEqual(self.count(query="&email=badphone@phone.example"), 0)
        self.assertCustomer("goodphone@phone.example", first="Good", last="Phone",
                            phone="05551112233")

    def test_long_email_is_imported_or_reported_as_email(self):
        # a valid email of 65 to 254 characters; channel_code takes at most 64
        email = "a" * 90 + "@long-email.example"
        rows = [["Long Email", email, "", "", "", "", "", ""]]
        answer = self.imported(CUSTOMERS_IMPORT, text_bytes(rows), "long.csv")
        if answer["created"] == 1:
            self.assertCustomer(email, first="Long", last="Email")
        else:
            self.assertCounts(answer, 0, 0, [1])
            # the reason names the file's column, not an API field the file has not
            self.assertReason(answer, 1, "email")

    def test_update_reconciles_a_new_phone_and_keeps_other_fields(self):
        old, new = phone(), phone()
        st, body = self.srv.post(CUSTOMERS, {
            "email": "kept@merge.example", "channel": 1, "channel_code": "kept@merge.example",
            "phone_number": old, "erp_code": "ERP-1", "call_allowed": True,
            "attributes": {"tier": "gold", "status": "old"}})
        self.assertEqual(st, 201, body)
        pk = body["pk"]
        rows = [["Kept Merge", "Kept@Merge.example", "New St", new, "1", "1", "1", "new"]]
        answer = self.imported(CUSTOMERS_IMPORT, text_bytes(rows), "merge.csv")
        self.assertCounts(answer, 0, 1)
        ident = self.assertCustomer("kept@merge.example", first="Kept", last="Merge",
                                    phone=new, email_allowed=True, sms_allowed=True,
                                    chat=True, address="New St", status="new")
        # the new phone is reconciled into the identity, which still knows the old one
        self.assertEqual(set(ident["phoneNumbers"]), {old, new})
        c = self.customer("kept@merge.example")
        self.assertEqual(c["pk"], pk)
        # what the file does not hold is left as it was
        self.assertEqual((c["erp_code"], c["call_allowed"], c["attributes"].get("tier")),
                         ("ERP-1", True, "gold"), c)
        self.assertStoreClean()

    def test_concurrent_imports_of_one_file(self):
        rows = [["Con Current%d" % i, "con%d@concurrent.example" % i, "", phone(), "", "",
                 "", ""] for i in range(40)]
        data = text_bytes(rows)
        before = self.count()

        def one(_):
            return self.upload(CUSTOMERS_IMPORT, data, "same.csv")

        results = harness.run_threads(one, 4)
        for st, parsed, _, raw in results:
            self.assertEqual(st, 200, raw[:500])
        self.assertEqual(sum(p["created"] for _, p, _, _ in results), 40, results)
        self.assertEqual(sum(p["updated"] for _, p, _, _ in results), 120, results)
        self.assertEqual(self.count(), before + 40)
        self.assertStoreClean()

    def test_multipart_as_other_clients_send_it(self):
        base = "multi-%d@parts.example"
        # a quoted boundary parameter (.NET's HttpClient sends one)
        body, _ = multipart([], [("file", "a.csv", text_bytes([["Mul Ti", base % 1]]),
                                  "text/csv")], "quoted-boundary-0123456789")
        st, _, parsed, raw = self.srv.request("POST", CUSTOMERS_IMPORT, raw=body, headers={
            "Content-Type": 'multipart/form-data; boundary="quoted-boundary-0123456789"'})
        self.assertEqual((st, parsed and parsed.get("created")), (200, 1), raw)
        # other parts (a csrf token, a submit button) around the file; a UTF-8 file name
        answer = self.imported(
            CUSTOMERS_IMPORT, text_bytes([["Mul Ti", base % 2]]), "müşteri listesi.csv",
            fields=[("csrfmiddlewaretoken", "abc123"), ("submit", "Import")])
        self.assertCounts(answer, 1, 0)
        # an empty channel part (a cleared number input) is the default channel
        answer = self.imported(CUSTOMERS_IMPORT, text_bytes([["Mul Ti", base % 3]]),
                               "c.csv", channel="")
        self.assertCounts(answer, 1, 0)
        for i in (1, 2, 3):
            self.customer(base % i, 1)

    def test_trailing_slash_optional_and_upload_alias(self):
        rows = [["Slash Less", "slashless@route.example", "", phone(), "", "", "", ""]]
        self.assertCounts(self.imported("/api/v1/customers/import", text_bytes(rows),
                                        "a.csv"), 1, 0)
        rows = [["Up Load", "upload@route.example", "", phone(), "", "", "", ""]]
        self.assertCounts(self.imported("/upload/customers", text_bytes(rows), "b.csv",
                                        channel="4"), 1, 0)
        self.customer("upload@route.example", 4)

    def test_wrong_method(self):
        st, hdrs, body, raw = self.srv.request("GET", CUSTOMERS_IMPORT)
        self.assertEqual((st, body), (405, {"detail": 'Method "GET" not allowed.'}), raw)
        self.assertIn("POST", hdrs.get("allow", ""))

    def test_file_larger_than_max_body_is_accepted(self):
        # --max-body (1 MiB) is for JSON bodies; uploads go up to --max-upload (64 MiB)
        rows = [["Big %d" % i, "big%d@large.example" % i, "x" * 8000, "", "", "", "", ""]
                for i in range(200)]
        data = text_bytes(rows)
        self.assertGreater(len(data), 1536 * 1024)
        answer = self.imported(CUSTOMERS_IMPORT, data, "big.csv")
        self.assertCounts(answer, 200, 0)
        self.assertEqual(self.count(query="&email__startswith=big"), 200)
        self.customer("big199@large.example")
        self.assertStoreClean()

    def test_long_cells_kept_whole(self):
        # attributes take up to 64 KiB; nothing is cut short, not inside a character
        address = ("Çamlıca Sokağı " * 300).strip()  # ~5 KB
        status = "ş" * 254 + "ğ"                    # 510 bytes
        rows = [["Long Cells", "long@cells.example", address, "", "", "", "", status],
                ["Short Status", "short@cells.example", "x" * 1500, "", "", "", "",
                 "s" * 254 + "ş"]]
        for maker, name in ((text_bytes, "long.csv"),
                            (lambda r: xlsx_bytes(r, CUSTOMER_HEADER), "long.xlsx")):
            with self.subTest(file=name):
                answer = self.imported(CUSTOMERS_IMPORT, maker(rows), name)
                self.assertEqual(answer["created"] + answer["updated"], 2, answer)
                self.assertEqual(answer["skipped"], [], answer)
                self.assertCustomer("long@cells.example", first="Long", last="Cells",
                                    address=address, status=status)
                self.assertCustomer("short@cells.example", first="Short", last="Status",
                                    address="x" * 1500, status="s" * 254 + "ş")

    def test_curl_form_upload(self):
        ph = phone()
        data = xlsx_bytes([["Curl User", "curl@curl.example", "Somewhere", int(ph), 1, 1, 0,
                            "ok"]], CUSTOMER_HEADER)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "customers.xlsx")
            with open(path, "wb") as f:
                f.write(data)
            url = "http://127.0.0.1:%d%s" % (self.srv.port, CUSTOMERS_IMPORT)
            p = subprocess.run(["curl", "-sS", "-F", "file=@" + path, "-F", "channel=3",
                                "-w", "\n%{http_code}", url],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            out, _, code = p.stdout.rpartition(b"\n")
            self.assertEqual(code, b"200", p.stdout)
            answer = json.loads(out)
            self.assertEqual(answer, {"created": 1, "updated": 0, "skipped": []})
            # and to the seed's route, as its browser form posts
            csvpath = os.path.join(d, "customers.csv")
            with open(csvpath, "wb") as f:
                f.write(text_bytes([["Curl Two", "curl2@curl.example", "", phone(), "", "",
                                     "", ""]]))
            url = "http://127.0.0.1:%d/upload/customers" % self.srv.port
            p = subprocess.run(["curl", "-sS", "-F", "file=@" + csvpath, "-w",
                                "\n%{http_code}", url], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.rpartition(b"\n")[2], b"200", p.stdout)
        self.assertCustomer("curl@curl.example", 3, "Curl", "User", ph, True, True, False,
                            "Somewhere", "ok")
        self.customer("curl2@curl.example", 1)

    def test_upload_form_page(self):
        self.submit_upload_form(
            "/upload/customers", CUSTOMER_IMPORT_ROUTES, "customers.xlsx", XLSX_TYPE,
            xlsx_bytes([["Form User", "form@form.example", "Web", phone(), "x", "", "", "ok"]],
                       CUSTOMER_HEADER))
        c = self.customer("form@form.example")
        self.assertEqual((c["first_name"], c["last_name"], c["email_allowed"]),
                         ("Form", "User", True))


# ================================================================ products

class ProductImportTests(ImportCase):

    def assertProduct(self, name, price, purchased, warranty):
        found = self.get(PRODUCTS + "?" + urllib.parse.urlencode({"name": name}))
        self.assertEqual(found["count"], 1, found)
        p = found["results"][0]
        self.assertEqual((p["name"], p["price"], p["purchased"], p["warranty"], p["customer"]),
                         (name, price, purchased, warranty, None), p)
        return p

    def test_xlsx_products(self):
        today = datetime.datetime.now(UTC).date()
        rows = [["Kettle X1", 19.9, datetime.date(2024, 1, 2), 24],              # row 2
                ["Toaster X1", "1299.00", "2023-12-31", 0],                       # row 3
                ["Fan X1", 5, datetime.date(2024, 3, 1), None],                   # row 4
                ["Lamp X1", "7.5", None, 12],                                     # row 5
                ["Çaydanlık X1", 250.25, "2024-02-29", "36"],                     # row 6
                [None, 3, datetime.date(2024, 1, 1), 1],                          # row 7
                ["Priceless X1", None, datetime.date(2024, 1, 1), 1]]             # row 8
        # row 4's date in Excel's built-in short date format (numFmtId 14)
        data = xlsx_bytes(rows, PRODUCT_HEADER, formats={(4, 3): "mm-dd-yy"})
        wb = openpyxl.load_workbook(io.BytesIO(data))  # what this file claims to cover
        self.assertTrue(wb.active.cell(row=2, column=3).is_date)
        self.assertTrue(wb.active.cell(row=4, column=3).is_date)
        seq = self.srv.last_seq()
        before = self.count(PRODUCTS)
        answer = self.imported(PRODUCTS_IMPORT, data, "products.xlsx")
        self.assertCounts(answer, 5, 0, [7, 8])
        self.assertReason(answer, 7, "name")
        self.assertReason(answer, 8, "price")
        self.assertEqual(self.count(PRODUCTS), before + 5)
        self.assertEqual(self.kinds_since(seq).count("product.created"), 5)
        self.assertProduct("Kettle X1", "19.90", "2024-01-02", 24)
        self.assertProduct("Toaster X1", "1299.00", "2023-12-31", 0)
        self.assertProduct("Fan X1", "5.00", "2024-03-01", 0)
        lamp = self.get(PRODUCTS + "?name=Lamp%20X1")["results"][0]
        self.assertEqual((lamp["price"], lamp["warranty"]), ("7.50", 12), lamp)
        after = datetime.datetime.now(UTC).date()
        self.assertIn(lamp["purchased"], {today.isoformat(), after.isoformat()}, lamp)
        self.assertProduct("Çaydanlık X1", "250.25", "2024-02-29", 36)
        self.assertStoreClean()

    def test_xlsx_products_with_shared_strings(self):
        if not libxlsxwriter():
            self.fail("libxlsxwriter (libxlsxwriter4, a build dependency) cannot be loaded")
        rows = [["Kettle X7", 19.9, datetime.date(2024, 1, 2), 24],
                ["Toaster X7", "12.00", "2023-12-31", None],
                ["Kettle X7 Pro", 20, datetime.date(2019, 7, 31), 6]]
        data = lxw_xlsx_bytes(rows, PRODUCT_HEADER)
        self.assertIsNotNone(zip_member(data, "xl/sharedStrings.xml"))
        self.assertTrue(openpyxl.load_workbook(io.BytesIO(data)).active.cell(2, 3).is_date)
        answer = self.imported(PRODUCTS_IMPORT, data, "products.xlsx")
        self.assertCounts(answer, 3, 0)
        self.assertProduct("Kettle X7", "19.90", "2024-01-02", 24)
        self.assertProduct("Toaster X7", "12.00", "2023-12-31", 0)
        self.assertProduct("Kettle X7 Pro", "20.00", "2019-07-31", 6)

    def test_dates_of_other_workbook_date_systems(self):
        # a Mac workbook counts days from 1904; an ISO date cell (t="d") holds text
        wb = openpyxl.Workbook()
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
        ws = wb.active
        ws.append(PRODUCT_HEADER)
        ws.append(["Mac Kettle X8", 10, datetime.date(2024, 1, 2), 1])
        buf = io.BytesIO()
        wb.save(buf)
        self.assertIn(b'date1904="1"', zip_member(buf.getvalue(), "xl/workbook.xml"))
        self.assertCounts(self.imported(PRODUCTS_IMPORT, buf.getvalue(), "mac.xlsx"), 1, 0)
        self.assertProduct("Mac Kettle X8", "10.00", "2024-01-02", 1)
        wb = openpyxl.Workbook()
        wb.iso_dates = True
        ws = wb.active
        ws.append(PRODUCT_HEADER)
        ws.append(["ISO Kettle X8", 11, datetime.date(2024, 1, 3), 2])
        buf = io.BytesIO()
        wb.save(buf)
        self.assertIn(b't="d"', zip_member(buf.getvalue(), "xl/worksheets/sheet1.xml"))
        self.assertCounts(self.imported(PRODUCTS_IMPORT, buf.getvalue(), "iso.xlsx"), 1, 0)
        self.assertProduct("ISO Kettle X8", "11.00", "2024-01-03", 2)
        wb = xlwt.Workbook()
        wb.dates_1904 = True
        ws = wb.add_sheet("Sheet1")
        for c, v in enumerate(PRODUCT_HEADER):
            ws.write(0, c, v)
        for c, v in enumerate(["Mac Kettle X9", 12, datetime.date(2024, 1, 4), 3]):
            ws.write(1, c, v, xlwt.easyxf(num_format_str="YYYY-MM-DD") if c == 2 else
                     xlwt.Style.default_style)
        buf = io.BytesIO()
        wb.save(buf)
        self.assertEqual(xlrd.open_workbook(file_contents=buf.getvalue()).datemode, 1)
        self.assertCounts(self.imported(PRODUCTS_IMPORT, buf.getvalue(), "mac.xls"), 1, 0)
        self.assertProduct("Mac Kettle X9", "12.00", "2024-01-04", 3)

    def test_xls_products(self):
        rows = [["Kettle X2", 19.9, datetime.date(2024, 1, 2), 24],
                ["Blender X2", "45.00", "2022-06-30", 6],
                ["Mixer X2", 100, datetime.date(2021, 12, 31), None]]
        data = xls_bytes(rows, PRODUCT_HEADER)
        book = xlrd.open_workbook(file_contents=data, formatting_info=True)
        sheet = book.sheet_by_index(0)
        xf = book.xf_list[sheet.cell_xf_index(1, 2)]
        self.assertTrue(book.format_map[xf.format_key].type == xlrd.formatting.FDT)
        answer = self.imported(PRODUCTS_IMPORT, data, "products.xls")
        self.assertCounts(answer, 3, 0)
        self.assertProduct("Kettle X2", "19.90", "2024-01-02", 24)
        self.assertProduct("Blender X2", "45.00", "2022-06-30", 6)
        self.assertProduct("Mixer X2", "100.00", "2021-12-31", 0)

    def test_csv_and_semicolon_products(self):
        rows = [["Kettle X3", "19.90", "2024-01-02", "24"],
                ["Radio, portable X3", "12.5", "2023-05-06", "0"],
                ["No Date X3", "3", "", ""],
                ["", "9.99", "2024-01-01", "1"],           # row 4: no name
                ["No Price X3", "", "2024-01-01", "1"]]    # row 5: no price
        today = datetime.datetime.now(UTC).date().isoformat()
        answer = self.imported(PRODUCTS_IMPORT, text_bytes(rows), "products.csv")
        self.assertCounts(answer, 3, 0, [4, 5])
        self.assertReason(answer, 4, "name")
        self.assertReason(answer, 5, "price")
        self.assertProduct("Kettle X3", "19.90", "2024-01-02", 24)
        self.assertProduct("Radio, portable X3", "12.50", "2023-05-06", 0)
        self.assertProduct("No Date X3", "3.00", today, 0)
        rows = [["Kettle X4", "19.90", "2024-01-02", "24"], ["Pot X4", "8", "2024-01-03", "2"]]
        answer = self.imported("/upload/products", text_bytes(rows, delimiter=";"),
                               "products.txt")
        self.assertCounts(answer, 2, 0)
        self.assertProduct("Kettle X4", "19.90", "2024-01-02", 24)
        self.assertProduct("Pot X4", "8.00", "2024-01-03", 2)

    def test_invalid_product_values_are_skipped(self):
        rows = [["Good X5", "10.00", "2024-01-02", "1"],        # row 1
                ["Bad Price X5", "abc", "2024-01-02", "1"],     # row 2
                ["Negative X5", "-1.00", "2024-01-02", "1"],    # row 3
                ["Bad Date X5", "1.00", "2024-02-30", "1"],     # row 4
                ["Long Warranty X5", "1.00", "2024-01-02", "601"],  # row 5
                ["Bad Warranty X5", "1.00", "2024-01-02", "two"],   # row 6
                ["Good Too X5", "2.00", "2024-01-03", "0"]]     # row 7
        before = self.count(PRODUCTS)
        answer = self.imported(PRODUCTS_IMPORT, text_bytes(rows), "products.csv")
        self.assertCounts(answer, 2, 0, [2, 3, 4, 5, 6])
        self.assertReason(answer, 2, "price")
        self.assertReason(answer, 3, "price")
        self.assertReason(answer, 4, "purchased")
        self.assertReason(answer, 5, "warranty")
        self.assertReason(answer, 6, "warranty")
        self.assertEqual(self.count(PRODUCTS), before + 2)
        self.assertProduct("Good X5", "10.00", "2024-01-02", 1)
        self.assertProduct("Good Too X5", "2.00", "2024-01-03", 0)

    def test_products_export_reads_back(self):
        rows = [["Export A", 1.5, datetime.date(2020, 2, 29), 3],
                ["Export Ç, \"quoted\"", "2.00", "2021-01-01", 0]]
        self.imported(PRODUCTS_IMPORT, xlsx_bytes(rows, PRODUCT_HEADER), "p.xlsx")
        listed = self.get(PRODUCTS + "?limit=1000")["results"]
        self.assertTrue(listed)
        fields = list(listed[0].keys())
        # csv
        st, hdrs, _, raw = self.srv.request("GET", PRODUCTS + "export/?format=csv")
        self.assertEqual(st, 200, raw[:500])
        self.assertEqual(hdrs.get("content-type"), "text/csv; charset=utf-8")
        rows_back = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
        self.assertEqual(rows_back[0], fields)
        self.assertEqual(len(rows_back) - 1, len(listed))
        for row, rec in zip(rows_back[1:], listed):
            self.assertEqual(row, ["" if v is None else str(v) for v in rec.values()])
        # xlsx
        st, hdrs, _, raw = self.srv.request("GET", PRODUCTS + "export/?format=xlsx")
        self.assertEqual(st, 200, raw[:500])
        self.assertEqual(hdrs.get("content-type"), XLSX_TYPE)
        sheet = openpyxl.load_workbook(io.BytesIO(raw)).active
        back = list(sheet.iter_rows(values_only=True))
        self.assertEqual(list(back[0]), fields)
        self.assertEqual(len(back) - 1, len(listed))
        for row, rec in zip(back[1:], listed):
            for cell, (name, value) in zip(row, rec.items()):
                self.assertEqual(self.from_cell(cell, value), value, "%s %s" % (rec["pk"], name))

    @staticmethod
    def from_cell(cell, value):
        """An xlsx cell read back as the list API shows the field."""
        if cell is None:
            return None if value is None else "" if value == "" else cell
        if isinstance(cell, datetime.datetime):
            if isinstance(value, str) and len(value) == 10:
                return cell.strftime("%Y-%m-%d")
            want = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
            return value if abs(cell - want) <= datetime.timedelta(milliseconds=1) else cell
        if isinstance(value, str) and re.match(r"^\d+\.\d\d$", value) and not isinstance(
                cell, str):
            return "%.2f" % cell
        if isinstance(value, int) and isinstance(cell, float):
            return int(cell)
        return cell

    def test_upload_form_page(self):
        self.submit_upload_form(
            "/upload/products", PRODUCT_IMPORT_ROUTES, "products.csv", "text/csv",
            text_bytes([["Form Product X6", "4.20", "2024-05-05", "6"]]))
        self.assertProduct("Form Product X6", "4.20", "2024-05-05", 6)


# ================================================================ bad files

class BadFileTests(ImportCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # something to keep: bad files must change nothing
        body, ct = multipart(files=[("file", "seed.csv", text_bytes(
            [["Kept One", "kept@bad.example", "A", "5550001", "", "", "", ""]]), "text/csv")])
        st, _, _, raw = cls.srv.request("POST", CUSTOMERS_IMPORT, raw=body,
                                        headers={"Content-Type": ct})
        if st != 200:
            cls.srv.close()
            raise AssertionError("setting up: import -> %d %r" % (st, raw[:500]))

    def setUp(self):
        self.before = (self.count(), self.count(PRODUCTS), self.srv.last_seq())

    def tearDown(self):
        self.assertEqual((self.count(), self.count(PRODUCTS), self.srv.last_seq()),
                         self.before, "a refused upload changed the store")

    def real_xlsx(self):
        return xlsx_bytes([["Real Person %d" % i, "real%d@bad.example" % i, "Street " * 20,
                            "555%04d" % i, 1, 0, 1, "s"] for i in range(50)], CUSTOMER_HEADER)

    def real_xls(self):
        return xls_bytes([["Real Person %d" % i, "real%d@bad.example" % i, "Street " * 20,
                           "555%04d" % i, 1, 0, 1, "s"] for i in range(50)], CUSTOMER_HEADER)

    def test_xls_that_crashes_the_reader_leaves_the_server_up(self):
        # Inputs the fuzzer found: Debian's freexl 1.0.6 crashes on one and
        # leaks 256 MiB on the other; idlinkd reads xls in a process of its
        # own, so the server answers and keeps its memory.
        known = os.path.join(os.path.dirname(HERE_TESTS), "..", "fuzz", "known")
        with open(os.path.join(known, "freexl-segv.xls"), "rb") as f:
            st, parsed, _, raw = self.upload(PRODUCTS_IMPORT, f.read(), "crash.xls")
        self.assertEqual(st, 400, raw)
        self.assertTrue(parsed["file"][0].startswith("The file is not a valid xls workbook: "),
                        parsed)
        with open(os.path.join(known, "freexl-leak-256mib.xls"), "rb") as f:
            leaky = f.read()
        for _ in range(3):
            self.upload(PRODUCTS_IMPORT, leaky, "leak.xls")
        with open("/proc/%d/status" % self.srv.proc.pid) as f:
            rss_kib = int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
        self.assertLess(rss_kib, 200 * 1024, "the server's memory grew with the leaky files")
        self.assertEqual(self.srv.get("/healthz")[0], 200)

    def test_zip_that_is_not_a_workbook(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("readme.txt", "Not a workbook.\n" * 20)
        for path in (CUSTOMERS_IMPORT, PRODUCTS_IMPORT):
            with self.subTest(path=path):
                st, parsed, _, raw = self.upload(path, buf.getvalue(), "customers.xlsx")
                self.assertFileError(st, parsed, raw, "xlsx")

    def test_truncated_xlsx(self):
        data = self.real_xlsx()
        cut = data[:len(data) // 2]
        with self.assertRaises(Exception):  # openpyxl cannot read it either
            openpyxl.load_workbook(io.BytesIO(cut))
        st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, cut, "customers.xlsx")
        self.assertFileError(st, parsed, raw, "xlsx")

    def test_truncated_xls(self):
        data = self.real_xls()
        cut = data[:len(data) // 2]
        with self.assertRaises(Exception):  # xlrd cannot read it either
            with open(os.devnull, "w") as quiet:
                xlrd.open_workbook(file_contents=cut, logfile=quiet)
        st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, cut, "customers.xls")
        self.assertFileError(st, parsed, raw, "xls")

    def test_csv_with_an_unterminated_quote(self):
        data = (b'Ada Lovelace,ada@quote.example,"12 Main St\r\n'
                b'Grace Hopper,grace@quote.example,Arlington\r\n')
        for path in (CUSTOMERS_IMPORT, PRODUCTS_IMPORT):
            with self.subTest(path=path):
                st, parsed, _, raw = self.upload(path, data, "customers.csv")
                self.assertFileError(st, parsed, raw, "csv")

    def test_text_that_is_not_utf8(self):
        data = text_bytes([["José Müller", "jose@latin1.example", "Straße 1", "5550002", "", "",
                            "", ""]], encoding="latin-1")
        with self.assertRaises(UnicodeDecodeError):
            data.decode("utf-8")
        st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, data, "customers.csv")
        self.assertFileError(st, parsed, raw, "csv")
        # byte sequences that are not UTF-8 though they look close to it
        for what, bad in (("an encoded UTF-16 surrogate", b"\xed\xa0\x80"),
                          ("an overlong encoding", b"\xc0\xaf"),
                          ("a code point past U+10FFFF", b"\xf4\x90\x80\x80")):
            with self.subTest(what=what):
                data = (b"Ada Lovelace,ada@utf8.example,Street\r\nSur Name" + bad +
                        b",sur@utf8.example,Street" + bad + b"\r\n")
                with self.assertRaises(UnicodeDecodeError):
                    data.decode("utf-8")
                st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, data, "customers.csv")
                self.assertFileError(st, parsed, raw, "csv")
        with self.subTest(what="UTF-16 (Excel's Unicode Text)"):
            data = "Ada Lovelace\tada@utf16.example\r\n".encode("utf-16")
            st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, data, "customers.txt")
            self.assertFileError(st, parsed, raw, "csv")

    def test_binary_that_is_no_spreadsheet(self):
        data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
        st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, data, "photo.csv")
        self.assertFileError(st, parsed, raw, "csv")

    def test_messages_in_the_spec_form(self):
        # SPEC section 9: {"file": ["The file is not a valid xlsx workbook: <why>"]},
        # the same words for every kind
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("readme.txt", "Not a workbook.")
        xls = self.real_xls()
        for kind, data in (("xlsx", buf.getvalue()), ("xls", xls[:len(xls) // 2]),
                           ("csv", b'A B,"ab@x.io\r\n'), ("csv", b"A \xe9,ab@x.io\r\n")):
            with self.subTest(kind=kind, data=data[:12]):
                st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, data, "file")
                self.assertFileError(st, parsed, raw, kind, exact_form=True)

    def test_empty_file(self):
        for path in (CUSTOMERS_IMPORT, PRODUCTS_IMPORT, "/upload/customers"):
            with self.subTest(path=path):
                st, parsed, _, raw = self.upload(path, b"", "customers.csv")
                self.assertEqual((st, parsed), (400, EMPTY_FILE), raw)

    def test_no_file_part(self):
        for path in (CUSTOMERS_IMPORT, PRODUCTS_IMPORT):
            with self.subTest(path=path, what="channel part only"):
                st, parsed, _, raw = self.upload(path, None, channel="1")
                self.assertEqual((st, parsed), (400, NO_FILE), raw)
            with self.subTest(path=path, what="a browser's form with no file chosen"):
                body, ct = multipart([("channel", "1")],
                                     [("file", "", b"", "application/octet-stream")])
                st, _, parsed, raw = self.srv.request("POST", path, raw=body,
                                                      headers={"Content-Type": ct})
                self.assertEqual((st, parsed), (400, NO_FILE), raw)
            with self.subTest(path=path, what="a part of another name"):
                body, ct = multipart(files=[("upload", "c.csv", b"A B,a@b.io\r\n", "text/csv")])
                st, _, parsed, raw = self.srv.request("POST", path, raw=body,
                                                      headers={"Content-Type": ct})
                self.assertEqual((st, parsed), (400, NO_FILE), raw)

    def test_not_multipart(self):
        for path in (CUSTOMERS_IMPORT, "/upload/customers"):
            with self.subTest(path=path):
                st, hdrs, parsed, raw = self.srv.request(
                    "POST", path, {"file": "Ada Lovelace,ada@json.example"})
                self.assertIn(st, (400, 415), raw)
                self.assertTrue(hdrs.get("content-type", "").startswith("application/json"),
                                hdrs)
                self.assertIsInstance(parsed, dict, raw)

    def test_broken_multipart_body(self):
        body, ct = multipart(files=[("file", "c.csv", b"A B,ab@broken.example\r\n", "text/csv")])
        closing = body.rindex(b"\r\n--")
        st, hdrs, parsed, raw = self.srv.request("POST", CUSTOMERS_IMPORT, raw=body[:closing],
                                                 headers={"Content-Type": ct})
        self.assertGreaterEqual(st, 400, raw)
        self.assertLess(st, 500, raw)
        self.assertIsInstance(parsed, dict, raw)
        st, _, parsed, raw = self.srv.request("POST", CUSTOMERS_IMPORT, raw=body,
                                              headers={"Content-Type": "multipart/form-data"})
        self.assertGreaterEqual(st, 400, raw)
        self.assertLess(st, 500, raw)
        self.assertIsInstance(parsed, dict, raw)

    def test_content_types_the_form_reader_cannot_take_are_named(self):
        alone = ("multipart/form-data is taken with its boundary parameter alone: "
                 "Content-Type: multipart/form-data; boundary=...")
        short = "The multipart boundary must be 4 to 70 characters long."
        for boundary, ct, detail in (
                ("abc", "multipart/form-data; boundary=abc", short),
                ("abc", 'multipart/form-data; boundary="abc"', short),
                ("x" * 71, "multipart/form-data; boundary=" + "x" * 71, short),
                ("boundary-123456", "multipart/form-data; boundary=boundary-123456; "
                                    "charset=utf-8", alone),
                ("boundary-123456", "multipart/form-data; charset=utf-8; "
                                    "boundary=boundary-123456", alone)):
            with self.subTest(content_type=ct):
                body, _ = multipart([], [("file", "a.csv", b"A B,ab@types.example\r\n",
                                          "text/csv")], boundary)
                st, _, parsed, raw = self.srv.request("POST", CUSTOMERS_IMPORT, raw=body,
                                                      headers={"Content-Type": ct})
                self.assertEqual((st, parsed), (400, {"detail": detail}), raw)
        self.assertEqual(self.count(query="&email=ab@types.example"), 0)

    def test_store_checks_after_refusals(self):
        self.assertStoreClean()


# ================================================================ server options

class ServerOptionTests(ImportCase):
    server_args = ("--max-upload", "1000", "--crm-channel", "5")

    def test_seed_upload_route_uses_the_crm_channel(self):
        # seed 003's customers live on --crm-channel; the /api/v1/ route defaults to 1
        row = lambda n: text_bytes([["Crm User", "crm%d@crm.example" % n, "", phone()]])  # noqa
        self.assertCounts(self.imported("/upload/customers", row(1), "a.csv"), 1, 0)
        self.customer("crm1@crm.example", 5)
        self.assertCounts(self.imported(CUSTOMERS_IMPORT, row(2), "b.csv"), 1, 0)
        self.customer("crm2@crm.example", 1)
        self.submit_upload_form("/upload/customers", CUSTOMER_IMPORT_ROUTES, "c.csv",
                                "text/csv", row(3))
        self.customer("crm3@crm.example", 5)

    def test_small_file_imported(self):
        data = text_bytes([["Small File", "small@limit.example", "A", phone(), "", "", "", ""]])
        self.assertLess(len(data), 200)
        self.assertCounts(self.imported(CUSTOMERS_IMPORT, data, "small.csv"), 1, 0)
        self.assertStoreClean()

    def test_file_over_max_upload_is_413(self):
        rows = [["Big File %d" % i, "big%d@limit.example" % i, "Street " * 5, phone(), "", "",
                 "", ""] for i in range(60)]
        data = text_bytes(rows)
        self.assertGreater(len(data), 4000)
        before = self.count(), self.count(PRODUCTS)
        for path in (CUSTOMERS_IMPORT, "/upload/customers", PRODUCTS_IMPORT):
            with self.subTest(path=path):
                st, parsed, hdrs, raw = self.upload(path, data, "big.csv")
                self.assertEqual(st, 413, raw[:2000])
                self.assertTrue(hdrs.get("content-type", "").startswith("application/json"),
                                hdrs)
                self.assertIsInstance(parsed, dict, raw[:2000])
        with tempfile.TemporaryDirectory() as d:  # curl, which may send Expect: 100-continue
            path = os.path.join(d, "big.csv")
            with open(path, "wb") as f:
                f.write(data * 300)
            p = subprocess.run(["curl", "-sS", "-F", "file=@" + path, "-w", "\n%{http_code}",
                                "http://127.0.0.1:%d%s" % (self.srv.port, CUSTOMERS_IMPORT)],
                               capture_output=True, timeout=30)
            out, _, code = p.stdout.rpartition(b"\n")
            self.assertEqual(code, b"413", (p.stdout[-2000:], p.stderr))
            self.assertIsInstance(json.loads(out), dict)
        self.assertEqual((self.count(), self.count(PRODUCTS)), before)
        self.assertTrue(self.srv.healthy())



# ================================================================ a full store

class MissingXlsReaderTests(ImportCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server(env=harness.clean_env(
            {"IDLINK_XLS_READER": "/nonexistent/idlink-xls"}))

    def test_xls_is_refused_saying_why_and_the_rest_is_read(self):
        self.assertIn(".xls uploads are refused", self.srv.stderr())
        rows = [["Xls Less", "xlsless@reader.example", "", phone(), "", "", "", ""]]
        st, parsed, _, raw = self.upload(CUSTOMERS_IMPORT, xls_bytes(rows, CUSTOMER_HEADER),
                                         "a.xls")
        self.assertEqual((st, parsed), (400, {"file": [
            "This server cannot read .xls files: its xls reader (idlink-xls) is not "
            "installed. Save the sheet as .xlsx or .csv."]}), raw[:500])
        self.assertEqual(self.count(query="&email=xlsless@reader.example"), 0)
        self.assertCounts(self.imported(CUSTOMERS_IMPORT, xlsx_bytes(rows, CUSTOMER_HEADER),
                                        "a.xlsx"), 1, 0)


class StoreFullTests(ImportCase):
    # the smallest map the server takes: a file of a few thousand rows fills it
    server_args = ("--map-size", "1048576")

    def test_file_that_fills_the_store_changes_nothing(self):
        small = text_bytes([["Before Full", "before@full.example", "A", phone()]])
        self.assertCounts(self.imported(CUSTOMERS_IMPORT, small, "a.csv"), 1, 0)
        seq, before = self.srv.last_seq(), self.count()
        rows = [["Full Row%d" % i, "full%05d.%s@full.example" % (i, "f" * 30), "addr " * 40,
                 "556%07d" % i] for i in range(3000)]
        st, parsed, hdrs, raw = self.upload(CUSTOMERS_IMPORT, text_bytes(rows), "big.csv")
        self.assertEqual(st, 507, raw[:500])
        self.assertIsInstance(parsed, dict, raw[:500])
        self.assertEqual(self.srv.last_seq(), seq, "a refused import left changes")
        self.assertEqual(self.count(), before)
        for i in (0, 1500, 2999):
            self.assertEqual(self.srv.post("/api/identify/", {"email": rows[i][1]}),
                             (404, harness.NOT_FOUND), "half-written row %d" % (i + 1))
        self.assertStoreClean()
        # the space is still there for a small file
        small = text_bytes([["After Full", "after@full.example", "A", phone()]])
        self.assertCounts(self.imported(CUSTOMERS_IMPORT, small, "b.csv"), 1, 0)
        self.assertStoreClean()


if __name__ == "__main__":
    unittest.main()
