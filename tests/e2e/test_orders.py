"""SPEC sections 7 and 8: /api/v1/orders/, the marketplace upsert of customers.

The upsert (find by channel_code, else by email; create with the email as
channel_code), replays and conflicts, amount/currency/required-field
validation with nested customer errors, created_date, routes, filters and
ordering, concurrency. Each class shares one idlinkd; when the class ends the
server is stopped and `idlink-check --data DIR` must pass on its folder.
"""

import json
import os
import sys
import unittest
import urllib.parse
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_customers as tc  # noqa: E402
from harness import NOT_FOUND  # noqa: E402
from test_customers import (  # noqa: E402
    BAD_DATETIME, BAD_EMAIL, BAD_INT, BAD_NUMBER, BAD_PHONE, BLANK, CUSTOMERS, F_DATETIME,
    F_NUMBER, INVALID_PAGE, NULL, ORDERS, REQ, US_RE, bad_choice, max_chars, method_not_allowed,
    min_value, new_email, new_phone, now, parse_ts, qs, uniq, unknown_ordering, unknown_param,
    allow_set)

ORDER_FIELDS = ["pk", "channel", "number", "amount", "currency", "created_date",
                "modified_date", "customer", "identity"]
DECIMAL_PLACES = "Ensure that there are no more than 2 decimal places."
DIGITS = "Ensure that there are no more than 12 digits in total."


def conflict(number, channel):
    return {"detail": "Order %s of channel %d already exists with other values." % (number,
                                                                                      channel)}


def order_body(**fields):
    body = {"channel": 1, "number": uniq("MP-"), "amount": "149.90", "currency": "TRY",
            "customer": {"email": new_email("buyer")}}
    body.update(fields)
    return body


def raw_order(amount_text, number, email):
    """An order body as bytes, the amount written as given (a JSON number or string)."""
    return ('{"channel": 1, "number": %s, "amount": %s, "currency": "TRY", '
            '"customer": {"email": %s}}' % (json.dumps(number), amount_text,
                                            json.dumps(email))).encode("utf-8")


class OrderCase(tc.Shared):

    def post_order(self, body, status=201):
        st, got, _, data = self.call("POST", ORDERS, body)
        self.assertEqual(st, status, "POST %s %s -> %d %s" % (ORDERS, json.dumps(body), st,
                                                             data[:2000]))
        return got

    def customers_with(self, **filters):
        page = self.listing(CUSTOMERS, qs(limit=1000, **filters))
        return page["results"]


# ============================================================== upsert

