#!/usr/bin/python3
"""Writes the seed corpus of each harness into fuzz/corpus/<name>/.

The corpus is committed; run this again only to change it (Debian's python3
with python3-openpyxl and python3-xlwt, and a built idlinkd and idlink-dump
for the snapshot seeds: IDLINKD and IDLINK_DUMP, else build/):

    /usr/bin/python3 fuzz/seed-corpus.py
"""
import io
import os
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


def write(name, seed, data):
    folder = os.path.join(CORPUS, name)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, seed), "wb") as f:
        f.write(data)


# Inputs the harnesses found (regress-*: the bugs fixed; freexl-*: libfreexl's,
# fuzz/README.md) stay when the seeds are written again.
KEPT = ("regress-", "freexl-")


def fresh(name):
    folder = os.path.join(CORPUS, name)
    for seed in os.listdir(folder) if os.path.isdir(folder) else ():
        if not seed.startswith(KEPT):
            os.unlink(os.path.join(folder, seed))


# ------------------------------------------------------------------ body

def body():
    fresh("body")
    seeds = {
        "identify": '{"email": "jane.doe@example.com", "phoneNumber": "+905551234567"}',
        "identify-phone-int": '{"email": null, "phoneNumber": 905551234567}',
        "identify-phone-only": '{"phoneNumber": "(555) 123-4567"}',
        "identify-bad-types": '{"email": 12, "phoneNumber": [1]}',
        "identify-unicode": '{"email": "J\\u00f6rg@Example.COM ", "phoneNumber": "\\u0660555"}',
        "empty": "",
        "empty-object": "{}",
        "list": "[1, 2.5, true, null, \"x\"]",
        "string": '"jane@example.com"',
        "nul-in-string": '{"email": "a\\u0000b@example.com"}',
        "not-utf8": b'{"email": "\xff\xfe@example.com"}',
        "truncated": '{"email": "jane@exa',
        "deep-32": "[" * 32 + "]" * 32,
        "deep-33": "[" * 33 + "]" * 33,
        "deep-in-string": '{"email": "' + "[" * 40 + '"}',
        "customer": '{"email": "test@test.com", "channel": 1, "channel_code": "1231", '
                    '"gender": "male", "user_type": "registered", "is_active": false, '
                    '"erp_code": "er_code", "email_allowed": true, "sms_allowed": true, '
                    '"call_allowed": true, "phone_number": "05555555555", '
                    '"attributes": {"colour": "red"}, "extra_field": {}, '
                    '"date_of_birth": "2001-01-01"}',
        "order": '{"channel": 1, "number": "MP-1", "amount": "149.90", "currency": "TRY", '
                 '"customer": {"email": "buyer@example.com"}}',
        "big-numbers": '{"amount": 1e400, "n": -9223372036854775809, "m": 18446744073709551616}',
        "escapes": '{"k": "\\ud83d\\ude00 \\ud800 \\"\\\\\\/\\b\\f\\n\\r\\t"}',
    }
    for name, data in seeds.items():
        write("body", name, data)


# ----------------------------------------------------------------- query

COLLECTIONS = ["customers", "orders", "products", "feedback", "tickets", "bridges", "conflicts"]


def query():
    fresh("query")
    seeds = [
        ("customers", "email=jane.doe%40example.com"),
        ("customers", "ordering=-email&limit=5&page=2"),
        ("customers", "phone_number=%2B905551234567&page=1"),
        ("customers", "gender=%ff"),
        ("customers", "gender=male&user_type=guest&is_active=true"),
        ("customers", "attributes__colour=red&attributes__size=L"),
        ("customers", "email__startswith=JANE&first_name=Jane"),
        ("customers", "pk__in=1,2,,3&pk__gt=0&pk__lte=9"),
        ("customers", "created_date__gte=2024-01-01T00:00:00Z&date_joined__date=2024-01-02"),
        ("customers", "date_of_birth=1990-01-01&modified_date=2024-01-02"),
        ("customers", "identity=3"),
        ("customers", "utm=1"),
        ("customers", "a=1&&b%00=2&=3"),
        ("orders", "customer=1&amount__gte=10.50&currency=TRY"),
        ("orders", "identity=3&limit=1000"),
        ("orders", "ordering=-created_date&number__startswith=MP-"),
        ("products", "customer__isnull=true"),
        ("products", "customer__isnull=%fe%ff"),
        ("products", "name__startswith=Fan&price__lt=99.99"),
        ("products", "purchased=2024-01-02"),
        ("products", "purchased__gte=2024-03-01&warranty__in=12,24"),
        ("feedback", "kind=brand&product=2"),
        ("tickets", "status=closed&resolved=False"),
        ("tickets", "opened_date__gte=2000-01-01&closed_date__isnull=1"),
        ("tickets", "status=%c3"),
        ("bridges", "email=a%40b.c&legacy=true&ordering=-at"),
        ("conflicts", "id__gt=4&ordering=-id&limit=2&page=3"),
        ("conflicts", "reason__contains=x"),
    ]
    for i, (collection, q) in enumerate(seeds):
        write("query", "%02d-%s" % (i, collection), bytes([COLLECTIONS.index(collection)]) + q.encode())
    # The export's parameters (the high bit of the first byte).
    write("query", "export-csv", bytes([0x80]) + b"format=csv&email__startswith=j")
    write("query", "export-bad", bytes([0x82]) + b"format=pdf&colour=1")


