"""Seed 003's own routes (SPEC section 9): the Flask CRM's paths and JSON shapes
(/api/add/customer, /api/get/product, ...) as aliases of the /api/v1/
collections, as a client of the seed sees them. The upload routes belong to
the import's tests."""

import io
import os
import sys
import unittest
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

REQ = "This field is required."
NOT_FOUND = {"detail": "Not found."}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The seed's own example bodies.
JANE = {"name": "Jane Mary Doe", "address": "1 Main St", "phone": "+1 555 0100",
        "email": "Jane@Example.com", "optphone": True, "optemail": "yes", "optchat": 1,
        "status": "active"}
JANE_SHOWN = {"id": 1, "name": "Jane Mary Doe", "address": "1 Main St", "phone": "+15550100",
              "email": "jane@example.com", "optphone": True, "optemail": True, "optchat": True,
              "status": "active"}
BOB = {"name": "Bob", "address": "2 Side St", "email": "bob@x.io", "status": "lead"}
BOB_SHOWN = {"id": 2, "name": "Bob", "address": "2 Side St", "phone": None, "email": "bob@x.io",
             "optphone": False, "optemail": False, "optchat": False, "status": "lead"}
KETTLE = {"name": "Kettle", "price": 19.9, "purchased": "2024-01-02", "customerid": 1,
          "warranty": 24}
KETTLE_SHOWN = {"id": 1, "name": "Kettle", "price": "19.90", "purchased": "2024-01-02",
                "customerid": 1, "warranty": 24}