class OrderUpsertTests(OrderCase):

    def test_spec_example_creates_the_customer(self):
        tag = uniq("jane")
        code = uniq("C-")
        body = {"channel": 1, "number": uniq("MP-"), "amount": "149.90", "currency": "TRY",
                "created_date": "2023-01-17T09:01:27Z",
                "customer": {"email": "%s@Example.com" % tag.capitalize(),
                             "phone_number": "+90 555 %03d 55 55" % (int(tag[4:]) % 1000),
                             "first_name": "Jane", "last_name": "Doe", "channel_code": code}}
        email = "%s@example.com" % tag
        self.assertIsNone(self.primary_of(email=email))
        seq = self.last_seq()
        before = now()
        st, got, _, data = self.call("POST", ORDERS, body)
        after = now()
        self.assertEqual(st, 201, data)
        self.assertEqual(list(json.loads(data.decode("utf-8"),
                                         object_pairs_hook=lambda kv: [k for k, _ in kv])),
                         ORDER_FIELDS)
        primary = self.primary_of(email=email)
        self.assertIsNotNone(primary, "the order did not reconcile its email")
        self.assertIsInstance(got["pk"], int)
        self.assertIsInstance(got["customer"], int)
        self.assertRecentTimestamp(got["modified_date"], before, after, "modified_date")
        self.assertEqual(got, {"pk": got["pk"], "channel": 1, "number": body["number"],
                               "amount": "149.90", "currency": "TRY",
                               "created_date": "2023-01-17T09:01:27.000000Z",
                               "modified_date": got["modified_date"],
                               "customer": got["customer"], "identity": primary})
        self.expect("GET", "%s%d/" % (ORDERS, got["pk"]), None, 200, got)
        customer = self.fetch(got["customer"])
        phone = body["customer"]["phone_number"].replace(" ", "")
        self.assertEqual({k: customer[k] for k in ("channel", "email", "channel_code",
                                                   "phone_number", "first_name", "last_name",
                                                   "identity")},
                         {"channel": 1, "email": email, "channel_code": code,
                          "phone_number": phone, "first_name": "Jane", "last_name": "Doe",
                          "identity": primary})
        self.assertEqual(self.primary_of(phone=phone), primary)
        self.assertKinds(seq, [("customer.created", got["customer"]),
                               ("order.created", got["pk"])])

    def test_channel_code_defaults_to_the_normalized_email(self):
        tag = uniq("Mixed")
        got = self.post_order(order_body(customer={"email": "  %s@Shop.TEST " % tag}))
        customer = self.fetch(got["customer"])
        self.assertEqual((customer["email"], customer["channel_code"], customer["channel"]),
                         ("%s@shop.test" % tag.lower(), "%s@shop.test" % tag.lower(), 1))
        # The defaults of a customer created this way are the customer defaults.
        self.assertEqual({k: customer[k] for k in ("first_name", "last_name", "phone_number",
                                                   "is_active", "gender", "extra_field")},
                         {"first_name": "", "last_name": "", "phone_number": None,
                          "is_active": True, "gender": None, "extra_field": {}})

    def test_found_by_channel_code_updates_the_fields_sent(self):
        code, e1, e2 = uniq("K-"), new_email(), new_email()
        phone = new_phone()
        first = self.post_order(order_body(customer={
            "email": e1, "channel_code": code, "first_name": "Jane", "last_name": "Doe",
            "phone_number": phone}))
        c1 = self.fetch(first["customer"])
        seq = self.last_seq()
        second = self.post_order(order_body(customer={
            "email": e2, "channel_code": code, "first_name": "Janet", "gender": "female"}))
        self.assertEqual(second["customer"], first["customer"])
        c2 = self.fetch(first["customer"])
        self.assertEqual(c2, dict(c1, email=e2, first_name="Janet", gender="female",
                                  modified_date=c2["modified_date"]))
        self.assertEqual(self.customers_with(channel=1, channel_code=code), [c2])
        self.assertKinds(seq, [("customer.updated", first["customer"]),
                               ("order.created", second["pk"])])
        # The new email is reconciled into the customer's identity.
        self.assertEqual(self.primary_of(email=e2), c1["identity"])
        self.assertEqual(second["identity"], c1["identity"])

    def test_found_by_email_when_no_code_is_sent(self):
        email = new_email("known")
        existing = self.create(email=email, channel=1, channel_code=uniq("X-"),
                               first_name="Old", last_name="Name")
        body = order_body(customer={"email": email.upper(), "first_name": "New"})
        got = self.post_order(body)
        self.assertEqual(got["customer"], existing["pk"],
                         "\nPOST %s %s\nanswered %r\ncustomers with that email now: %r"
                         % (ORDERS, json.dumps(body), got,
                            [(c["pk"], c["channel"], c["channel_code"])
                             for c in self.customers_with(email=email)]))
        after = self.fetch(existing["pk"])
        self.assertEqual(after, dict(existing, first_name="New",
                                     modified_date=after["modified_date"]))
        self.assertEqual(len(self.customers_with(email=email)), 1)

    def test_found_by_email_twice_without_code(self):
        email = new_email()
        first = self.post_order(order_body(customer={"email": email}))
        second = self.post_order(order_body(customer={"email": email, "last_name": "Later"}))
        self.assertEqual(second["customer"], first["customer"])
        self.assertEqual(self.fetch(first["customer"])["last_name"], "Later")
        self.assertEqual(len(self.customers_with(email=email)), 1)

    def test_same_email_on_another_channel_is_another_customer(self):
        email = new_email()
        c1 = self.create(email=email, channel=1)
        got = self.post_order(order_body(channel=2, customer={"email": email}))
        self.assertNotEqual(got["customer"], c1["pk"])
        c2 = self.fetch(got["customer"])
        self.assertEqual((c2["channel"], c2["email"], c2["channel_code"]), (2, email, email))
        self.assertEqual(c2["identity"], c1["identity"])
        self.assertEqual(got["identity"], c1["identity"])

    def test_code_of_another_channel_is_not_found(self):
        code = uniq("K-")
        c1 = self.create(channel=1, channel_code=code)
        got = self.post_order(order_body(channel=3, customer={"email": new_email(),
                                                              "channel_code": code}))
        self.assertNotEqual(got["customer"], c1["pk"])
        self.assertEqual(self.fetch(got["customer"])["channel"], 3)

    def test_order_reconciles_email_and_phone(self):
        phone = new_phone()
        known = self.srv.identify({"phoneNumber": phone})["contact"]["primaryContactId"]
        email = new_email()
        got = self.post_order(order_body(customer={"email": email, "phone_number": phone}))
        self.assertEqual(got["identity"], known)
        self.assertEqual(self.primary_of(email=email), known)
        self.assertEqual(self.fetch(got["customer"])["identity"], known)

    def test_identity_follows_a_later_merge(self):
        older_email, older_phone = new_email("older"), new_phone()
        older = self.srv.identify({"email": older_email, "phoneNumber": older_phone})
        older = older["contact"]["primaryContactId"]
        email = new_email()
        got = self.post_order(order_body(customer={"email": email}))
        self.assertNotEqual(got["identity"], older)
        self.srv.identify({"email": email, "phoneNumber": older_phone})
        self.assertEqual(self.fetch(got["pk"], ORDERS)["identity"], older)
        page = self.listing(ORDERS, qs(identity=older))
        self.assertEqual([o["pk"] for o in page["results"]], [got["pk"]])
        self.assertEqual(page["results"][0]["identity"], older)

    def test_replay_answers_the_stored_order_and_changes_nothing(self):
        body = order_body(created_date="2023-02-01T10:00:00Z",
                          customer={"email": new_email(), "first_name": "First"})
        first = self.post_order(body)
        customer = self.fetch(first["customer"])
        seq = self.last_seq()
        self.expect("POST", ORDERS, body, 200, first)
        # Other fields than amount, currency and customer email are not compared.
        again = dict(body, created_date="2024-05-05T05:05:05Z",
                     customer={"email": "  " + body["customer"]["email"].upper(),
                               "first_name": "Second", "phone_number": new_phone()})
        self.expect("POST", ORDERS, again, 200, first)
        self.expect("POST", ORDERS.rstrip("/"), body, 200, first)
        self.assertEqual(self.last_seq(), seq)
        self.assertEqual(self.fetch(first["customer"]), customer)
        self.assertIsNone(self.primary_of(phone=again["customer"]["phone_number"]))
        page = self.listing(ORDERS, qs(number=body["number"]))
        self.assertEqual(page["results"], [first])

    def test_replay_after_the_customer_changed_its_email(self):
        """A replay is compared on the email the order was sent with, not on
        the customer's email of today."""
        code, email = uniq("C-"), new_email("was")
        body = order_body(customer={"email": email, "channel_code": code})
        first = self.post_order(body)
        moved = new_email("now")
        self.post_order(order_body(customer={"email": moved, "channel_code": code}))
        self.assertEqual(self.fetch(first["customer"])["email"], moved)
        stored = self.fetch(first["pk"], ORDERS)  # its identity is the new email's
        seq = self.last_seq()
        self.expect("POST", ORDERS, body, 200, stored)
        self.assertEqual(self.last_seq(), seq)
        # The customer's email of today is another order's email.
        self.expect("POST", ORDERS, dict(body, customer={"email": moved, "channel_code": code}),
                    409, {"detail": "Order %s of channel 1 already exists with other values."
                          % body["number"]})

    def test_replay_with_the_amount_written_otherwise(self):
        number, email = uniq("MP-"), new_email()
        st, first, _, data = self.call("POST", ORDERS, raw=raw_order('"149.90"', number, email))
        self.assertEqual(st, 201, data)
        seq = self.last_seq()
        for text in ('149.9', '149.90', '"149.9"'):
            with self.subTest(amount=text):
                self.expect("POST", ORDERS, None, 200, first,
                            raw=raw_order(text, number, email))
        self.assertEqual(self.last_seq(), seq)

    def test_same_number_with_other_values_409(self):
        body = order_body(customer={"email": new_email()})
        first = self.post_order(body)
        seq = self.last_seq()
        other_email = new_email("other")
        for change in ({"amount": "149.91"}, {"amount": "0"}, {"currency": "USD"},
                       {"customer": {"email": other_email}},
                       {"amount": "1.00", "currency": "EUR"}):
            with self.subTest(change=change):
                self.expect("POST", ORDERS, dict(body, **change), 409,
                            conflict(body["number"], 1))
        self.assertEqual(self.last_seq(), seq)
        self.assertIsNone(self.primary_of(email=other_email))
        self.assertEqual(self.customers_with(email=other_email), [])
        self.expect("GET", "%s%d/" % (ORDERS, first["pk"]), None, 200, first)

    def test_same_number_on_another_channel_is_another_order(self):
        body = order_body()
        first = self.post_order(body)
        second = self.post_order(dict(body, channel=2))
        self.assertNotEqual(second["pk"], first["pk"])
        self.assertEqual(second["channel"], 2)
        self.assertNotEqual(second["customer"], first["customer"])

    def test_created_date_from_the_body_or_now(self):
        for sent, shown in (("2023-01-17T09:01:27Z", "2023-01-17T09:01:27.000000Z"),
                            ("2023-01-17T12:01:27.25+03:00", "2023-01-17T09:01:27.250000Z"),
                            ("2021-05-26T13:53:58.585910Z", "2021-05-26T13:53:58.585910Z"),
                            ("2023-01-17T09:01", "2023-01-17T09:01:00.000000Z")):
            with self.subTest(created_date=sent):
                got = self.post_order(order_body(created_date=sent))
                self.assertEqual(got["created_date"], shown)
                self.assertRegex(got["modified_date"], US_RE)
                self.assertNotEqual(got["modified_date"], shown)
        before = now()
        got = self.post_order(order_body())
        after = now()
        self.assertRecentTimestamp(got["created_date"], before, after, "created_date")
        self.assertRecentTimestamp(got["modified_date"], before, after, "modified_date")

    def test_read_only_and_unknown_keys_ignored(self):
        before = now()
        got = self.post_order(order_body(pk=99999, modified_date="2001-01-01T00:00:00Z",
                                         identity=424242, colour="red"))
        after = now()
        self.assertNotEqual(got["pk"], 99999)
        self.assertRecentTimestamp(got["modified_date"], before, after, "modified_date")
        self.assertNotEqual(got["identity"], 424242)
        self.assertEqual(list(got), ORDER_FIELDS)