# -------------------------------------------------------------- snapshot

def snapshot():
    import harness
    fresh("snapshot")
    dump = os.environ.get("IDLINK_DUMP") or os.path.join(ROOT, "build", "idlink-dump")
    for name, fill in (("empty", False), ("small", True)):
        with harness.Server() as srv:
            if fill:
                srv.identify({"email": "jane@example.com", "phoneNumber": "+905551234567"})
                srv.identify({"email": "jane2@example.com", "phoneNumber": "+905551234567"})
                srv.identify({"email": "bob@example.com"})
                srv.identify({"email": "jane@example.com", "phoneNumber": "+905559999999"})
                c = srv.post("/api/v1/customers/", {
                    "email": "jane@example.com", "channel": 1, "channel_code": "c1",
                    "phone_number": "+905551234567", "attributes": {"colour": "red"}})
                p = srv.post("/api/v1/products/", {
                    "name": "Lamp", "price": "12.50", "purchased": "2024-01-02",
                    "warranty": 12, "customer": c[1]["pk"]})
                srv.post("/api/v1/orders/", {
                    "channel": 1, "number": "MP-1", "amount": "149.90", "currency": "TRY",
                    "customer": {"email": "buyer@example.com"}})
                srv.post("/api/v1/feedback/", {
                    "kind": "brand", "customer": c[1]["pk"], "product": p[1]["pk"],
                    "heading": "Good", "body": "It works."})
                srv.post("/api/v1/tickets/", {
                    "customer": c[1]["pk"], "request": "Broken lamp", "status": "open"})
            srv.stop()
            out = subprocess.run([dump, "--data", srv.data_dir, "--quiet"], check=True,
                                 stdout=subprocess.PIPE).stdout
        write("snapshot", name, out)
    small = open(os.path.join(CORPUS, "snapshot", "small"), "rb").read()
    write("snapshot", "truncated", small[: len(small) // 2])
    write("snapshot", "not-msgpack", b"\xc1 not a snapshot")
    import msgpack_lite
    # Version 1: contact rows [id, email, phone, linked_id, precedence,
    # created_ms, updated_ms, deleted_ms] and no tables.
    write("snapshot", "version-1", msgpack_lite.write_snapshot(
        [[1, "jane@example.com", "+905551234567", None, 0, 1000, 1000, None],
         [2, "jane2@example.com", "+905551234567", 1, 1, 2000, 2000, None]], last_seq=2))


# ------------------------------------------------------------ multipart

BOUNDARY = b"idlinkfuzz"


def form(parts):
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + BOUNDARY + b"\r\n"
        disp = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
        if filename is not None:
            disp += b'; filename="' + filename.encode() + b'"'
        out += disp + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


def xlsx_bytes(rows, date_cells=False):
    import datetime
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    if date_cells:
        ws.append(["Dated", "3.50", datetime.date(2024, 2, 29), 6])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xls_bytes(rows):
    import datetime
    import xlwt
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Sheet1")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if isinstance(v, datetime.date):
                ws.write(r, c, v, date_style)
            else:
                ws.write(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


CUSTOMER_HEADER = ["Name", "Email", "Address", "Phone", "Opt_email", "Opt_phone", "Opt_chat",
                   "Status"]
PRODUCT_HEADER = ["Name", "Price", "Purchased", "Warranty"]


def multipart():
    fresh("multipart")
    csv_customers = b"Jane Doe,jane@example.com,Main St 1,+905551234567,1,0,1,active\r\n" \
                    b"Bob,bob@example.com,,,0,0,0,\r\n"
    csv_products = b"Lamp;12.50;2024-01-02;12\nFan;9.99;;\n"
    xlsx = xlsx_bytes([PRODUCT_HEADER, ["Lamp", 12.5, "2024-01-02", 12]], date_cells=True)
    seeds = {
        # byte 0: 0 customers import, 1 products import, 2 /upload/customers, 3 /upload/products
        "customers-csv": (0, [("file", "c.csv", "text/csv", csv_customers)]),
        "products-csv": (1, [("file", "p.csv", "text/csv", csv_products)]),
        "upload-customers-channel": (2, [("channel", None, None, b"3"),
                                         ("file", "c.txt", "text/plain", csv_customers)]),
        "upload-products-xlsx": (3, [("file", "p.xlsx", "application/vnd.openxmlformats-"
                                      "officedocument.spreadsheetml.sheet", xlsx)]),
        "bad-channel": (0, [("file", "c.csv", "text/csv", csv_customers),
                            ("channel", None, None, b"+1")]),
        "no-file": (0, [("other", None, None, b"x")]),
        "empty-file": (1, [("file", "p.csv", "text/csv", b"")]),
        "unnamed-file": (1, [("file", "", None, csv_products)]),
    }
    for name, (route, parts) in seeds.items():
        write("multipart", name, bytes([route]) + form(parts))
    write("multipart", "truncated", bytes([0]) + form(seeds["customers-csv"][1])[:60])
    write("multipart", "no-boundary", bytes([1]) + b"Lamp,1.00\n")


# ----------------------------------------------------------- sheet kinds

def csv():
    fresh("csv")
    seeds = {
        "customers": "Jane Doe,jane@example.com,Main St 1,+905551234567,1,0,1,active\n",
        "semicolons": "Lamp;12,50;2024-01-02;12\r\nFan;9,99;;\r\n",
        "tabs": "Name\tPrice\n\"Lamp, big\"\t12.50\n",
        "quoted-newline": "\"Doe, John\",\"line\nbreak\"\nlast,x",
        "bom-crlf": "\ufeffJane,jane@example.com\r\n\r\nBob,bob@example.com\r\n",
        "blank-cells": ",,,\n , ,x, \n",
        "unclosed-quote": "Jane,\"jane@example.com\n",
        "quote-inside": "Ja\"ne,jane@example.com\n",
        "not-utf8": b"J\xe4ne,jane@example.com\n",
        "wide": ",".join("c%d" % i for i in range(40)) + "\n",
    }
    for name, data in seeds.items():
        write("csv", name, data)


def xls():
    import datetime
    fresh("xls")
    write("xls", "customers", xls_bytes([CUSTOMER_HEADER,
                                         ["Jane Doe", "jane@example.com", "Main St 1",
                                          "+905551234567", 1, 0, True, "active"]]))
    write("xls", "products", xls_bytes([PRODUCT_HEADER,
                                        ["Lamp", 12.5, datetime.date(2024, 1, 2), 12],
                                        ["Fan", "9.99", "", 0.25]]))
    write("xls", "empty-sheet", xls_bytes([]))
    prod = open(os.path.join(CORPUS, "xls", "products"), "rb").read()
    write("xls", "truncated", prod[:700])
    write("xls", "header-only", prod[:512])


SEP = b"\n--8<--\n"


def xlsx():
    fresh("xlsx")
    for name, rows, dates in (("customers", [CUSTOMER_HEADER, ["Jane Doe", "jane@example.com",
                                             "Main St 1", "+905551234567", 1, 0, True,
                                             "active"]], False),
                              ("products", [PRODUCT_HEADER, ["Lamp", 12.5, "2024-01-02", 12]],
                               True)):
        z = zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows, dates)))
        names = z.namelist()
        parts = [z.read("xl/workbook.xml"), z.read("xl/worksheets/sheet1.xml"),
                 z.read("xl/sharedStrings.xml") if "xl/sharedStrings.xml" in names else b"",
                 z.read("xl/_rels/workbook.xml.rels")]
        write("xlsx", name, SEP.join(parts))
    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    workbook = (b'<?xml version="1.0"?><workbook ' + ns + b" " + rel + b'>'
                b'<workbookPr date1904="1"/><sheets><sheet name="S" sheetId="1" r:id="rId1"/>'
                b"</sheets></workbook>")
    sheet = (b'<?xml version="1.0"?><worksheet ' + ns + b'><sheetData>'
             b'<row r="2"><c r="A2" t="s"><v>0</v></c><c r="C2" t="inlineStr"><is><r><t>in</t>'
             b'</r><r><t>line</t></r><rPh><t>x</t></rPh></is></c><c r="D2" t="b"><v>1</v></c>'
             b'<c r="E2" t="d"><v>2024-01-02T10:00:00</v></c><c r="F2" t="e"><v>#N/A</v></c>'
             b'<c r="AF2"><v>1.5e3</v></c><c r="AG2"><v>7</v></c></row>'
             b'<row><c t="str"><v> formula </v></c><c t="s"><v>1</v></c></row>'
             b'</sheetData></worksheet>')
    shared = (b'<?xml version="1.0"?><sst ' + ns + b' count="2" uniqueCount="2">'
              b'<si><t>plain</t></si><si><r><t>rich</t></r><r><t xml:space="preserve"> text'
              b'</t></r><rPh><t>phon</t></rPh></si></sst>')
    rels = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            b'package/2006/relationships"><Relationship Id="rId1" Type="x" '
            b'Target="worksheets/sheet1.xml"/></Relationships>')
    write("xlsx", "by-hand", SEP.join([workbook, sheet, shared, rels]))
    write("xlsx", "no-rels", SEP.join([workbook, sheet, shared]))
    write("xlsx", "bad-shared-index", SEP.join([workbook, sheet.replace(b"<v>1</v></c></row>",
                                                                         b"<v>9</v></c></row>")]))
    write("xlsx", "workbook-only", workbook)
    write("xlsx", "not-xml", SEP.join([b"<workbook", b"<<>>"]))


def main():
    body()
    query()
    multipart()
    csv()
    xls()
    xlsx()
    snapshot()


if __name__ == "__main__":
    main()