def xlsx_rows(data):
    """The cell texts of the first sheet of an xlsx workbook, row by row."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iterfind("m:sheetData/m:row", ns):
        rows.append(["".join(t.text or "" for t in c.iterfind(".//m:t", ns))
                     or (c.findtext("m:v", "", ns)) for c in row.iterfind("m:c", ns)])
    return rows


class Seed003Tests(harness.ServerTestCase):
    def call(self, method, path, body=None, query=None, status=None):
        """One request; body as JSON (also on a GET, as the seed sends it),
        query as parameters. Returns (status, parsed JSON)."""
        if query is not None:
            path += "?" + urllib.parse.urlencode(query)
        st, _, parsed, raw = self.srv.request(method, path, body)
        if status is not None:
            self.assertEqual(st, status, raw)
        return st, parsed

    def ok(self, method, path, body=None, query=None, status=200):
        return self.call(method, path, body, query, status)[1]

    def refused(self, method, path, body=None, query=None, status=400):
        return self.call(method, path, body, query, status)[1]

    def assertLookupErrors(self, path, keys):
        """A lookup by one of keys: an unknown id, an id that is not an integer
        (from the query), a blank name, none of the keys."""
        self.assertEqual(self.call("GET", path, {"id": 99}), (404, NOT_FOUND))
        for key in keys:
            if key != "name":
                self.assertEqual(self.refused("GET", path, query={key: "abc"}),
                                 {key: ["A valid integer is required."]})
        self.assertEqual(self.refused("GET", path, {"name": ""}),
                         {"name": ["This field may not be blank."]})
        self.assertEqual(self.refused("GET", path),
                         {"non_field_errors": ["One of %s is required." % ", ".join(keys)]})

    def add_customers(self):
        self.assertEqual(self.ok("POST", "/api/add/customer", JANE, status=201), JANE_SHOWN)
        self.assertEqual(self.ok("POST", "/api/add/customer", BOB, status=201), BOB_SHOWN)

    def add_product(self, **kw):
        return self.ok("POST", "/api/add/product", dict(KETTLE, **kw), status=201)

    # ------------------------------------------------------------ customers

    def test_add_customer_stores_a_v1_customer_of_the_crm_channel(self):
        self.add_customers()
        st, v1 = self.srv.get("/api/v1/customers/1/")
        self.assertEqual(st, 200)
        self.assertEqual(
            {k: v1[k] for k in ("channel", "email", "channel_code", "first_name", "last_name",
                                "phone_number", "email_allowed", "sms_allowed", "attributes")},
            {"channel": 1, "email": "jane@example.com", "channel_code": "jane@example.com",
             "first_name": "Jane", "last_name": "Mary Doe", "phone_number": "+15550100",
             "email_allowed": True, "sms_allowed": True,
             "attributes": {"address": "1 Main St", "status": "active", "chat_allowed": True}})
        # The same writes as /api/v1/: reconciled into the contact graph, logged.
        self.assertIsNotNone(v1["identity"])
        kinds = [c["kind"] for c in self.srv.changes_since(0)]
        self.assertEqual(kinds.count("customer.created"), 2)
        self.assertStoreChecks()

    def test_crm_channel_option(self):
        srv = self.start_server(extra_args=["--crm-channel", "7"])
        st, _, body, raw = srv.request("POST", "/api/add/customer", BOB)
        self.assertEqual((st, body), (201, dict(BOB_SHOWN, id=1)), raw)
        self.assertEqual(srv.get("/api/v1/customers/1/")[1]["channel"], 7)

    def test_add_customer_errors_name_the_seed_keys(self):
        self.assertEqual(self.refused("POST", "/api/add/customer", {}),
                         {"name": [REQ], "address": [REQ], "status": [REQ], "email": [REQ]})
        body = self.refused("POST", "/api/add/customer",
                            {"name": " ", "address": "a", "status": ["x"], "email": "nope",
                             "phone": "abc", "optphone": "maybe", "optemail": None,
                             "optchat": "perhaps"})
        self.assertEqual(body, {"name": ["This field may not be blank."],
                                "status": ["Not a valid string."],
                                "optchat": ["Must be a valid boolean."],
                                "email": ["Enter a valid email address."],
                                "phone": ["Enter a valid phone number."],
                                "optphone": ["Must be a valid boolean."],
                                "optemail": ["This field may not be null."]})
        # A part of the name past the collection's 150 characters.
        self.assertEqual(self.refused("POST", "/api/add/customer", dict(BOB, name="A" * 151)),
                         {"name": ["Ensure this field has no more than 150 characters."]})
        self.ok("POST", "/api/add/customer", BOB, status=201)
        self.assertEqual(self.refused("POST", "/api/add/customer",
                                      dict(BOB, name="Other", email="BOB@x.io")),
                         {"email": ["A customer with this email already exists."]})
        self.assertEqual(self.refused("POST", "/api/add/customer", [BOB]),
                         {"non_field_errors": ["Invalid data. Expected a dictionary, but got "
                                               "list."]})
        st, _, body, _ = self.srv.request("POST", "/api/add/customer", raw=b'{"name": ')
        self.assertEqual(st, 400)
        self.assertTrue(body["detail"].startswith("JSON parse error - "), body)
        self.assertEqual(self.srv.get("/api/v1/customers/")[1]["count"], 1)

    def test_get_customer_by_id_or_name_from_body_or_query(self):
        self.add_customers()
        self.ok("POST", "/api/add/customer", dict(BOB, email="bob2@x.io", status="vip"),
                status=201)
        self.assertEqual(self.ok("GET", "/api/get/customer", {"id": 1}), JANE_SHOWN)
        self.assertEqual(self.ok("GET", "/api/get/customer", query={"id": 2}), BOB_SHOWN)
        self.assertEqual(self.ok("GET", "/api/get/customer", {"id": "1"}), JANE_SHOWN)
        self.assertEqual(self.ok("GET", "/api/get/customer", {"name": "Jane Mary Doe"}),
                         [JANE_SHOWN])
        self.assertEqual([c["id"] for c in self.ok("GET", "/api/get/customer",
                                                   query={"name": "Bob"})], [2, 3])
        # The full name: "Jane" alone is nobody here, extra spaces are one.
        self.assertEqual(self.ok("GET", "/api/get/customer", {"name": "Jane"}), [])
        self.assertEqual(self.ok("GET", "/api/get/customer", {"name": " Jane  Mary Doe"}),
                         [JANE_SHOWN])
        self.assertEqual(self.ok("GET", "/api/get/customer", {"name": "Mary"}), [])
        self.assertEqual(self.call("GET", "/api/get/customer", query={"id": 0}), (404, NOT_FOUND))
        self.assertLookupErrors("/api/get/customer", ("id", "name"))

    def test_only_the_crm_channels_customers_are_the_seeds(self):
        st, _, other, raw = self.srv.request("POST", "/api/v1/customers/", {
            "channel": 2, "channel_code": "C-1", "email": "bob@x.io", "first_name": "Bob"})
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.call("GET", "/api/get/customer", {"id": other["pk"]}),
                         (404, NOT_FOUND))
        self.assertEqual(self.ok("GET", "/api/get/customer", {"name": "Bob"}), [])
        self.assertEqual(self.call("POST", "/api/update/customer",
                                   {"id": other["pk"], "status": "vip"}), (404, NOT_FOUND))
        self.assertEqual(self.call("GET", "/api/delete/customer", {"id": other["pk"]}),
                         (404, NOT_FOUND))
        # The same email on the crm channel is another customer.
        self.assertEqual(self.ok("POST", "/api/add/customer", BOB, status=201)["id"], 2)
        self.assertEqual(self.srv.get("/api/v1/customers/1/")[1]["channel_code"], "C-1")

    def test_update_customer(self):
        self.add_customers()
        shown = self.ok("POST", "/api/update/customer",
                        {"id": 2, "email": "Robert@X.io", "address": "3 New St", "optchat": "on",
                         "optemail": True, "phone": "555 0199", "name": "ignored"})
        self.assertEqual(shown, dict(BOB_SHOWN, email="robert@x.io", address="3 New St",
                                     optchat=True, optemail=True, phone="5550199"))
        v1 = self.srv.get("/api/v1/customers/2/")[1]
        self.assertEqual((v1["channel_code"], v1["attributes"]),
                         ("robert@x.io", {"address": "3 New St", "status": "lead",
                                          "chat_allowed": True}))
        # Attributes kept by another client stay; only the keys sent change.
        st, _, _, raw = self.srv.request("PATCH", "/api/v1/customers/2/", {
            "attributes": dict(v1["attributes"], tier="gold")})
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.ok("POST", "/api/update/customer", {"id": "2", "status": "vip"}),
                         dict(shown, status="vip"))
        self.assertEqual(self.srv.get("/api/v1/customers/2/")[1]["attributes"],
                         {"address": "3 New St", "status": "vip", "chat_allowed": True,
                          "tier": "gold"})
        self.assertEqual(self.ok("GET", "/api/get/customer", {"id": 2}), dict(shown, status="vip"))
        self.assertEqual(self.ok("POST", "/api/update/customer", {"id": 2, "phone": ""})["phone"],
                         None)

    def test_update_customer_errors(self):
        self.add_customers()
        self.assertEqual(self.refused("POST", "/api/update/customer", {"email": "x@y.z"}),
                         {"id": [REQ]})
        self.assertEqual(self.refused("POST", "/api/update/customer", {"id": True, "status": "x"}),
                         {"id": ["A valid integer is required."]})
        self.assertEqual(self.call("POST", "/api/update/customer", {"id": 9, "status": "x"}),
                         (404, NOT_FOUND))
        self.assertEqual(self.refused("POST", "/api/update/customer", {"id": 2, "name": "X"}),
                         {"non_field_errors": ["One of email, phone, address, status, optphone, "
                                               "optemail, optchat is required."]})
        self.assertEqual(self.refused("POST", "/api/update/customer",
                                      {"id": 2, "email": "JANE@example.com"}),
                         {"email": ["A customer with this email already exists."]})
        self.assertEqual(self.refused("POST", "/api/update/customer",
                                      {"id": 2, "email": "bad", "optchat": "x", "address": ""}),
                         {"address": ["This field may not be blank."],
                          "optchat": ["Must be a valid boolean."],
                          "email": ["Enter a valid email address."]})
        self.assertEqual(self.ok("GET", "/api/get/customer", {"id": 2}), BOB_SHOWN)

    def test_delete_customer(self):
        self.add_customers()
        self.add_product(customerid=2)
        self.ok("POST", "/api/add/brand/feedback", {"customerid": 1, "heading": "h", "body": "b"},
                status=201)
        self.ok("POST", "/api/open/customer/request", {"request": "r", "customerid": 1},
                status=201)
        self.assertEqual(self.call("GET", "/api/delete/customer", {"id": 2}),
                         (409, {"detail": "Customer 2 has products or orders; reassign or "
                                          "delete them first."}))
        # Its feedback and tickets go with it.
        self.assertEqual(self.ok("GET", "/api/delete/customer", query={"id": 1}), {"deleted": 1})
        self.assertEqual(self.call("GET", "/api/get/customer", {"id": 1}), (404, NOT_FOUND))
        self.assertEqual(self.call("GET", "/api/delete/customer", {"id": 1}), (404, NOT_FOUND))
        self.assertEqual(self.srv.get("/api/v1/feedback/")[1]["count"], 0)
        self.assertEqual(self.srv.get("/api/v1/tickets/")[1]["count"], 0)
        self.assertEqual(self.refused("GET", "/api/delete/customer"), {"id": [REQ]})
        self.assertEqual(self.ok("POST", "/api/delete/product", {"customerid": 2}),
                         {"deleted": 1})
        self.assertEqual(self.ok("GET", "/api/delete/customer", {"id": 2}), {"deleted": 1})
        self.assertStoreChecks()

    # ------------------------------------------------------------- products

    def test_products(self):
        self.add_customers()
        self.assertEqual(self.add_product(), KETTLE_SHOWN)
        fan = self.add_product(name="Fan", price="5", customerid=None, warranty=0)
        self.assertEqual(fan, {"id": 2, "name": "Fan", "price": "5.00",
                               "purchased": "2024-01-02", "customerid": None, "warranty": 0})
        self.add_product(name="Fan", customerid=1)
        self.assertEqual(self.ok("GET", "/api/get/product", {"id": 1}), KETTLE_SHOWN)
        self.assertEqual(self.ok("GET", "/api/get/product", query={"id": "2"}), fan)
        self.assertEqual([p["id"] for p in self.ok("GET", "/api/get/product", {"name": "Fan"})],
                         [2, 3])
        self.assertEqual([p["id"] for p in self.ok("GET", "/api/get/product",
                                                   query={"customerid": 1})], [1, 3])
        self.assertEqual([p["id"] for p in self.ok("GET", "/api/get/product",
                                                   {"name": "Fan", "customerid": 1})], [3])
        self.assertEqual(self.ok("GET", "/api/get/product", {"customerid": 99}), [])
        self.assertLookupErrors("/api/get/product", ("id", "name", "customerid"))

    def test_add_product_errors(self):
        self.assertEqual(self.refused("POST", "/api/add/product", {}),
                         {"customerid": [REQ], "name": [REQ], "price": [REQ],
                          "purchased": [REQ], "warranty": [REQ]})
        self.assertEqual(self.refused("POST", "/api/add/product",
                                      {"name": "X", "price": "1.234", "purchased": "2024-02-30",
                                       "customerid": 99, "warranty": 601}),
                         {"price": ["Ensure that there are no more than 2 decimal places."],
                          "purchased": ["Date has wrong format. Use one of these formats "
                                        "instead: YYYY-MM-DD."],
                          "warranty": ["Ensure this value is less than or equal to 600."],
                          "customerid": ['Invalid pk "99" - object does not exist.']})
        self.assertEqual(self.srv.get("/api/v1/products/")[1]["count"], 0)

    def test_update_product_warranty_and_transfer(self):
        self.add_customers()
        self.add_product()
        self.assertEqual(self.ok("POST", "/api/update/product", {"id": 1, "warranty": 36}),
                         dict(KETTLE_SHOWN, warranty=36))
        self.assertEqual(self.ok("POST", "/api/update/product", {"id": 1, "changeto": 2}),
                         dict(KETTLE_SHOWN, warranty=36, customerid=2))
        self.assertEqual(self.ok("POST", "/api/update/product", {"id": 1, "changeto": None}),
                         dict(KETTLE_SHOWN, warranty=36, customerid=None))
        self.assertEqual(self.ok("GET", "/api/get/product", {"customerid": 2}), [])
        self.assertEqual(self.refused("POST", "/api/update/product",
                                      {"id": 1, "changeto": 99, "warranty": -1}),
                         {"warranty": ["Ensure this value is greater than or equal to 0."],
                          "changeto": ['Invalid pk "99" - object does not exist.']})
        self.assertEqual(self.refused("POST", "/api/update/product", {"id": 1, "name": "x"}),
                         {"non_field_errors": ["One of warranty, changeto is required."]})
        self.assertEqual(self.refused("POST", "/api/update/product", {"warranty": 1}),
                         {"id": [REQ]})
        self.assertEqual(self.call("POST", "/api/update/product", {"id": 5, "warranty": 1}),
                         (404, NOT_FOUND))
        kinds = [c["kind"] for c in self.srv.changes_since(0)]
        self.assertEqual(kinds.count("product.updated"), 3)

    def test_delete_products(self):
        self.add_customers()
        for _ in range(3):
            self.add_product(customerid=1)
        self.add_product(customerid=2)
        self.ok("POST", "/api/add/product/feedback",
                {"productid": 4, "customerid": 1, "heading": "h", "body": "b"}, status=201)
        self.assertEqual(self.ok("POST", "/api/delete/product", {"id": 4}), {"deleted": 1})
        self.assertEqual(self.srv.get("/api/v1/feedback/")[1]["count"], 0)
        self.assertEqual(self.call("POST", "/api/delete/product", {"id": 4}), (404, NOT_FOUND))
        self.assertEqual(self.ok("POST", "/api/delete/product", {"customerid": 1}),
                         {"deleted": 3})
        self.assertEqual(self.ok("POST", "/api/delete/product", {"customerid": 1}),
                         {"deleted": 0})
        self.assertEqual(self.refused("POST", "/api/delete/product", {"customerid": [1]}),
                         {"customerid": ["A valid integer is required."]})
        self.assertEqual(self.refused("POST", "/api/delete/product", {}),
                         {"non_field_errors": ["One of id, customerid is required."]})
        self.assertEqual(self.srv.get("/api/v1/products/")[1]["count"], 0)
        self.assertStoreChecks()

    # ------------------------------------------------------------- feedback

    def test_feedback(self):
        self.add_customers()
        self.add_product()
        brand = {"customerid": 1, "heading": "Great brand", "body": "Love it"}
        product = {"productid": 1, "customerid": 2, "heading": "Kettle", "body": "Boils fast"}
        self.assertEqual(self.ok("POST", "/api/add/brand/feedback", brand, status=201),
                         dict(brand, id=1))
        self.assertEqual(self.ok("POST", "/api/add/product/feedback", product, status=201),
                         dict(product, id=2))
        # A productid sent with brand feedback is not one of its keys.
        self.ok("POST", "/api/add/brand/feedback", dict(brand, productid=1), status=201)
        self.assertEqual(self.ok("GET", "/api/get/brand/feedback", {"customerid": 1}),
                         [dict(brand, id=1), dict(brand, id=3)])
        self.assertEqual(self.ok("GET", "/api/get/brand/feedback", query={"customerid": 2}), [])
        self.assertEqual(self.ok("GET", "/api/get/product/feedback", query={"customerid": 2}),
                         [dict(product, id=2)])
        self.assertEqual(self.refused("GET", "/api/get/product/feedback"), {"customerid": [REQ]})
        self.assertEqual(self.refused("GET", "/api/get/brand/feedback", {"customerid": "one"}),
                         {"customerid": ["A valid integer is required."]})

    def test_feedback_errors(self):
        self.add_customers()
        self.assertEqual(self.refused("POST", "/api/add/brand/feedback", {}),
                         {"customerid": [REQ], "heading": [REQ], "body": [REQ]})
        self.assertEqual(self.refused("POST", "/api/add/product/feedback",
                                      {"customerid": 1, "heading": "h", "body": "b"}),
                         {"productid": [REQ]})
        self.assertEqual(self.refused("POST", "/api/add/product/feedback",
                                      {"customerid": 9, "productid": 9, "heading": "h",
                                       "body": ""}),
                         {"body": ["This field may not be blank."],
                          "customerid": ['Invalid pk "9" - object does not exist.'],
                          "productid": ['Invalid pk "9" - object does not exist.']})
        self.assertEqual(self.srv.get("/api/v1/feedback/")[1]["count"], 0)

    # -------------------------------------------------------------- tickets

    def test_tickets(self):
        self.add_customers()
        opened = self.ok("POST", "/api/open/customer/request",
                         {"request": "Broken kettle", "customerid": 1}, status=201)
        self.assertRegex(opened.pop("opened_date"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(opened, {"id": 1, "customerid": 1, "request": "Broken kettle",
                                  "status": "open", "resolved": None, "resolution": None,
                                  "closed_date": None})
        got = self.ok("GET", "/api/get/customer/request", {"id": 1})
        self.assertEqual(got, dict(opened, opened_date=got["opened_date"]))
        closed = self.ok("POST", "/api/close/customer/request",
                         {"id": 1, "resolved": True, "resolution": "Replaced"})
        self.assertEqual((closed["status"], closed["resolved"], closed["resolution"]),
                         ("closed", True, "Replaced"))
        self.assertIsNotNone(closed["closed_date"])
        self.assertEqual(self.ok("GET", "/api/get/customer/request", query={"id": 1}), closed)
        self.assertEqual(self.call("POST", "/api/close/customer/request",
                                   {"id": 1, "resolved": False, "resolution": "again"}),
                         (409, {"detail": "Ticket 1 is already closed."}))

    def test_ticket_errors(self):
        self.add_customers()
        self.assertEqual(self.refused("POST", "/api/open/customer/request", {}),
                         {"customerid": [REQ], "request": [REQ]})
        self.assertEqual(self.refused("POST", "/api/open/customer/request",
                                      {"request": "r", "customerid": 7}),
                         {"customerid": ['Invalid pk "7" - object does not exist.']})
        self.ok("POST", "/api/open/customer/request", {"request": "r", "customerid": 2},
                status=201)
        self.assertEqual(self.refused("POST", "/api/close/customer/request",
                                      {"id": 1, "resolved": "maybe"}),
                         {"resolved": ["Must be a valid boolean."], "resolution": [REQ]})
        self.assertEqual(self.refused("POST", "/api/close/customer/request",
                                      {"resolved": True, "resolution": "x"}), {"id": [REQ]})
        self.assertEqual(self.call("POST", "/api/close/customer/request",
                                   {"id": 5, "resolved": True, "resolution": "x"}),
                         (404, NOT_FOUND))
        self.assertEqual(self.call("GET", "/api/get/customer/request", {"id": 5}),
                         (404, NOT_FOUND))
        self.assertEqual(self.refused("GET", "/api/get/customer/request"), {"id": [REQ]})
        self.assertEqual(self.ok("GET", "/api/get/customer/request", {"id": 1})["status"], "open")

    # -------------------------------------------------------------- exports

    def test_exports_of_every_row(self):
        self.add_customers()
        st, _, other, raw = self.srv.request("POST", "/api/v1/customers/", {
            "channel": 2, "channel_code": "C-1", "email": "carl@x.io"})
        self.assertEqual(st, 201, raw)
        self.add_product()
        self.add_product(name="Fan", customerid=None)
        asker = {"name": "Ann", "surname": "Lee", "email": "ann@x.io"}
        for path, name, rows in (("/api/customer/export", "customers", 3),
                                 ("/api/product/export", "products", 2)):
            for body, query in ((asker, None), (None, asker), (None, None)):
                if query is not None:
                    path_q = path + "?" + urllib.parse.urlencode(query)
                else:
                    path_q = path
                st, headers, _, data = self.srv.request("GET", path_q, body)
                self.assertEqual(st, 200, data[:200])
                self.assertEqual(headers["content-type"], XLSX)
                self.assertRegex(headers["content-disposition"],
                                 r'^attachment; filename="%s-\d{8}\.xlsx"$' % name)
                table = xlsx_rows(data)
                self.assertEqual(len(table), 1 + rows)
                self.assertEqual(table[0][:3], ["pk", "channel", "email"] if name == "customers"
                                 else ["pk", "name", "price"])
                self.assertEqual([r[0] for r in table[1:]], [str(i + 1) for i in range(rows)])

    # ------------------------------------------------------------- requests

    def test_methods_and_paths(self):
        for method, path, allow in (("GET", "/api/add/customer", "POST"),
                                    ("POST", "/api/get/customer", "GET, HEAD"),
                                    ("POST", "/api/delete/customer", "GET"),
                                    ("HEAD", "/api/delete/customer", "GET"),
                                    ("GET", "/api/update/product", "POST"),
                                    ("DELETE", "/api/close/customer/request", "POST"),
                                    ("PUT", "/api/customer/export", "GET, HEAD")):
            st, headers, body, raw = self.srv.request(method, path)
            self.assertEqual((st, headers.get("allow")), (405, allow), (method, path, raw))
            if method != "HEAD":
                self.assertEqual(body, {"detail": 'Method "%s" not allowed.' % method})
        self.assertEqual(self.call("GET", "/api/get/customer/", {"id": 1}), (404, NOT_FOUND))
        self.assertEqual(self.call("GET", "/api/get/customers", {"id": 1}), (404, NOT_FOUND))
        st, headers, _, raw = self.srv.request("HEAD", "/api/get/product?id=1")
        self.assertEqual((st, raw), (404, b""))

    def test_bodies_that_are_not_json(self):
        st, _, body, _ = self.srv.request("POST", "/api/add/product", raw=b"name=x",
                                          headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 415)
        self.assertEqual(body, {"detail": 'Unsupported media type "text/plain" in request.'})
        st, _, body, _ = self.srv.request("GET", "/api/get/product", raw=b"[1, 2")
        self.assertEqual(st, 400)
        self.assertTrue(body["detail"].startswith("JSON parse error - "), body)
        self.assertEqual(self.refused("GET", "/api/get/product", "id"),
                         {"non_field_errors": ["Invalid data. Expected a dictionary, but got "
                                               "str."]})
        # A query value that is not UTF-8 is read with '?' for its bad bytes.
        st, _, body, _ = self.srv.request("GET", "/api/get/customer?name=%ff%fe")
        self.assertEqual((st, body), (200, []))
        self.assertTrue(self.srv.healthy())


if __name__ == "__main__":
    unittest.main()