# ============================================================== validation

class OrderValidationTests(OrderCase):

    def refused(self, body, errors, raw=None):
        seq = self.last_seq()
        self.expect("POST", ORDERS, body, 400, errors, raw=raw)
        self.assertEqual(self.last_seq(), seq, "a refused order changed the store")

    def test_required_fields(self):
        self.refused({}, {"channel": [REQ], "number": [REQ], "amount": [REQ],
                          "currency": [REQ], "customer": [REQ]})
        for field in ("channel", "number", "amount", "currency", "customer"):
            with self.subTest(missing=field):
                body = order_body()
                del body[field]
                self.refused(body, {field: [REQ]})

    def test_customer_email_required_nested(self):
        for customer in ({}, {"first_name": "Jane", "phone_number": new_phone()}):
            with self.subTest(customer=customer):
                self.refused(order_body(customer=customer), {"customer": {"email": [REQ]}})

    def test_customer_email_invalid_nested(self):
        for value, msg in (("nope", BAD_EMAIL), ("a@@b.io", BAD_EMAIL), (None, NULL),
                           ("", BLANK)):
            with self.subTest(email=value):
                self.refused(order_body(customer={"email": value}),
                             {"customer": {"email": [msg]}})

    def test_customer_errors_reported_with_a_bad_email(self):
        # A refused email does not hide the customer's other errors.
        self.refused(order_body(customer={"email": "bad", "phone_number": "x",
                                          "first_name": None, "gender": "q"}),
                     {"customer": {"email": [BAD_EMAIL], "phone_number": [BAD_PHONE],
                                   "first_name": [NULL], "gender": [bad_choice("q")]}})

    def test_email_too_long_for_the_default_channel_code(self):
        email = "x" * 60 + "@longdomain.example.com"
        self.refused(order_body(customer={"email": email}),
                     {"customer": {"channel_code": [
                         "This field is required when the email, its default, is longer "
                         "than 64 characters."]}})
        self.assertIsNone(self.primary_of(email=email))
        got = self.post_order(order_body(customer={"email": email, "channel_code": uniq("L-")}))
        self.assertEqual(self.fetch(got["customer"])["email"], email)

    def test_customer_null(self):
        self.refused(order_body(customer=None), {"customer": [NULL]})

    def test_customer_not_an_object(self):
        for value in ([], "a@b.io", 5):
            with self.subTest(customer=value):
                seq = self.last_seq()
                st, body, _, data = self.call("POST", ORDERS, order_body(customer=value))
                self.assertEqual(st, 400, data)
                self.assertEqual(list(body), ["customer"], data)
                self.assertEqual(self.last_seq(), seq)

    def test_other_customer_field_errors_nest(self):
        email = new_email()
        self.refused(order_body(customer={"email": email, "phone_number": "abc",
                                          "gender": "x", "first_name": "f" * 151,
                                          "is_active": "maybe"}),
                     {"customer": {"phone_number": [BAD_PHONE], "gender": [bad_choice("x")],
                                   "first_name": [max_chars(150)],
                                   "is_active": ["Must be a valid boolean."]}})
        self.assertIsNone(self.primary_of(email=email))

    def test_errors_reported_together(self):
        email = new_email()
        self.refused({"channel": 0, "number": "", "amount": "abc", "currency": None,
                      "created_date": "yesterday", "customer": {"email": "bad"}},
                     {"channel": [min_value(1)], "number": [BLANK], "amount": [BAD_NUMBER],
                      "currency": [NULL], "created_date": [BAD_DATETIME],
                      "customer": {"email": [BAD_EMAIL]}})
        self.refused(order_body(amount="1.234", customer={"email": email, "gender": "x"}),
                     {"amount": [DECIMAL_PLACES], "customer": {"gender": [bad_choice("x")]}})
        self.assertIsNone(self.primary_of(email=email))

    def test_amount_kept_exactly(self):
        for text, shown in (('"149.90"', "149.90"), ('"149.9"', "149.90"),
                            ('149.90', "149.90"), ('149.9', "149.90"), ('100', "100.00"),
                            ('"0"', "0.00"), ('0', "0.00"), ('"0.00"', "0.00"),
                            ('"0.01"', "0.01"), ('"9999999999.99"', "9999999999.99"),
                            ('"1234567890.12"', "1234567890.12"), ('"0.1"', "0.10"),
                            ('"7.5"', "7.50"), ('12.5', "12.50")):
            with self.subTest(amount=text):
                st, got, _, data = self.call("POST", ORDERS,
                                             raw=raw_order(text, uniq("A-"), new_email()))
                self.assertEqual(st, 201, data)
                self.assertEqual(got["amount"], shown)
                self.assertEqual(self.fetch(got["pk"], ORDERS)["amount"], shown)

    def test_amount_invalid(self):
        for text, msg in (('"abc"', BAD_NUMBER), ('""', BAD_NUMBER), ('"NaN"', BAD_NUMBER),
                          ('"Infinity"', BAD_NUMBER), ('"1,5"', BAD_NUMBER),
                          ('true', BAD_NUMBER), ('[]', BAD_NUMBER),
                          ('"1.234"', DECIMAL_PLACES), ('1.234', DECIMAL_PLACES),
                          ('"0.001"', DECIMAL_PLACES),
                          ('"99999999999.99"', DIGITS), ('"1234567890123"', DIGITS),
                          ('"-0.01"', min_value(0)), ('-1', min_value(0)),
                          ('null', NULL)):
            with self.subTest(amount=text):
                self.refused(None, {"amount": [msg]},
                             raw=raw_order(text, uniq("A-"), new_email()))

    def test_currency(self):
        for value in ("TRY", "USD", "EUR"):
            with self.subTest(currency=value):
                self.assertEqual(self.post_order(order_body(currency=value))["currency"], value)
        for value in ("try", "Usd", "TR", "TRYY", "T1Y", "T Y", 123):
            with self.subTest(currency=value):
                seq = self.last_seq()
                st, body, _, data = self.call("POST", ORDERS, order_body(currency=value))
                self.assertEqual(st, 400, data)
                self.assertEqual(list(body), ["currency"], data)
                self.assertTrue(all(isinstance(m, str) and m for m in body["currency"]), data)
                self.assertEqual(self.last_seq(), seq)
        self.refused(order_body(currency=""), {"currency": [BLANK]})
        self.refused(order_body(currency=None), {"currency": [NULL]})

    def test_number(self):
        value = uniq("N-")
        value += "n" * (64 - len(value))
        self.assertEqual(self.post_order(order_body(number=value))["number"], value)
        self.refused(order_body(number=value + "x"), {"number": [max_chars(64)]})
        self.refused(order_body(number=""), {"number": [BLANK]})
        self.refused(order_body(number=None), {"number": [NULL]})

    def test_channel(self):
        for value, msg in ((0, min_value(1)), (-1, min_value(1)), ("abc", BAD_INT),
                           (None, NULL), (2.5, BAD_INT)):
            with self.subTest(channel=value):
                self.refused(order_body(channel=value), {"channel": [msg]})

    def test_created_date_invalid(self):
        for value in ("yesterday", "2023-13-01T00:00:00Z", "17/01/2023 09:01",
                      "2023-01-17T24:30:00Z", 1673946087):
            with self.subTest(created_date=value):
                self.refused(order_body(created_date=value), {"created_date": [BAD_DATETIME]})

    def test_body_not_an_object(self):
        for raw in (b"[]", b'"x"', b"5"):
            with self.subTest(body=raw):
                st, body, _, data = self.call("POST", ORDERS, raw=raw)
                self.assertEqual(st, 400, data)
                self.assertIsInstance(body, dict, data)
                self.assertNotIn("detail", body, data)
                self.assertTrue(body, data)


