"""Exports (SPEC section 7): GET /api/v1/{collection}/export/?format=csv|xlsx,
read back with programs idlink did not write (Python's csv module, Debian's
python3-openpyxl) and compared with the list API."""

import csv
import datetime
import io
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

try:
    import openpyxl
except ImportError:  # make test installs python3-openpyxl; a missing one fails loudly
    openpyxl = None

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DISPOSITION = re.compile(r'^attachment; filename="(customers|orders)-(\d{8})\.(csv|xlsx)"$')


class ExportTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server()
        cls.addClassCleanup(cls.srv.close)
        names = ["Ada", "O'Brien, Jr.", 'Say "hi"', "Line\nbreak", "Çağla", ""]
        for i, name in enumerate(names):
            st, _, _, raw = cls.srv.request("POST", "/api/v1/customers/", {
                "email": "e%d@x.io" % i, "channel": 1 + i % 2, "channel_code": "k%d" % i,
                "first_name": name, "phone_number": "55%d" % i if i % 2 else None,
                "attributes": {"note": name, "n": i}, "date_of_birth": "1990-02-%02d" % (i + 1),
                "date_joined": "2021-05-26T13:53:58.585910Z", "is_active": i != 3})
            assert st == 201, raw
        for i in range(4):
            st, _, _, raw = cls.srv.request("POST", "/api/v1/orders/", {
                "channel": 1, "number": "N-%d" % i, "amount": "%d.%02d" % (100 + i, i * 7),
                "currency": "TRY", "created_date": "2023-01-1%dT09:01:27Z" % i,
                "customer": {"email": "e%d@x.io" % i, "channel_code": "k%d" % i}})
            assert st == 201, raw

    def listed(self, collection, query=""):
        st, body = self.srv.get("/api/v1/%s/?limit=1000%s" % (collection, query))
        self.assertEqual(st, 200, body)
        return body["results"]

    def export(self, collection, fmt, query=""):
        st, headers, _, raw = self.srv.request(
            "GET", "/api/v1/%s/export/?format=%s%s" % (collection, fmt, query))
        self.assertEqual(st, 200, raw[:300])
        m = DISPOSITION.match(headers.get("content-disposition", ""))
        self.assertIsNotNone(m, headers)
        self.assertEqual(m.group(2), datetime.datetime.now(datetime.timezone.utc)
                         .strftime("%Y%m%d"))
        self.assertEqual((m.group(1), m.group(3)), (collection, fmt))
        return headers, raw

    @staticmethod
    def as_text(value):
        """A field of the list API as a csv cell shows it."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return str(value)

    def test_csv_matches_the_list(self):
        for collection, query in (("customers", ""), ("customers", "&channel=2"),
                                  ("orders", ""), ("customers", "&email__startswith=e1")):
            with self.subTest(collection=collection, query=query):
                headers, raw = self.export(collection, "csv", query)
                self.assertEqual(headers["content-type"], "text/csv; charset=utf-8")
                rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
                listed = self.listed(collection, query)
                self.assertEqual(rows[0], list(listed[0].keys()) if listed else rows[0])
                self.assertEqual(len(rows) - 1, len(listed))
                for row, record in zip(rows[1:], listed):
                    self.assertEqual(row, [self.as_text(v) for v in record.values()])

    def test_xlsx_matches_the_list(self):
        self.assertIsNotNone(openpyxl, "python3-openpyxl is needed to read the export")
        for collection in ("customers", "orders"):
            with self.subTest(collection=collection):
                headers, raw = self.export(collection, "xlsx")
                self.assertEqual(headers["content-type"], XLSX)
                self.assertEqual(int(headers["content-length"]), len(raw))
                sheet = openpyxl.load_workbook(io.BytesIO(raw)).active
                rows = list(sheet.iter_rows(values_only=True))
                listed = self.listed(collection)
                self.assertEqual(list(rows[0]), list(listed[0].keys()))
                self.assertEqual(len(rows) - 1, len(listed))
                for row, record in zip(rows[1:], listed):
                    for cell, (name, value) in zip(row, record.items()):
                        self.assertEqual(self.from_cell(cell, value), value,
                                         "%s %s" % (record["pk"], name))

    @staticmethod
    def from_cell(cell, value):
        """A cell read back as the list API shows the field (dates are date
        cells; money a number shown with two decimals; JSON fields text)."""
        if cell is None:
            return None if value is None else "" if value == "" else cell
        if isinstance(cell, datetime.datetime):
            if isinstance(value, str) and len(value) == 10:
                return cell.strftime("%Y-%m-%d")
            # Excel keeps milliseconds: the cell is the value within a millisecond.
            want = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
            return value if abs(cell - want) <= datetime.timedelta(milliseconds=1) else cell
        if isinstance(value, dict):
            return json.loads(cell)
        if isinstance(value, str) and re.match(r"^\d+\.\d\d$", value):
            return "%.2f" % cell
        if isinstance(value, bool):
            return bool(cell)
        if isinstance(value, int) and isinstance(cell, float):
            return int(cell)
        return cell

    def test_bad_format_and_filters(self):
        st, _, body, _ = self.srv.request("GET", "/api/v1/customers/export/?format=pdf")
        self.assertEqual((st, body), (400, {"format": [
            "Select a valid choice. pdf is not one of the available choices."]}))
        st, _, body, _ = self.srv.request("GET", "/api/v1/customers/export/?format=csv&colour=1")
        self.assertEqual((st, body), (400, {"detail": 'Unknown query parameter "colour".'}))
        st, _, _, _ = self.srv.request("POST", "/api/v1/customers/export/")
        self.assertEqual(st, 405)

    def test_empty_export_has_the_header_row(self):
        _, raw = self.export("customers", "csv", "&email=nobody@x.io")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][0], "pk")
        self.assertEqual(rows[0][-1], "identity")


if __name__ == "__main__":
    unittest.main()
