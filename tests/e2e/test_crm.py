"""SPEC section 9's collections on the resource layer: products, feedback and
tickets over /api/v1/, as a client sees them."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

REQ = "This field is required."


class CrmTests(harness.ServerTestCase):
    def setUp(self):
        super().setUp()
        self.customers = [self.create("customers", {"email": "c%d@x.io" % i, "channel": 1,
                                                    "channel_code": "k%d" % i})["pk"]
                          for i in range(3)]

    def create(self, collection, body, status=201):
        st, _, answer, raw = self.srv.request("POST", "/api/v1/%s/" % collection, body)
        self.assertEqual(st, status, raw)
        return answer

    def product(self, customer=None, **kw):
        body = {"name": "Kettle", "price": "19.90", "purchased": "2024-01-02", "warranty": 24,
                "customer": customer}
        body.update(kw)
        return self.create("products", body)

    def count(self, path):
        st, body = self.srv.get(path)
        self.assertEqual(st, 200, body)
        return body["count"]

    def test_products_validation_assignment_and_filters(self):
        body = self.create("products", {"name": "", "price": "1.234", "purchased": "2024-02-30",
                                        "warranty": 601, "customer": 99}, status=400)
        self.assertEqual(body, {
            "name": ["This field may not be blank."],
            "price": ["Ensure that there are no more than 2 decimal places."],
            "purchased": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
            "warranty": ["Ensure this value is less than or equal to 600."],
            "customer": ['Invalid pk "99" - object does not exist.']})
        self.assertEqual(self.create("products", {}, status=400),
                         {"name": [REQ], "price": [REQ], "purchased": [REQ], "warranty": [REQ]})
        p = self.product(self.customers[0])
        self.assertEqual((p["price"], p["customer"], p["warranty"]), ("19.90", self.customers[0], 24))
        for customer in (self.customers[1], None, self.customers[2]):  # transfer, unassign, assign
            st, _, body, raw = self.srv.request("PATCH", "/api/v1/products/%d/" % p["pk"],
                                                {"customer": customer})
            self.assertEqual((st, body["customer"]), (200, customer), raw)
        self.product(None, name="Fan", purchased="2024-03-01")
        self.product(self.customers[2], name="Fanfare", purchased="2024-04-01")
        self.assertEqual(self.count("/api/v1/products/?name__startswith=Fan"), 2)
        self.assertEqual(self.count("/api/v1/products/?customer=%d" % self.customers[2]), 2)
        self.assertEqual(self.count("/api/v1/products/?customer__isnull=true"), 1)
        self.assertEqual(self.count("/api/v1/products/?purchased__gte=2024-03-01"), 2)
        self.assertEqual(self.count("/api/v1/products/?purchased=2024-01-02"), 1)

    def test_deleting_a_customers_products(self):
        for _ in range(3):
            self.product(self.customers[0])
        self.product(self.customers[1])
        st, _, body, _ = self.srv.request("DELETE", "/api/v1/products/")
        self.assertEqual((st, body), (400, {"customer": [REQ]}))
        st, _, body, _ = self.srv.request("DELETE", "/api/v1/customers/%d/" % self.customers[0])
        self.assertEqual((st, body), (409, {"detail": "Customer %d has products or orders; "
                                            "reassign or delete them first." % self.customers[0]}))
        # Nothing but customer, once: a typo or a second value never widens it.
        c0 = self.customers[0]
        for query, answer in (("customer=%d&name=Nothing" % c0, {"detail": 'Unknown query '
                                                                'parameter "name".'}),
                              ("customer=%d&colour=x" % c0, {"detail": 'Unknown query '
                                                            'parameter "colour".'}),
                              ("customer=999998&customer=%d" % c0,
                               {"customer": ["Give exactly one value."]}),
                              ("customer=abc", {"customer": ["A valid integer is required."]}),
                              ("customer=", {"customer": ["A valid integer is required."]}),
                              ("customer=%2B" + str(c0),
                               {"customer": ["A valid integer is required."]}),
                              ("customer=%d%%00" % c0,
                               {"customer": ["A valid integer is required."]}),
                              ("customer=9223372036854775808",
                               {"customer": ["A valid integer is required."]})):
            with self.subTest(query=query):
                st, _, body, _ = self.srv.request("DELETE", "/api/v1/products/?" + query)
                self.assertEqual((st, body), (400, answer))
        self.assertEqual(self.count("/api/v1/products/?customer=%d" % c0), 3)
        # Leading zeros are read as DRF's IntegerField reads them.
        st, _, body, _ = self.srv.request("DELETE", "/api/v1/products/?customer=%s%d"
                                          % ("0" * 40, c0))
        self.assertEqual((st, body), (200, {"deleted": 3}))
        self.assertEqual(self.count("/api/v1/products/"), 1)
        st, _, _, _ = self.srv.request("DELETE", "/api/v1/customers/%d/" % self.customers[0])
        self.assertEqual(st, 204)
        st, _, _, _ = self.srv.request("DELETE", "/api/v1/products/4/")
        self.assertEqual(st, 204)
        self.assertEqual(self.srv.get("/api/v1/products/4/")[0], 404)

    def test_feedback_rules(self):
        p = self.product(self.customers[0])
        fb = {"customer": self.customers[1], "heading": "Nice", "body": "Very nice."}
        body = self.create("feedback", dict(fb, kind="brand", product=p["pk"]), status=400)
        self.assertEqual(body, {"product": ["Brand feedback takes no product."]})
        body = self.create("feedback", dict(fb, kind="product"), status=400)
        self.assertEqual(body, {"product": [REQ]})
        body = self.create("feedback", dict(fb, kind="rumour"), status=400)
        self.assertEqual(body, {"kind": ['"rumour" is not a valid choice.']})
        # Product feedback may be about a product any customer owns.
        made = self.create("feedback", dict(fb, kind="product", product=p["pk"]))
        self.create("feedback", dict(fb, kind="brand"))
        self.assertEqual(made["product"], p["pk"])
        self.assertEqual(self.count("/api/v1/feedback/?kind=brand"), 1)
        self.assertEqual(self.count("/api/v1/feedback/?product=%d" % p["pk"]), 1)
        st, headers, _, _ = self.srv.request("PATCH", "/api/v1/feedback/%d/" % made["pk"],
                                             {"heading": "x"})
        self.assertEqual(st, 405)
        self.assertIn("DELETE", headers["allow"])
        st, _, _, _ = self.srv.request("DELETE", "/api/v1/feedback/%d/" % made["pk"])
        self.assertEqual(st, 204)

    def test_tickets_open_and_close_once(self):
        t = self.create("tickets", {"customer": self.customers[0], "request": "Broken kettle",
                                    "status": "closed"})
        self.assertEqual((t["status"], t["resolved"], t["resolution"], t["closed_date"]),
                         ("open", None, None, None))
        path = "/api/v1/tickets/%d/close/" % t["pk"]
        st, _, body, _ = self.srv.request("POST", path, {"resolved": "maybe"})
        self.assertEqual((st, body), (400, {"resolved": ["Must be a valid boolean."],
                                            "resolution": [REQ]}))
        st, _, body, raw = self.srv.request("POST", path, {"resolved": True,
                                                          "resolution": "Replaced"})
        self.assertEqual(st, 200, raw)
        self.assertEqual((body["status"], body["resolved"], body["resolution"]),
                         ("closed", True, "Replaced"))
        self.assertIsNotNone(body["closed_date"])
        st, _, body, _ = self.srv.request("POST", path, {"resolved": False, "resolution": "x"})
        self.assertEqual((st, body), (409, {"detail": "Ticket %d is already closed." % t["pk"]}))
        # a bad body is judged first, whatever the ticket's state
        st, _, body, _ = self.srv.request("POST", path, {"resolved": "maybe"})
        self.assertEqual((st, body), (400, {"resolved": ["Must be a valid boolean."],
                                            "resolution": [REQ]}))
        self.assertEqual(self.count("/api/v1/tickets/?status=closed"), 1)
        self.assertEqual(self.count("/api/v1/tickets/?opened_date__gte=2000-01-01"), 1)
        self.assertEqual(self.srv.request("POST", "/api/v1/tickets/99/close/",
                                          {"resolved": True, "resolution": "x"})[0], 404)
        self.assertEqual(self.srv.request("PATCH", "/api/v1/tickets/%d/" % t["pk"],
                                          {"request": "x"})[0], 405)

    def test_bytes_that_are_not_utf8_in_a_query(self):
        # A bad value is quoted back in its error: as valid UTF-8.
        for path, key in (("/api/v1/customers/?gender=%ff", "gender"),
                          ("/api/v1/tickets/?status=%c3", "status"),
                          ("/api/v1/products/?customer__isnull=%fe%ff", "customer__isnull")):
            st, _, body, raw = self.srv.request("GET", path)
            self.assertEqual(st, 400, raw)
            self.assertIn("is not one of the available choices.", body[key][0])

    def test_feedback_and_tickets_go_with_their_customer(self):
        c = self.customers[1]
        self.create("feedback", {"kind": "brand", "customer": c, "heading": "h", "body": "b"})
        self.create("tickets", {"customer": c, "request": "r"})
        st, _, _, _ = self.srv.request("DELETE", "/api/v1/customers/%d/" % c)
        self.assertEqual(st, 204)
        self.assertEqual(self.count("/api/v1/feedback/"), 0)
        self.assertEqual(self.count("/api/v1/tickets/"), 0)
        kinds = [e["kind"] for e in self.srv.changes_since(0)]
        self.assertIn("feedback.deleted", kinds)
        self.assertIn("ticket.deleted", kinds)
        self.assertStoreChecks()


if __name__ == "__main__":
    unittest.main()