# ============================================================== routes

class OrderRoutingTests(OrderCase):

    @classmethod
    def populate(cls):
        cls.o = cls.order()

    def test_detail_with_and_without_slash(self):
        for path in ("%s%d/" % (ORDERS, self.o["pk"]), "%s%d" % (ORDERS, self.o["pk"])):
            with self.subTest(path=path):
                self.expect("GET", path, None, 200, self.o)

    def test_unknown_and_non_numeric_pk(self):
        for pk in ("999999", "abc", "0", "-1", "1.5", "0x1"):
            with self.subTest(pk=pk):
                self.expect("GET", ORDERS + pk + "/", None, 404, NOT_FOUND)

    def test_no_patch_put_delete(self):
        seq = self.last_seq()
        detail = "%s%d/" % (ORDERS, self.o["pk"])
        for path in (detail, detail.rstrip("/")):
            for method in ("PATCH", "PUT", "DELETE", "POST"):
                with self.subTest(path=path, method=method):
                    body = None if method == "DELETE" else {"amount": "1.00"}
                    hdrs = self.expect(method, path, body, 405, method_not_allowed(method))
                    allow = allow_set(hdrs)
                    self.assertIn("GET", allow, hdrs)
                    self.assertFalse(allow & {"PATCH", "PUT", "DELETE", "POST"}, hdrs)
        for path in (ORDERS, ORDERS.rstrip("/")):
            for method in ("PATCH", "PUT", "DELETE"):
                with self.subTest(path=path, method=method):
                    body = None if method == "DELETE" else {"amount": "1.00"}
                    hdrs = self.expect(method, path, body, 405, method_not_allowed(method))
                    allow = allow_set(hdrs)
                    self.assertTrue({"GET", "POST"} <= allow, hdrs)
                    self.assertNotIn(method, allow, hdrs)
        self.assertEqual(self.last_seq(), seq)
        self.expect("GET", detail, None, 200, self.o)

    def test_create_without_slash(self):
        st, got, _, data = self.call("POST", ORDERS.rstrip("/"), order_body())
        self.assertEqual(st, 201, data)
        self.expect("GET", "%s%d" % (ORDERS, got["pk"]), None, 200, got)


# ============================================================== list

# (channel, number, amount, currency, created_date, customer email, phone)
ORDER_ROWS = [
    (1, "L-1", "9.50", "TRY", "2023-01-15T10:00:00Z", "olive@list.test", "5550001111"),
    (1, "L-2", "100.00", "USD", "2023-01-16T23:59:59.999999Z", "olive@list.test", None),
    (2, "L-3", "20.00", "TRY", "2023-01-17T00:00:00Z", "pete@list.test", "5550001111"),
    (1, "L-4", "149.90", "EUR", "2023-01-17T09:01:27Z", "quinn@list.test", None),
    (2, "L-5", "0.00", "TRY", "2023-01-18T12:00:00+03:00", "olive@list.test", None),
    (3, "L-6", "1000.00", "USD", "2023-01-14T08:00:00Z", "rita@list.test", None),
    (1, "L-7", "55.55", "TRY", "2023-01-17T23:59:59Z", "pete@list.test", None),
]


class OrderListTests(OrderCase):

    @classmethod
    def populate(cls):
        cls.orders = []
        for channel, number, amount, currency, created, email, phone in ORDER_ROWS:
            customer = {"email": email}
            if phone:
                customer["phone_number"] = phone
            cls.orders.append(cls.order(channel=channel, number=number, amount=amount,
                                        currency=currency, created_date=created,
                                        customer=customer))
        cls.orders = [cls.fetch(o["pk"], ORDERS) for o in cls.orders]
        cls.by_number = {o["number"]: o for o in cls.orders}

    def expect_numbers(self, query, numbers):
        page = self.listing(ORDERS, query + ("&" if query else "") + "limit=1000")
        expected = sorted((self.by_number[n] for n in numbers), key=lambda o: o["pk"])
        self.assertEqual(([o["number"] for o in page["results"]], page["count"]),
                         ([o["number"] for o in expected], len(expected)),
                         "GET %s?%s" % (ORDERS, query))
        self.assertEqual(page["results"], expected)

    def test_customers_and_identities_of_the_rows(self):
        o = self.by_number
        self.assertEqual(o["L-1"]["customer"], o["L-2"]["customer"])
        self.assertNotEqual(o["L-1"]["customer"], o["L-5"]["customer"])  # channel 2
        self.assertNotEqual(o["L-3"]["customer"], o["L-7"]["customer"])  # channels 2 and 1
        ident = o["L-1"]["identity"]
        for n in ("L-2", "L-3", "L-5", "L-7"):
            self.assertEqual(o[n]["identity"], ident, n)
        for n in ("L-4", "L-6"):
            self.assertNotEqual(o[n]["identity"], ident, n)

    def test_all_in_pk_order(self):
        self.expect_numbers("", [r[1] for r in ORDER_ROWS])

    def test_customer(self):
        self.expect_numbers(qs(customer=self.by_number["L-1"]["customer"]), ["L-1", "L-2"])
        self.expect_numbers(qs(customer=self.by_number["L-5"]["customer"]), ["L-5"])
        self.expect_numbers(qs(customer=99999), [])

    def test_channel(self):
        self.expect_numbers(qs(channel=1), ["L-1", "L-2", "L-4", "L-7"])
        self.expect_numbers(qs(("channel", 2), ("channel", 3)), ["L-3", "L-5", "L-6"])

    def test_number(self):
        self.expect_numbers(qs(number="L-4"), ["L-4"])
        self.expect_numbers(qs(number="L-9"), [])

    def test_currency(self):
        self.expect_numbers(qs(currency="TRY"), ["L-1", "L-3", "L-5", "L-7"])
        self.expect_numbers(qs(("currency", "USD"), ("currency", "EUR")), ["L-2", "L-4", "L-6"])

    def test_identity(self):
        self.expect_numbers(qs(identity=self.by_number["L-1"]["identity"]),
                            ["L-1", "L-2", "L-3", "L-5", "L-7"])
        self.expect_numbers(qs(identity=self.by_number["L-6"]["identity"]), ["L-6"])
        self.expect_numbers(qs(identity=99999999), [])

    def test_created_date(self):
        self.expect_numbers(qs(created_date="2023-01-17"), ["L-3", "L-4", "L-7"])
        self.expect_numbers(qs(created_date__date="2023-01-17"), ["L-3", "L-4", "L-7"])
        self.expect_numbers(qs(created_date__date="2023-01-18"), ["L-5"])
        self.expect_numbers(qs(created_date="2023-01-17T09:01:27Z"), ["L-4"])
        self.expect_numbers(qs(created_date="2023-01-17T12:01:27+03:00"), ["L-4"])
        self.expect_numbers(qs(created_date="2023-01-17T09:01:27.000000Z"), ["L-4"])
        # A date as a bound is its first instant.
        self.expect_numbers(qs(created_date__gte="2023-01-17"), ["L-3", "L-4", "L-5", "L-7"])
        self.expect_numbers(qs(created_date__gt="2023-01-17"), ["L-4", "L-5", "L-7"])
        self.expect_numbers(qs(created_date__lt="2023-01-17"), ["L-1", "L-2", "L-6"])
        self.expect_numbers(qs(created_date__lte="2023-01-17"), ["L-1", "L-2", "L-3", "L-6"])
        self.expect_numbers(qs(created_date__gt="2023-01-16T23:59:59.999999Z"),
                            ["L-3", "L-4", "L-5", "L-7"])
        self.expect_numbers(qs(created_date__gte="2023-01-16T23:59:59.999999Z"),
                            ["L-2", "L-3", "L-4", "L-5", "L-7"])
        self.expect_numbers(qs(created_date__lt="2023-01-18T09:00:00Z"),
                            ["L-1", "L-2", "L-3", "L-4", "L-6", "L-7"])
        self.expect_numbers(qs(created_date__lte="2023-01-18T12:00:00+03:00"),
                            [r[1] for r in ORDER_ROWS])
        self.expect_numbers(qs(created_date__gte="2023-01-15", created_date__lt="2023-01-17"),
                            ["L-1", "L-2"])

    def test_pk(self):
        pk = {n: o["pk"] for n, o in self.by_number.items()}
        self.expect_numbers(qs(pk=pk["L-3"]), ["L-3"])
        self.expect_numbers(qs(id=pk["L-3"]), ["L-3"])
        self.expect_numbers(qs(pk__gt=pk["L-5"]), ["L-6", "L-7"])
        self.expect_numbers(qs(pk__gte=pk["L-5"]), ["L-5", "L-6", "L-7"])
        self.expect_numbers(qs(pk__lt=pk["L-2"]), ["L-1"])
        self.expect_numbers(qs(pk__lte=pk["L-2"]), ["L-1", "L-2"])
        self.expect_numbers(qs(pk__in="%d,%d" % (pk["L-6"], pk["L-2"])), ["L-2", "L-6"])

    def test_filters_combine_with_and(self):
        self.expect_numbers(qs(channel=1, currency="TRY"), ["L-1", "L-7"])
        self.expect_numbers(qs(identity=self.by_number["L-1"]["identity"], channel=2,
                               created_date__date="2023-01-17"), ["L-3"])
        self.expect_numbers(qs(currency="EUR", channel=2), [])

    def test_ordering(self):
        by_time = sorted(self.orders, key=lambda o: parse_ts(o["created_date"]))
        by_amount = sorted(self.orders, key=lambda o: Decimal(o["amount"]))
        cases = {"pk": self.orders, "-pk": self.orders[::-1],
                 "created_date": by_time, "-created_date": by_time[::-1],
                 "amount": by_amount, "-amount": by_amount[::-1]}
        self.assertEqual([o["number"] for o in by_amount],
                         ["L-5", "L-1", "L-3", "L-7", "L-2", "L-4", "L-6"])
        for value, expected in cases.items():
            with self.subTest(ordering=value):
                page = self.listing(ORDERS, qs(ordering=value))
                self.assertEqual([o["number"] for o in page["results"]],
                                 [o["number"] for o in expected])
        page = self.listing(ORDERS, qs(ordering="-amount", currency="TRY"))
        self.assertEqual([o["number"] for o in page["results"]], ["L-7", "L-3", "L-1", "L-5"])

    def test_ordering_not_offered(self):
        for value in ("number", "modified_date", "currency", "colour", "email"):
            with self.subTest(ordering=value):
                self.expect("GET", ORDERS + "?" + qs(ordering=value), None, 400,
                            unknown_ordering(value))

    def test_unknown_parameters(self):
        for name in ("amount", "email", "colour", "customer__email", "number__startswith",
                     "currency__in", "modified_date"):
            with self.subTest(param=name):
                self.expect("GET", ORDERS + "?" + qs(**{name: "x"}), None, 400,
                            unknown_param(name))

    def test_bad_filter_values(self):
        for name, value, msgs in (("pk", "x", [F_NUMBER]), ("id__gt", "y", [F_NUMBER]),
                                  ("identity", "z", [F_NUMBER]),
                                  ("created_date__gte", "never", [F_DATETIME]),
                                  ("created_date", "2023-02-30", [F_DATETIME]),
                                  ("created_date__lt", "17/01/2023", [F_DATETIME])):
            with self.subTest(param=name, value=value):
                self.expect("GET", ORDERS + "?" + qs(**{name: value}), None, 400,
                            {name: msgs})
        for name in ("customer", "channel"):
            with self.subTest(param=name):
                st, body, _, data = self.call("GET", ORDERS + "?" + qs(**{name: "abc"}))
                self.assertEqual(st, 400, data)
                self.assertEqual(list(body), [name], data)

    def test_paging(self):
        host = "127.0.0.1:%d" % self.srv.port
        page = self.listing(ORDERS, qs(limit=3, currency="TRY"))
        self.assertEqual((page["count"], [o["number"] for o in page["results"]],
                          page["previous"]), (4, ["L-1", "L-3", "L-5"], None))
        self.assertIsNotNone(page["next"])
        u = urllib.parse.urlsplit(page["next"])
        self.assertEqual((u.scheme, u.netloc, u.path), ("http", host, ORDERS))
        self.assertEqual(urllib.parse.parse_qs(u.query),
                         {"limit": ["3"], "currency": ["TRY"], "page": ["2"]})
        last = self.listing(u.path, u.query)
        self.assertEqual(([o["number"] for o in last["results"]], last["next"]), (["L-7"], None))
        self.expect("GET", ORDERS + "?" + qs(limit=3, currency="TRY", page=3), None, 404,
                    INVALID_PAGE)
        self.expect("GET", ORDERS + "?" + qs(page="x"), None, 404, INVALID_PAGE)
        self.assertEqual(self.listing(ORDERS, qs(currency="JPY")),
                         {"count": 0, "next": None, "previous": None, "results": []})


# ============================================================== concurrency

class OrderConcurrencyTests(OrderCase):

    def test_concurrent_replays_make_one_order(self):
        body = order_body(customer={"email": new_email("race")})
        results = harness.run_threads(lambda i: self.call("POST", ORDERS, body)[:2], 10)
        statuses = sorted(st for st, _ in results)
        self.assertEqual(statuses, [200] * 9 + [201], results)
        first = [b for st, b in results if st == 201][0]
        self.assertTrue(all(b == first for _, b in results), results)
        self.assertEqual(self.listing(ORDERS, qs(number=body["number"]))["results"], [first])
        self.assertEqual(len(self.customers_with(email=body["customer"]["email"])), 1)

    def test_concurrent_orders_of_one_new_buyer_make_one_customer(self):
        email = new_email("buyer")
        numbers = [uniq("CC-") for _ in range(10)]
        results = harness.run_threads(
            lambda i: self.call("POST", ORDERS, order_body(number=numbers[i],
                                                           customer={"email": email}))[:2], 10)
        self.assertEqual([st for st, _ in results], [201] * 10, results)
        customers = {b["customer"] for _, b in results}
        self.assertEqual(len(customers), 1, results)
        self.assertEqual([c["pk"] for c in self.customers_with(email=email)], list(customers))


if __name__ == "__main__":
    unittest.main()
