"""SPEC sections 7 and 8: /api/v1/customers/ as a client of seed 004 sees it.

Validation and DRF's messages, defaults, read-only fields, the unique
(channel, channel_code) set, PATCH/PUT/DELETE and the channel rule,
reconciliation into the contact graph, paging, every filter and ordering,
concurrency. Each class shares one idlinkd; when the class ends the server is
stopped and `idlink-check --data DIR` must pass on its folder.

test_orders.py imports the shared helpers from here.
"""

import datetime
import itertools
import json
import os
import re
import sys
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import NOT_FOUND  # noqa: E402

CUSTOMERS = "/api/v1/customers/"
ORDERS = "/api/v1/orders/"
US_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
UTC = datetime.timezone.utc

# DRF's messages, as SPEC section 7 lists them.
REQ = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
BAD_EMAIL = "Enter a valid email address."
BAD_PHONE = "Enter a valid phone number."
BAD_BOOL = "Must be a valid boolean."
BAD_INT = "A valid integer is required."
BAD_NUMBER = "A valid number is required."
BAD_DATE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
BAD_DATETIME = ("Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")


def max_chars(n):
    return "Ensure this field has no more than %d characters." % n


def not_dict(kind):
    return 'Expected a dictionary of items but got type "%s".' % kind


def bad_choice(v):
    return '"%s" is not a valid choice.' % v


def min_value(n):
    return "Ensure this value is greater than or equal to %d." % n


# django-filter's words for bad query values.
F_DATETIME = "Enter a valid date/time."
F_DATE = "Enter a valid date."
F_NUMBER = "Enter a number."


def f_choice(v):
    return "Select a valid choice. %s is not one of the available choices." % v


UNIQUE = {"non_field_errors": ["The fields channel, channel_code must make a unique set."]}
CHANNEL_FIXED = {"non_field_errors": "channel:channel_name These field cannot be updated",
                 "error_code": "customer_100_3"}
INVALID_PAGE = {"detail": "Invalid page."}


def unknown_param(p):
    return {"detail": 'Unknown query parameter "%s".' % p}


def unknown_ordering(f):
    return {"detail": 'Unknown ordering field "%s".' % f}


def method_not_allowed(m):
    return {"detail": 'Method "%s" not allowed.' % m}


def in_use(pk):
    return {"detail": "Customer %d has products or orders; reassign or delete them first." % pk}


# Seed 004's customer object, in its order, plus the computed identity.
CUSTOMER_FIELDS = [
    "pk", "channel", "email", "first_name", "last_name", "phone_number", "is_active",
    "channel_code", "erp_code", "extra_field", "modified_date", "created_date", "date_joined",
    "email_allowed", "sms_allowed", "call_allowed", "gender", "attributes", "user_type",
    "date_of_birth", "attributes_kwargs", "localized_attributes",
    "localized_attributes_kwargs", "identity"]
JSON_FIELDS = ["extra_field", "attributes", "attributes_kwargs", "localized_attributes",
               "localized_attributes_kwargs"]
BOOL_FIELDS = ["is_active", "email_allowed", "sms_allowed", "call_allowed"]
TRUE_VALUES = [True, 1, "true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y", "on", "On",
               "ON", "t", "T", "1"]
FALSE_VALUES = [False, 0, "false", "False", "FALSE", "no", "No", "NO", "n", "N", "off",
                "Off", "OFF", "f", "F", "0"]

_counter = itertools.count(1)


def uniq(prefix="u"):
    return "%s%d" % (prefix, next(_counter))


def new_email(prefix="c"):
    return "%s%d@example.test" % (prefix, next(_counter))


def new_phone():
    return "+90555%07d" % next(_counter)


def parse_ts(s):
    """A timestamp as the API writes it (microseconds, Z) to an aware datetime."""
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def us(dt):
    """An aware datetime as the API writes it."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def qs(*pairs, **kw):
    """A query string from (name, value) pairs (repeats allowed) and keywords."""
    return urllib.parse.urlencode(list(pairs) + list(kw.items()))


def allow_set(headers):
    return {m.strip().upper() for m in headers.get("allow", "").split(",") if m.strip()}


class Shared(unittest.TestCase):
    """One idlinkd for the whole class; at the end it is stopped and its folder
    must pass idlink-check."""

    maxDiff = None
    server_args = ()
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Server(extra_args=cls.server_args)
        try:
            cls.populate()
        except BaseException:
            cls.srv.close()
            raise

    @classmethod
    def populate(cls):
        pass

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

    # ---- HTTP ---------------------------------------------------------------

    @classmethod
    def call(cls, method, path, body=None, raw=None, headers=None):
        """(status, parsed JSON, headers, raw bytes)."""
        st, hdrs, parsed, data = cls.srv.request(method, path, body=body, raw=raw,
                                                 headers=headers)
        return st, parsed, hdrs, data

    def expect(self, method, path, body, status, expected, raw=None, headers=None):
        """Asserts the whole answer (status and body); returns the headers."""
        st, parsed, hdrs, data = self.call(method, path, body, raw=raw, headers=headers)
        sent = raw.decode("utf-8", "replace") if raw is not None else json.dumps(body)
        self.assertEqual((st, parsed), (status, expected),
                         "\nrequest: %s %s %s\nanswer: %d %s"
                         % (method, path, sent, st, data[:3000].decode("utf-8", "replace")))
        return hdrs

    def expect_errors(self, method, path, body, errors):
        """400 with exactly these field errors."""
        return self.expect(method, path, body, 400, errors)

    @classmethod
    def create(cls, **fields):
        """POST a customer (a fresh email and channel_code unless given); 201 body."""
        body = {"email": new_email(), "channel": 1, "channel_code": uniq("code-")}
        body.update(fields)
        st, parsed, _, data = cls.call("POST", CUSTOMERS, body)
        if st != 201:
            raise AssertionError("POST %s %s -> %d %s" % (CUSTOMERS, json.dumps(body), st, data))
        return parsed

    @classmethod
    def fetch(cls, pk, collection=CUSTOMERS):
        st, parsed, _, data = cls.call("GET", "%s%d/" % (collection, pk))
        if st != 200:
            raise AssertionError("GET %s%d/ -> %d %s" % (collection, pk, st, data))
        return parsed

    @classmethod
    def order(cls, status=201, **fields):
        body = {"channel": 1, "number": uniq("MP-"), "amount": "10.00", "currency": "TRY",
                "customer": {"email": new_email("o")}}
        body.update(fields)
        st, parsed, _, data = cls.call("POST", ORDERS, body)
        if st != status:
            raise AssertionError("POST %s %s -> %d %s" % (ORDERS, json.dumps(body), st, data))
        return parsed

    @classmethod
    def primary_of(cls, email=None, phone=None):
        """The primaryContactId holding email (or phone), read-only; None when none."""
        body = {"email": email} if email is not None else {"phoneNumber": phone}
        st, parsed, _, data = cls.call("POST", "/api/identify/", body)
        if st == 404:
            return None
        if st != 200:
            raise AssertionError("POST /api/identify/ %r -> %d %s" % (body, st, data))
        return parsed["contact"]["primaryContactId"]

    @classmethod
    def identity_body(cls, contact_id):
        st, parsed, _, data = cls.call("GET", "/identities/%d" % contact_id)
        if st != 200:
            raise AssertionError("GET /identities/%d -> %d %s" % (contact_id, st, data))
        return parsed["contact"]

    @classmethod
    def last_seq(cls):
        return cls.srv.last_seq()

    def listing(self, collection, query, status=200, headers=None):
        path = collection + ("?" + query if query else "")
        st, parsed, _, data = self.call("GET", path, headers=headers)
        self.assertEqual(st, status, "GET %s -> %d %s" % (path, st, data[:3000]))
        return parsed

    def assertKinds(self, since, expected):
        """The change log after `since` holds these (kind, pk) entries."""
        got = [(c.get("kind"), c.get("pk")) for c in self.srv.changes_since(since)
               if "pk" in c]
        for e in expected:
            self.assertIn(e, got, "change log after seq %d: %r" % (since, got))

    def assertRecentTimestamp(self, value, before, after, what):
        self.assertRegex(value, US_RE, what)
        t = parse_ts(value)
        self.assertTrue(before - datetime.timedelta(seconds=2) <= t
                        <= after + datetime.timedelta(seconds=2),
                        "%s %s not between %s and %s" % (what, value, before, after))


def now():
    return datetime.datetime.now(UTC)


# ============================================================== create

SEED_BODY = {"email": "test@test.com", "channel": 1, "channel_code": "1231", "gender": "male",
             "user_type": "registered", "is_active": False, "erp_code": "er_code",
             "email_allowed": True, "sms_allowed": True, "call_allowed": True,
             "phone_number": "05555555555", "attributes": {}, "extra_field": {},
             "date_of_birth": "2001-01-01"}


class CustomerCreateTests(Shared):

    def post_errors(self, body, errors):
        """POST a body that must fail with exactly these errors, changing nothing."""
        seq = self.last_seq()
        self.expect_errors("POST", CUSTOMERS, body, errors)
        self.assertEqual(self.last_seq(), seq, "a refused create changed the store: %r" % body)

    def base(self, **fields):
        body = {"email": new_email(), "channel": 1, "channel_code": uniq("code-")}
        body.update(fields)
        return body

    def test_seed_body_201_with_every_field(self):
        self.assertIsNone(self.primary_of(email="test@test.com"))
        seq = self.last_seq()
        before = now()
        st, body, _, data = self.call("POST", CUSTOMERS, SEED_BODY)
        after = now()
        self.assertEqual(st, 201, data)
        pk = body.get("pk")
        self.assertIsInstance(pk, int)
        self.assertGreater(pk, 0)
        primary = self.primary_of(email="test@test.com")
        self.assertIsNotNone(primary, "the create did not reconcile its email")
        self.assertEqual(self.primary_of(phone="05555555555"), primary)
        self.assertRecentTimestamp(body.get("created_date"), before, after, "created_date")
        self.assertRecentTimestamp(body.get("modified_date"), before, after, "modified_date")
        expected = {
            "pk": pk, "channel": 1, "email": "test@test.com", "first_name": "",
            "last_name": "", "phone_number": "05555555555", "is_active": False,
            "channel_code": "1231", "erp_code": "er_code", "extra_field": {},
            "modified_date": body["modified_date"], "created_date": body["created_date"],
            "date_joined": None, "email_allowed": True, "sms_allowed": True,
            "call_allowed": True, "gender": "male", "attributes": {},
            "user_type": "registered", "date_of_birth": "2001-01-01",
            "attributes_kwargs": {}, "localized_attributes": {},
            "localized_attributes_kwargs": {}, "identity": primary}
        self.assertEqual(body, expected)
        self.expect("GET", "%s%d/" % (CUSTOMERS, pk), None, 200, expected)
        self.assertKinds(seq, [("customer.created", pk)])

    def test_fields_in_seed_order(self):
        st, _, _, data = self.call("POST", CUSTOMERS, self.base())
        self.assertEqual(st, 201, data)
        keys = list(json.loads(data.decode("utf-8"),
                               object_pairs_hook=lambda kv: [k for k, _ in kv]))
        self.assertEqual(keys, CUSTOMER_FIELDS)

    def test_defaults(self):
        body = self.base()
        got = self.create(**body)
        self.assertEqual(got, {
            "pk": got["pk"], "channel": 1, "email": body["email"], "first_name": "",
            "last_name": "", "phone_number": None, "is_active": True,
            "channel_code": body["channel_code"], "erp_code": None, "extra_field": {},
            "modified_date": got["modified_date"], "created_date": got["created_date"],
            "date_joined": None, "email_allowed": False, "sms_allowed": False,
            "call_allowed": False, "gender": None, "attributes": {}, "user_type": None,
            "date_of_birth": None, "attributes_kwargs": {}, "localized_attributes": {},
            "localized_attributes_kwargs": {},
            "identity": self.primary_of(email=body["email"])})
        self.assertIsNotNone(got["identity"])

    def test_read_only_and_unknown_keys_ignored(self):
        other = self.create()
        before = now()
        body = self.base(pk=99999, id=99998, created_date="2001-01-01T00:00:00Z",
                         modified_date="2001-01-01T00:00:00Z", identity=other["identity"],
                         colour="red", mapping={"x": 1})
        got = self.create(**body)
        after = now()
        self.assertGreater(got["pk"], other["pk"])
        self.assertNotEqual(got["pk"], 99999)
        self.assertRecentTimestamp(got["created_date"], before, after, "created_date")
        self.assertRecentTimestamp(got["modified_date"], before, after, "modified_date")
        self.assertEqual(got["identity"], self.primary_of(email=body["email"]))
        self.assertNotEqual(got["identity"], other["identity"])
        self.assertEqual(list(got), CUSTOMER_FIELDS)
        self.assertEqual(self.fetch(got["pk"]), got)
        self.expect("GET", "%s99999/" % CUSTOMERS, None, 404, NOT_FOUND)

    def test_required_fields_reported_together(self):
        self.post_errors({}, {"email": [REQ], "channel": [REQ], "channel_code": [REQ]})
        self.post_errors({"first_name": "Only"},
                         {"email": [REQ], "channel": [REQ], "channel_code": [REQ]})
        for field in ("email", "channel", "channel_code"):
            with self.subTest(missing=field):
                body = self.base()
                del body[field]
                self.post_errors(body, {field: [REQ]})

    def test_null_refused(self):
        for field in ["email", "channel", "channel_code", "first_name", "last_name"] \
                + BOOL_FIELDS + JSON_FIELDS:
            with self.subTest(field=field):
                self.post_errors(self.base(**{field: None}), {field: [NULL]})

    def test_nullable_fields_take_null(self):
        fields = {"phone_number": None, "erp_code": None, "gender": None, "user_type": None,
                  "date_of_birth": None, "date_joined": None}
        got = self.create(**self.base(**fields))
        self.assertEqual({k: got[k] for k in fields}, fields)

    def test_blank(self):
        for field in ("email", "channel_code"):
            with self.subTest(field=field):
                self.post_errors(self.base(**{field: ""}), {field: [BLANK]})
        got = self.create(**self.base(first_name="", last_name=""))
        self.assertEqual((got["first_name"], got["last_name"]), ("", ""))

    def test_max_lengths(self):
        for field, n in (("first_name", 150), ("last_name", 150), ("erp_code", 64),
                         ("channel_code", 64)):
            with self.subTest(field=field, length=n):
                value = "x%d-" % next(_counter)
                value += "v" * (n - len(value))
                got = self.create(**self.base(**{field: value}))
                self.assertEqual(got[field], value)
                self.post_errors(self.base(**{field: value + "w"}), {field: [max_chars(n)]})

    def test_email_length(self):
        tag = "m%d" % next(_counter)
        local = tag + "a" * (64 - len(tag))
        email_254 = local + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".io"
        email_255 = local + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 59 + ".io"
        self.assertEqual((len(email_254), len(email_255)), (254, 255))
        self.assertEqual(self.create(**self.base(email=email_254))["email"], email_254)
        seq = self.last_seq()
        st, body, _, data = self.call("POST", CUSTOMERS, self.base(email=email_255))
        # DRF's EmailField(max_length=254) says the length; section 2 calls it
        # invalid: either message, nothing else.
        self.assertEqual(st, 400, data)
        self.assertEqual(list(body), ["email"], data)
        self.assertTrue(body["email"] and set(body["email"]) <= {BAD_EMAIL, max_chars(254)},
                        data)
        self.assertEqual(self.last_seq(), seq)

    def test_invalid_emails(self):
        for email in ["plainaddress", "a@", "@b.io", "a@@b.io", "a@b@c.io", "a b@c.io",
                      "a@b c.io", "a\tb@c.io", "a\u0001b@c.io", "a\nb@c.io"]:
            with self.subTest(email=email):
                self.post_errors(self.base(email=email), {"email": [BAD_EMAIL]})
        # A number is its text to DRF's EmailField (a CharField); a list or
        # an object is not a string at all.
        for email in (5, 1.5):
            with self.subTest(email=email):
                self.post_errors(self.base(email=email), {"email": [BAD_EMAIL]})
        for email in ([], {}, True):
            with self.subTest(email=email):
                self.post_errors(self.base(email=email), {"email": ["Not a valid string."]})

    def test_email_normalized(self):
        tag = uniq("Jane.Doe")
        got = self.create(**self.base(email="  %s@Example.COM " % tag))
        self.assertEqual(got["email"], "%s@example.com" % tag.lower())
        self.assertEqual(self.fetch(got["pk"])["email"], "%s@example.com" % tag.lower())

    def test_phone_normalized(self):
        n = next(_counter)
        cases = [("+90 555 %03d 55 55" % n, "+90555%03d5555" % n),
                 ("(555) %03d-4567" % n, "555%03d4567" % n),
                 ("555.%03d.4567" % (n + 1), "555%03d4567" % (n + 1)),
                 (" 0212 %03d 00 00 " % n, "0212%03d0000" % n),
                 (71000000 + n, str(71000000 + n)),
                 ("1234567890%010d" % n, "1234567890%010d" % n),
                 ("0555%07d" % n, "0555%07d" % n)]
        for sent, stored in cases:
            with self.subTest(phone=sent):
                got = self.create(**self.base(phone_number=sent))
                self.assertEqual(got["phone_number"], stored)
                self.assertEqual(self.primary_of(phone=stored), got["identity"])

    def test_phone_empty_string_is_absent(self):
        got = self.create(**self.base(phone_number=""))
        self.assertIsNone(got["phone_number"])

    def test_invalid_phones(self):
        for phone in ["abc", "12a34", "+", "++123", "1+23", "123456789012345678901", "-",
                      "()", "+ ", -5, "555 12x 4567"]:
            with self.subTest(phone=phone):
                self.post_errors(self.base(phone_number=phone), {"phone_number": [BAD_PHONE]})

    def test_booleans_in_every_spelling(self):
        fields = itertools.cycle(BOOL_FIELDS)
        for values, expected in ((TRUE_VALUES, True), (FALSE_VALUES, False)):
            for value in values:
                field = next(fields)
                with self.subTest(field=field, value=value):
                    got = self.create(**self.base(**{field: value}))
                    self.assertIs(got[field], expected)

    def test_bad_booleans(self):
        for value in ["maybe", "", "2", "yES", "tRUE", "nope", 2, -1, [], {}]:
            for field in BOOL_FIELDS:
                with self.subTest(field=field, value=value):
                    self.post_errors(self.base(**{field: value}), {field: [BAD_BOOL]})

    def test_choices(self):
        for field, good in (("gender", ["male", "female"]),
                            ("user_type", ["registered", "guest"])):
            for value in good:
                with self.subTest(field=field, value=value):
                    self.assertEqual(self.create(**self.base(**{field: value}))[field], value)
        for field, bad in (("gender", ["other", "Male", "FEMALE", ""]),
                           ("user_type", ["admin", "Guest", ""])):
            for value in bad:
                with self.subTest(field=field, value=value):
                    self.post_errors(self.base(**{field: value}), {field: [bad_choice(value)]})

    def test_channel(self):
        for value, msg in (("abc", BAD_INT), (1.5, BAD_INT), ("", BAD_INT), (0, min_value(1)),
                           (-3, min_value(1))):
            with self.subTest(channel=value):
                self.post_errors(self.base(channel=value), {"channel": [msg]})
        got = self.create(**self.base(channel=987654))
        self.assertEqual(got["channel"], 987654)

    def test_channel_as_integer_string(self):
        # DRF's IntegerField takes "5" as 5.
        got = self.create(**self.base(channel="5"))
        self.assertEqual(got["channel"], 5)
        # and drops a decimal point followed by zeros: "7.0", "7.", 7.0.
        for value in ("7.0", "7.", " 7.00 ", 7.0):
            with self.subTest(channel=value):
                self.assertEqual(self.create(**self.base(channel=value))["channel"], 7)
        for value in ("7.5", "7.05", "7.0.0", "."):
            with self.subTest(channel=value):
                self.post_errors(self.base(channel=value), {"channel": [BAD_INT]})

    def test_date_of_birth(self):
        for value in ("2001-01-01", "1999-12-31", "2000-02-29"):
            with self.subTest(date_of_birth=value):
                self.assertEqual(self.create(**self.base(date_of_birth=value))["date_of_birth"],
                                 value)
        for value in ("2001-02-30", "2001-13-01", "01/01/2001", "2001/01/01", "yesterday",
                      "2001-01-01T00:00:00Z", 20010101, "2001-01-01x"):
            with self.subTest(date_of_birth=value):
                self.post_errors(self.base(date_of_birth=value), {"date_of_birth": [BAD_DATE]})

    def test_date_joined(self):
        for sent, shown in (("2017-01-30T08:21:20.657225Z", "2017-01-30T08:21:20.657225Z"),
                            ("2017-01-30T08:21:20Z", "2017-01-30T08:21:20.000000Z"),
                            ("2017-01-30T10:21:20+02:00", "2017-01-30T08:21:20.000000Z"),
                            ("2017-01-30T03:21:20.5-05:00", "2017-01-30T08:21:20.500000Z"),
                            ("2017-01-30T08:21", "2017-01-30T08:21:00.000000Z")):
            with self.subTest(date_joined=sent):
                got = self.create(**self.base(date_joined=sent))
                self.assertEqual(got["date_joined"], shown)
                self.assertEqual(self.fetch(got["pk"])["date_joined"], shown)
        for value in ("yesterday", "2017-13-30T08:21:20Z", "30/01/2017 08:21",
                      "2017-01-30T25:00:00Z", "2017-02-30T08:00:00Z", 1485764480):
            with self.subTest(date_joined=value):
                self.post_errors(self.base(date_joined=value), {"date_joined": [BAD_DATETIME]})

    def test_json_fields_must_be_objects(self):
        for field in JSON_FIELDS:
            for value, kind in (([], "list"), ([{"a": 1}], "list"), ("x", "str"), (5, "int")):
                with self.subTest(field=field, value=value):
                    self.post_errors(self.base(**{field: value}), {field: [not_dict(kind)]})

    def test_json_fields_kept(self):
        values = {"attributes": {"logged_ip": "127.0.0.1", "nested": {"a": [1, 2.5, None]}},
                  "extra_field": {"k": "v", "n": 5, "b": True},
                  "attributes_kwargs": {"x": {}},
                  "localized_attributes": {"tr": {"name": "\u00c7i\u011fdem"}},
                  "localized_attributes_kwargs": {"en": []}}
        got = self.create(**self.base(**values))
        self.assertEqual({k: got[k] for k in values}, values)
        self.assertEqual({k: self.fetch(got["pk"])[k] for k in values}, values)

    def test_json_field_size_limit(self):
        got = self.create(**self.base(attributes={"big": "x" * 60000}))
        self.assertEqual(len(got["attributes"]["big"]), 60000)
        seq = self.last_seq()
        st, body, _, data = self.call("POST", CUSTOMERS,
                                      self.base(attributes={"big": "x" * 70000}))
        self.assertEqual(st, 400, data[:500])
        self.assertEqual(list(body), ["attributes"], data[:500])
        self.assertEqual(self.last_seq(), seq)

    def test_every_field_checked_together(self):
        body = {"email": "not-an-email", "channel": 0, "channel_code": "",
                "first_name": None, "last_name": "y" * 151, "phone_number": "abc",
                "is_active": "maybe", "erp_code": "e" * 65, "email_allowed": 7,
                "gender": "other", "user_type": "admin", "date_of_birth": "2001-13-01",
                "date_joined": "nope", "attributes": [], "extra_field": "x"}
        self.post_errors(body, {
            "email": [BAD_EMAIL], "channel": [min_value(1)], "channel_code": [BLANK],
            "first_name": [NULL], "last_name": [max_chars(150)], "phone_number": [BAD_PHONE],
            "is_active": [BAD_BOOL], "erp_code": [max_chars(64)], "email_allowed": [BAD_BOOL],
            "gender": [bad_choice("other")], "user_type": [bad_choice("admin")],
            "date_of_birth": [BAD_DATE], "date_joined": [BAD_DATETIME],
            "attributes": [not_dict("list")], "extra_field": [not_dict("str")]})

    def test_refused_create_reconciles_nothing(self):
        email = new_email()
        self.post_errors(self.base(email=email, phone_number="abc"),
                         {"phone_number": [BAD_PHONE]})
        self.assertIsNone(self.primary_of(email=email))

    def test_unique_channel_code(self):
        code = uniq("dup-")
        first = self.create(channel=1, channel_code=code)
        seq = self.last_seq()
        email = new_email()
        self.expect_errors("POST", CUSTOMERS,
                           {"email": email, "channel": 1, "channel_code": code}, UNIQUE)
        self.assertEqual(self.last_seq(), seq)
        self.assertIsNone(self.primary_of(email=email))
        other = self.create(channel=2, channel_code=code)
        page = self.listing(CUSTOMERS, qs(channel_code=code))
        self.assertEqual((page["count"], [r["pk"] for r in page["results"]]),
                         (2, [first["pk"], other["pk"]]))

    def test_body_not_an_object(self):
        for raw in (b"[]", b'[{"email": "a@b.io"}]', b'"x"', b"5", b"null"):
            with self.subTest(body=raw):
                st, body, _, data = self.call("POST", CUSTOMERS, raw=raw)
                self.assertEqual(st, 400, data)
                self.assertIsInstance(body, dict, data)
                self.assertNotIn("detail", body, data)
                self.assertTrue(body, data)

    def test_malformed_json(self):
        st, body, _, data = self.call("POST", CUSTOMERS, raw=b'{"email": "a@b.io",')
        self.assertEqual(st, 400, data)
        self.assertEqual(list(body), ["detail"], data)
        self.assertRegex(body["detail"], r"^JSON parse error - .+ at line \d+ column \d+$")

    def test_trailing_slash_optional(self):
        body = self.base()
        st, got, _, data = self.call("POST", CUSTOMERS.rstrip("/"), body)
        self.assertEqual(st, 201, data)
        self.assertEqual(got["email"], body["email"])
        self.expect("GET", "%s%d" % (CUSTOMERS, got["pk"]), None, 200, got)
        page = self.listing(CUSTOMERS.rstrip("/"), qs(email=body["email"]))
        self.assertEqual(page["results"], [got])


# ============================================================== update

class CustomerUpdateTests(Shared):

    def path(self, pk):
        return "%s%d/" % (CUSTOMERS, pk)

    def rich(self, **fields):
        body = {"email": new_email(), "channel": 3, "channel_code": uniq("code-"),
                "first_name": "Jane", "last_name": "Doe", "phone_number": new_phone(),
                "is_active": True, "erp_code": "ERP-1", "email_allowed": True,
                "sms_allowed": False, "call_allowed": True, "gender": "female",
                "user_type": "registered", "date_of_birth": "1990-05-01",
                "date_joined": "2020-01-01T10:00:00.000000Z", "attributes": {"tier": "gold"},
                "extra_field": {"src": "web"}}
        body.update(fields)
        return self.create(**body)

    def unchanged_after(self, method, pk, body, status, expected):
        """The request gets (status, expected) and the customer and store stay as they were."""
        before = self.fetch(pk)
        seq = self.last_seq()
        self.expect(method, self.path(pk), body, status, expected)
        self.assertEqual(self.fetch(pk), before)
        self.assertEqual(self.last_seq(), seq)

    def test_patch_changes_the_fields_sent(self):
        c = self.rich()
        seq = self.last_seq()
        time.sleep(0.002)
        patch = {"first_name": "Janet", "is_active": "no", "gender": "male",
                 "user_type": "guest", "attributes": {"tier": "silver", "x": 1},
                 "erp_code": None, "sms_allowed": "on", "date_of_birth": "1991-06-02"}
        st, got, _, data = self.call("PATCH", self.path(c["pk"]), patch)
        self.assertEqual(st, 200, data)
        expected = dict(c, first_name="Janet", is_active=False, gender="male",
                        user_type="guest", attributes={"tier": "silver", "x": 1},
                        erp_code=None, sms_allowed=True, date_of_birth="1991-06-02",
                        modified_date=got["modified_date"])
        self.assertEqual(got, expected)
        self.assertRegex(got["modified_date"], US_RE)
        self.assertGreater(parse_ts(got["modified_date"]), parse_ts(c["modified_date"]))
        self.assertEqual(self.fetch(c["pk"]), expected)
        self.assertKinds(seq, [("customer.updated", c["pk"])])

    def test_patch_validation_changes_nothing(self):
        c = self.rich()
        self.unchanged_after("PATCH", c["pk"],
                             {"email": "bad", "first_name": "x" * 151, "gender": "x",
                              "is_active": "maybe", "last_name": "Ok"},
                             400, {"email": [BAD_EMAIL], "first_name": [max_chars(150)],
                                   "gender": [bad_choice("x")], "is_active": [BAD_BOOL]})
        for field, value, msg in (("email", None, NULL), ("email", "", BLANK),
                                  ("channel_code", "", BLANK), ("channel_code", None, NULL),
                                  ("is_active", None, NULL), ("first_name", None, NULL),
                                  ("extra_field", [], not_dict("list")),
                                  ("phone_number", "12a", BAD_PHONE),
                                  ("date_joined", "x", BAD_DATETIME)):
            with self.subTest(field=field, value=value):
                self.unchanged_after("PATCH", c["pk"], {field: value}, 400, {field: [msg]})

    def test_patch_read_only_ignored(self):
        c = self.rich()
        other = self.create()
        st, got, _, data = self.call("PATCH", self.path(c["pk"]),
                                     {"pk": other["pk"], "created_date": "2001-01-01T00:00:00Z",
                                      "modified_date": "2001-01-01T00:00:00Z",
                                      "identity": other["identity"], "colour": "red",
                                      "last_name": "Roe"})
        self.assertEqual(st, 200, data)
        self.assertEqual(got, dict(c, last_name="Roe", modified_date=got["modified_date"]))
        self.assertNotEqual(got["modified_date"], "2001-01-01T00:00:00.000000Z")
        self.assertEqual(self.fetch(other["pk"]), other)

    def test_patch_unique_channel_code(self):
        a = self.rich(channel=4)
        b = self.rich(channel=4)
        self.unchanged_after("PATCH", b["pk"], {"channel_code": a["channel_code"]}, 400, UNIQUE)
        # Its own code is no conflict.
        st, got, _, data = self.call("PATCH", self.path(b["pk"]),
                                     {"channel_code": b["channel_code"], "first_name": "B"})
        self.assertEqual(st, 200, data)
        self.assertEqual(got["first_name"], "B")

    def test_patch_same_channel_accepted(self):
        c = self.rich()
        st, got, _, data = self.call("PATCH", self.path(c["pk"]),
                                     {"channel": c["channel"], "last_name": "Same"})
        self.assertEqual(st, 200, data)
        self.assertEqual((got["channel"], got["last_name"]), (c["channel"], "Same"))

    def test_patch_channel_change_406(self):
        c = self.rich()
        self.unchanged_after("PATCH", c["pk"], {"channel": c["channel"] + 1}, 406,
                             CHANNEL_FIXED)
        self.unchanged_after("PATCH", c["pk"], {"channel": 1, "first_name": "Changed"}, 406,
                             CHANNEL_FIXED)

    def put_body(self, c, **fields):
        body = {"email": c["email"], "channel": c["channel"], "channel_code": c["channel_code"],
                "extra_field": c["extra_field"]}
        body.update(fields)
        return body

    def test_put_channel_change_406(self):
        c = self.rich()
        self.unchanged_after("PUT", c["pk"], self.put_body(c, channel=c["channel"] + 1), 406,
                             CHANNEL_FIXED)
        self.unchanged_after("PUT", c["pk"],
                             self.put_body(c, channel=1, email=new_email(), first_name="X"),
                             406, CHANNEL_FIXED)

    def test_put_required_fields(self):
        c = self.rich()
        self.unchanged_after("PUT", c["pk"], {}, 400,
                             {"email": [REQ], "channel": [REQ], "channel_code": [REQ],
                              "extra_field": [REQ]})
        # Seed 004's example: the body without email, channel and channel_code's partners.
        self.unchanged_after("PUT", c["pk"], {"email": c["email"], "is_active": True,
                                              "email_allowed": False, "sms_allowed": False,
                                              "user_type": "registered"},
                             400, {"extra_field": [REQ], "channel": [REQ],
                                   "channel_code": [REQ]})
        for field in ("email", "channel", "channel_code", "extra_field"):
            with self.subTest(missing=field):
                body = self.put_body(c, first_name="Never")
                del body[field]
                self.unchanged_after("PUT", c["pk"], body, 400, {field: [REQ]})

    def test_put_leaves_unsent_fields_unchanged(self):
        c = self.rich()
        seq = self.last_seq()
        email = new_email("put")
        body = {"email": email, "channel": c["channel"], "channel_code": c["channel_code"],
                "is_active": False, "extra_field": {"changed": True}}
        st, got, _, data = self.call("PUT", self.path(c["pk"]), body)
        self.assertEqual(st, 200, data)
        expected = dict(c, email=email, is_active=False, extra_field={"changed": True},
                        modified_date=got["modified_date"])
        self.assertEqual(got, expected)
        self.assertEqual(self.fetch(c["pk"]), expected)
        self.assertKinds(seq, [("customer.updated", c["pk"])])
        # The new email is reconciled into the customer's identity (linked by its phone).
        self.assertEqual(self.primary_of(email=email), c["identity"])

    def test_put_validation(self):
        c = self.rich()
        self.unchanged_after("PUT", c["pk"],
                             self.put_body(c, email="x@", extra_field=[], gender="x"), 400,
                             {"email": [BAD_EMAIL], "extra_field": [not_dict("list")],
                              "gender": [bad_choice("x")]})
        other = self.rich(channel=c["channel"])
        self.unchanged_after("PUT", c["pk"],
                             self.put_body(c, channel_code=other["channel_code"]), 400, UNIQUE)

    def test_unknown_pk_404(self):
        for method, body in (("PATCH", {"first_name": "x"}),
                             ("PUT", {"email": "a@b.io", "channel": 1, "channel_code": "x",
                                      "extra_field": {}}),
                             ("DELETE", None), ("GET", None)):
            for pk in ("999999", "abc", "0", "-1", "1.5", "1e3", "0x1"):
                with self.subTest(method=method, pk=pk):
                    self.expect(method, CUSTOMERS + pk + "/", body, 404, NOT_FOUND)
        # The record is looked up before the body is read, as DRF does: a bad
        # body does not hide that there is nothing to change.
        for method in ("PATCH", "PUT"):
            for raw in (b"{bad json", b"[]", b""):
                with self.subTest(method=method, raw=raw):
                    self.expect(method, CUSTOMERS + "999999/", None, 404, NOT_FOUND, raw=raw,
                                headers={"Content-Type": "application/json"})
        st, _, _, data = self.call("GET", CUSTOMERS + "?limit=1")
        self.assertEqual(st, 200, data)


# ============================================================== delete

class CustomerDeleteTests(Shared):

    def test_delete_204_then_404(self):
        c = self.create(first_name="Gone")
        seq = self.last_seq()
        path = "%s%d/" % (CUSTOMERS, c["pk"])
        st, body, _, data = self.call("DELETE", path)
        self.assertEqual((st, data), (204, b""))
        self.assertKinds(seq, [("customer.deleted", c["pk"])])
        self.expect("GET", path, None, 404, NOT_FOUND)
        self.expect("DELETE", path, None, 404, NOT_FOUND)
        self.expect("PATCH", path, {"first_name": "x"}, 404, NOT_FOUND)
        page = self.listing(CUSTOMERS, qs(pk=c["pk"]))
        self.assertEqual((page["count"], page["results"]), (0, []))
        # pks are never reused; the (channel, channel_code) is free again.
        again = self.create(channel=c["channel"], channel_code=c["channel_code"])
        self.assertGreater(again["pk"], c["pk"])

    def test_delete_without_slash(self):
        c = self.create()
        st, _, _, data = self.call("DELETE", "%s%d" % (CUSTOMERS, c["pk"]))
        self.assertEqual((st, data), (204, b""))
        self.expect("GET", "%s%d" % (CUSTOMERS, c["pk"]), None, 404, NOT_FOUND)

    def test_delete_refused_while_an_order_refers(self):
        o = self.order()
        pk = o["customer"]
        c = self.fetch(pk)
        seq = self.last_seq()
        self.expect("DELETE", "%s%d/" % (CUSTOMERS, pk), None, 409, in_use(pk))
        self.assertEqual(self.last_seq(), seq)
        self.assertEqual(self.fetch(pk), c)
        self.assertEqual(self.fetch(o["pk"], ORDERS)["customer"], pk)

    def test_delete_refused_for_a_customer_created_before_its_order(self):
        c = self.create(channel=6)
        o = self.order(channel=6, customer={"email": c["email"],
                                            "channel_code": c["channel_code"]})
        self.assertEqual(o["customer"], c["pk"])
        self.expect("DELETE", "%s%d/" % (CUSTOMERS, c["pk"]), None, 409, in_use(c["pk"]))


# ============================================================== routes

class CustomerRoutingTests(Shared):

    @classmethod
    def populate(cls):
        cls.c = cls.create()

    def test_wrong_methods_405_with_allow(self):
        detail = "%s%d/" % (CUSTOMERS, self.c["pk"])
        for path in (detail, detail.rstrip("/")):
            with self.subTest(path=path):
                hdrs = self.expect("POST", path, {"email": "a@b.io"}, 405,
                                   method_not_allowed("POST"))
                allow = allow_set(hdrs)
                self.assertTrue({"GET", "PUT", "PATCH", "DELETE"} <= allow, hdrs)
                self.assertNotIn("POST", allow, hdrs)
        for path in (CUSTOMERS, CUSTOMERS.rstrip("/")):
            for method in ("PUT", "PATCH", "DELETE"):
                with self.subTest(path=path, method=method):
                    hdrs = self.expect(method, path, {"email": "a@b.io"}
                                       if method != "DELETE" else None, 405,
                                       method_not_allowed(method))
                    allow = allow_set(hdrs)
                    self.assertTrue({"GET", "POST"} <= allow, hdrs)
                    self.assertNotIn(method, allow, hdrs)
        self.assertEqual(self.fetch(self.c["pk"]), self.c)

    def test_detail_with_and_without_slash(self):
        for path in ("%s%d/" % (CUSTOMERS, self.c["pk"]), "%s%d" % (CUSTOMERS, self.c["pk"])):
            with self.subTest(path=path):
                self.expect("GET", path, None, 200, self.c)

    def test_unknown_paths_under_customers(self):
        self.expect("GET", "%s%d/nothing/" % (CUSTOMERS, self.c["pk"]), None, 404, NOT_FOUND)
        self.expect("GET", "/api/v1/customerz/", None, 404, NOT_FOUND)


# ============================================================== reconciliation

class ReconciliationTests(Shared):

    def test_identity_search_reads_its_query_as_a_form(self):
        email = new_email("search")
        c = self.create(email=email, phone_number=new_phone())
        local, domain = email.split("@")
        st, plain, _, _ = self.call("GET", "/api/v1/identities/?email=%s%%40%s" % (local, domain))
        self.assertEqual(st, 200, plain)
        self.assertEqual(plain["customers"][0]["pk"], c["pk"])
        # names are decoded as values are
        st, encoded, _, _ = self.call("GET", "/api/v1/identities/?e%%6Dail=%s%%40%s"
                                      % (local, domain))
        self.assertEqual((st, encoded), (200, plain))
        self.expect("GET", "/api/v1/identities/?email=%s%%00%%40%s" % (local, domain), None,
                    400, {"email": ["Enter a valid email address."]})
        self.expect("GET", "/api/v1/identities/?colour=red", None, 400,
                    {"detail": 'Unknown query parameter "colour".'})
        # An empty value is no value, and the last value of a name counts.
        required = {"detail": "email or phone_number is required"}
        self.expect("GET", "/api/v1/identities/?email=", None, 400, required)
        self.expect("GET", "/api/v1/identities/?email=&phone_number=", None, 400, required)
        self.expect("GET", "/api/v1/identities/?email=%s%%40%s&email=" % (local, domain), None,
                    400, required)
        st, last, _, _ = self.call("GET", "/api/v1/identities/?email=bad&email=%s%%40%s"
                                   % (local, domain))
        self.assertEqual((st, last), (200, plain))
        st, by_phone, _, _ = self.call("GET", "/api/v1/identities/?email=&phone_number=%s"
                                       % urllib.parse.quote(c["phone_number"]))
        self.assertEqual((st, by_phone), (200, plain))

    def test_create_links_customers_in_the_contact_graph(self):
        ea, eb, phone = new_email("ra"), new_email("rb"), new_phone()
        a = self.create(email=ea, phone_number=phone, channel=1)
        p = self.primary_of(email=ea)
        self.assertIsNotNone(p)
        self.assertEqual(a["identity"], p)
        self.assertEqual(self.primary_of(phone=phone), p)
        b = self.create(email=eb, phone_number=phone, channel=2)
        self.assertEqual(b["identity"], p)
        self.assertEqual(self.primary_of(email=eb), p)
        self.assertEqual(self.fetch(a["pk"])["identity"], p)
        contact = self.identity_body(p)
        self.assertEqual((contact["primaryContactId"], contact["emails"],
                          contact["phoneNumbers"], len(contact["secondaryContactIds"])),
                         (p, [ea, eb], [phone], 1))

    def test_known_email_and_phone_create_no_contact(self):
        email, phone = new_email(), new_phone()
        a = self.create(email=email, phone_number=phone, channel=1)
        seq = self.last_seq()
        b = self.create(email=email, phone_number=phone, channel=2)
        kinds = [c["kind"] for c in self.srv.changes_since(seq)]
        self.assertIn("customer.created", kinds)
        self.assertNotIn("contact.created", kinds)
        self.assertNotIn("identity.merged", kinds)
        self.assertEqual(b["identity"], a["identity"])

    def test_identity_follows_a_later_merge(self):
        ea, pa = new_email("older"), new_phone()
        ec, pc = new_email("newer"), new_phone()
        a = self.create(email=ea, phone_number=pa)
        c = self.create(email=ec, phone_number=pc, channel=2)
        self.assertNotEqual(a["identity"], c["identity"])
        # A request that carries C's email and A's phone merges C into A (older).
        merged = self.srv.identify({"email": ec, "phoneNumber": pa})
        self.assertEqual(merged["contact"]["primaryContactId"], a["identity"])
        self.assertEqual(self.fetch(c["pk"])["identity"], a["identity"])
        self.assertEqual(self.fetch(a["pk"])["identity"], a["identity"])
        page = self.listing(CUSTOMERS, qs(identity=a["identity"], limit=100))
        self.assertEqual([r["pk"] for r in page["results"]], [a["pk"], c["pk"]])
        self.assertEqual([r["identity"] for r in page["results"]], [a["identity"]] * 2)

    def test_customer_merging_two_identities(self):
        ea, pa = new_email(), new_phone()
        eb, pb = new_email(), new_phone()
        a = self.create(email=ea, phone_number=pa)
        b = self.create(email=eb, phone_number=pb)
        c = self.create(email=ea, phone_number=pb, channel=9)
        self.assertEqual(c["identity"], a["identity"])
        self.assertEqual(self.fetch(b["pk"])["identity"], a["identity"])

    def test_patch_email_is_reconciled(self):
        e1, phone = new_email(), new_phone()
        c = self.create(email=e1, phone_number=phone)
        e2 = new_email("changed")
        st, got, _, data = self.call("PATCH", "%s%d/" % (CUSTOMERS, c["pk"]), {"email": e2})
        self.assertEqual(st, 200, data)
        self.assertEqual((got["email"], got["identity"]), (e2, c["identity"]))
        self.assertEqual(self.primary_of(email=e2), c["identity"])
        contact = self.identity_body(c["identity"])
        self.assertEqual((contact["emails"], contact["phoneNumbers"]), ([e1, e2], [phone]))

    def test_patch_phone_is_reconciled(self):
        c = self.create()
        phone = new_phone()
        st, got, _, data = self.call("PATCH", "%s%d/" % (CUSTOMERS, c["pk"]),
                                     {"phone_number": phone})
        self.assertEqual(st, 200, data)
        self.assertEqual(got["phone_number"], phone)
        self.assertEqual(self.primary_of(phone=phone), c["identity"])

    def test_patch_email_into_another_identity(self):
        other = self.create()
        c = self.create()
        self.assertNotEqual(c["identity"], other["identity"])
        st, got, _, data = self.call("PATCH", "%s%d/" % (CUSTOMERS, c["pk"]),
                                     {"email": other["email"]})
        self.assertEqual(st, 200, data)
        self.assertEqual(got["identity"], other["identity"])

    def test_identity_filter(self):
        email, phone = new_email(), new_phone()
        a = self.create(email=email, channel=1)
        b = self.create(email=new_email(), phone_number=phone, channel=2)
        self.create()  # another identity
        c = self.create(email=email, phone_number=phone, channel=3)  # joins a and b
        ident = a["identity"]
        self.assertEqual(c["identity"], ident)
        page = self.listing(CUSTOMERS, qs(identity=ident))
        self.assertEqual((page["count"], [r["pk"] for r in page["results"]]),
                         (3, [a["pk"], b["pk"], c["pk"]]))
        page = self.listing(CUSTOMERS, qs(identity=ident, channel=2))
        self.assertEqual([r["pk"] for r in page["results"]], [b["pk"]])
        page = self.listing(CUSTOMERS, qs(identity=99999999))
        self.assertEqual(page, {"count": 0, "next": None, "previous": None, "results": []})

    def test_identity_when_the_contact_holding_the_email_goes(self):
        """A customer keeps the contact that held its email; once that contact
        is deleted, its identity is the phone's holder's, as a lookup says,
        in its own answer, in lists and in the identity filter."""
        email, phone = new_email("gone"), new_phone()
        c = self.create(email=email, phone_number=phone)
        held_by = c["identity"]
        # A second contact holds the phone only (and an email of its own).
        other = self.srv.identify({"email": new_email("other"), "phoneNumber": phone})
        self.assertEqual(other["contact"]["primaryContactId"], held_by)
        st, _, _, data = self.call("DELETE", "/contacts/%d" % held_by)
        self.assertEqual(st, 200, data)
        self.assertIsNone(self.primary_of(email=email))
        now_primary = self.primary_of(phone=phone)
        self.assertIsNotNone(now_primary)
        self.assertNotEqual(now_primary, held_by)
        self.assertEqual(self.fetch(c["pk"])["identity"], now_primary)
        page = self.listing(CUSTOMERS, qs(email=email))
        self.assertEqual([r["identity"] for r in page["results"]], [now_primary])
        page = self.listing(CUSTOMERS, qs(identity=now_primary))
        self.assertEqual([r["pk"] for r in page["results"]], [c["pk"]])
        # Without a phone, nothing holds the customer's values: null.
        lone = self.create(email=new_email("lone"))
        st, _, _, data = self.call("DELETE", "/contacts/%d" % lone["identity"])
        self.assertEqual(st, 200, data)
        self.assertIsNone(self.fetch(lone["pk"])["identity"])
        # A new email is reconciled again, and kept again.
        email2 = new_email("back")
        st, got, _, data = self.call("PATCH", "%s%d/" % (CUSTOMERS, lone["pk"]), {"email": email2})
        self.assertEqual(st, 200, data)
        self.assertEqual(got["identity"], self.primary_of(email=email2))
        self.assertIsNotNone(got["identity"])

    def test_emails_past_the_key_limit_stay_apart(self):
        """Emails of more than 511 bytes (180 three-byte characters) share the
        store's cut index key: each customer's identity, the identity filter,
        the identity view and email lookups still compare the whole value."""
        stem = "\u3044" * 180
        made = [self.create(email="%s%s@y.io" % (stem, uniq("k")), channel=12)
                for _ in range(3)]
        self.assertEqual(len({c["identity"] for c in made}), 3)
        for c in made:
            page = self.listing(CUSTOMERS, qs(identity=c["identity"]))
            self.assertEqual([r["pk"] for r in page["results"]], [c["pk"]])
            st, view, _, data = self.call("GET", "/api/v1/identities/%d/" % c["identity"])
            self.assertEqual(st, 200, data[:300])
            self.assertEqual([r["pk"] for r in view["customers"]], [c["pk"]])
            page = self.listing(CUSTOMERS, qs(email=c["email"]))
            self.assertEqual([r["pk"] for r in page["results"]], [c["pk"]])
        # A prefix longer than the key limit finds them all, and only them.
        prefix = stem + "x"  # 541 bytes
        self.assertEqual(self.listing(CUSTOMERS, qs(email__startswith=prefix))["count"], 0)
        page = self.listing(CUSTOMERS, qs(email__startswith=stem[:171], limit=10))
        self.assertEqual(sorted(r["pk"] for r in page["results"]),
                         sorted(c["pk"] for c in made))
        page = self.listing(CUSTOMERS, qs(email__startswith=made[1]["email"][:200]))
        self.assertEqual([r["pk"] for r in page["results"]], [made[1]["pk"]])

    def test_kept_contact_is_never_shown(self):
        """The contact a customer keeps is the server's own: no key in its JSON,
        no filter, no ordering, no export column, not in the OpenAPI schema."""
        c = self.create(phone_number=new_phone())
        got = self.fetch(c["pk"])
        self.assertNotIn("contact", got)
        self.assertEqual(set(got), set(c))
        self.expect("GET", CUSTOMERS + "?contact=%d" % c["identity"], None, 400,
                    unknown_param("contact"))
        self.expect("GET", CUSTOMERS + "?ordering=contact", None, 400,
                    unknown_ordering("contact"))
        st, _, _, data = self.call("GET", CUSTOMERS + "export/?format=csv&pk=%d" % c["pk"])
        self.assertEqual(st, 200, data[:300])
        header = data.decode("utf-8").lstrip("\ufeff").splitlines()[0].split(",")
        self.assertNotIn("contact", header)
        self.assertIn("identity", header)
        st, doc, _, data = self.call("GET", "/openapi.json")
        self.assertEqual(st, 200, data[:300])
        schemas = doc["components"]["schemas"]
        for name in ("Customer", "CustomerCreate", "CustomerUpdate", "CustomerPatch"):
            self.assertIn("channel_code", schemas[name]["properties"], name)
            self.assertNotIn("contact", schemas[name]["properties"], name)
        # A client sending it changes nothing.
        st, got, _, data = self.call("PATCH", "%s%d/" % (CUSTOMERS, c["pk"]),
                                     {"contact": 1, "first_name": "Kept"})
        self.assertEqual(st, 200, data)
        self.assertEqual((got["first_name"], got["identity"]), ("Kept", c["identity"]))
        self.assertNotIn("contact", got)


# ============================================================== paging

class ListPagingTests(Shared):

    N = 25

    @classmethod
    def populate(cls):
        cls.rows = [cls.create(email="p%02d-%d@list.test" % (i, next(_counter)), channel=7 + i % 2)
                    for i in range(cls.N)]
        cls.pks = [r["pk"] for r in cls.rows]

    def host(self):
        return "127.0.0.1:%d" % self.srv.port

    def assertLink(self, link, params, host=None, path=CUSTOMERS, page_one_may_go=False):
        self.assertIsNotNone(link)
        u = urllib.parse.urlsplit(link)
        self.assertEqual((u.scheme, u.netloc, u.path), ("http", host or self.host(), path), link)
        got = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if page_one_may_go and got.get("page") == ["1"]:
            del got["page"]
        self.assertEqual(got, params, link)

    def follow(self, link):
        u = urllib.parse.urlsplit(link)
        return self.listing(u.path, u.query)

    def test_default_page(self):
        page = self.listing(CUSTOMERS, "")
        self.assertEqual((page["count"], page["previous"], page["results"]),
                         (self.N, None, self.rows[:10]))
        self.assertLink(page["next"], {"page": ["2"]})
        self.assertEqual(list(page), ["count", "next", "previous", "results"])

    def test_walk_every_page(self):
        seen = []
        page = self.listing(CUSTOMERS, qs(limit=7))
        pages = 1
        while True:
            self.assertEqual(page["count"], self.N)
            seen += [r["pk"] for r in page["results"]]
            if page["next"] is None:
                break
            page = self.follow(page["next"])
            pages += 1
        self.assertEqual((pages, seen), (4, self.pks))
        self.assertEqual(len(page["results"]), 4)
        self.assertLink(page["previous"], {"limit": ["7"], "page": ["3"]})

    def test_links_keep_every_parameter_and_use_host(self):
        host = "shop.example:8443"
        query = qs(("channel", "7"), ("channel", "8"), ("limit", "5"), ("ordering", "-pk"),
                   ("email__startswith", "p"), ("page", "2"))
        page = self.listing(CUSTOMERS, query, headers={"Host": host})
        keep = {"channel": ["7", "8"], "limit": ["5"], "ordering": ["-pk"],
                "email__startswith": ["p"]}
        self.assertEqual([r["pk"] for r in page["results"]], list(reversed(self.pks))[5:10])
        self.assertLink(page["next"], dict(keep, page=["3"]), host=host)
        self.assertLink(page["previous"], keep, host=host, page_one_may_go=True)

    def test_previous_of_page_two(self):
        page = self.listing(CUSTOMERS, qs(page=2))
        self.assertEqual(page["results"], self.rows[10:20])
        self.assertLink(page["previous"], {}, page_one_may_go=True)
        self.assertLink(page["next"], {"page": ["3"]})

    def test_links_without_trailing_slash(self):
        page = self.listing(CUSTOMERS.rstrip("/"), qs(limit=20))
        self.assertEqual(page["results"], self.rows[:20])
        u = urllib.parse.urlsplit(page["next"])
        self.assertIn(u.path, (CUSTOMERS, CUSTOMERS.rstrip("/")))
        self.assertEqual(urllib.parse.parse_qs(u.query), {"limit": ["20"], "page": ["2"]})

    def test_last_page(self):
        page = self.listing(CUSTOMERS, qs(page=3))
        self.assertEqual((page["count"], page["next"], page["results"]),
                         (self.N, None, self.rows[20:]))
        self.assertLink(page["previous"], {"page": ["2"]})

    def test_page_past_the_end(self):
        for query in (qs(page=4), qs(page=26, limit=1), qs(page=2, limit=25),
                      qs(page=2, limit=1000)):
            with self.subTest(query=query):
                self.expect("GET", CUSTOMERS + "?" + query, None, 404, INVALID_PAGE)

    def test_page_not_a_positive_integer(self):
        for value in ("0", "-1", "abc", "1.5", "1e1", "two"):
            with self.subTest(page=value):
                self.expect("GET", CUSTOMERS + "?" + qs(page=value), None, 404, INVALID_PAGE)

    def test_limit(self):
        page = self.listing(CUSTOMERS, qs(limit=3))
        self.assertEqual(page["results"], self.rows[:3])
        self.assertLink(page["next"], {"limit": ["3"], "page": ["2"]})
        page = self.listing(CUSTOMERS, qs(limit=100))
        self.assertEqual((page["results"], page["next"]), (self.rows, None))

    def test_bad_limit_ignored(self):
        for value in ("abc", "0", "-5", "2.5", ""):
            with self.subTest(limit=value):
                page = self.listing(CUSTOMERS, qs(limit=value))
                self.assertEqual((page["count"], page["results"]), (self.N, self.rows[:10]))
                self.assertIsNotNone(page["next"])
                u = urllib.parse.urlsplit(page["next"])
                self.assertEqual(urllib.parse.parse_qs(u.query).get("page"), ["2"])

    def test_empty_list(self):
        query = qs(email="nobody@list.test")
        self.assertEqual(self.listing(CUSTOMERS, query),
                         {"count": 0, "next": None, "previous": None, "results": []})
        self.assertEqual(self.listing(CUSTOMERS, query + "&page=1"),
                         {"count": 0, "next": None, "previous": None, "results": []})
        self.expect("GET", CUSTOMERS + "?" + query + "&page=2", None, 404, INVALID_PAGE)


class LimitCapTests(Shared):
    """More than 1000 customers: limit above 1000 is read as 1000."""

    N = 1001

    @classmethod
    def populate(cls):
        def make(t):
            pks = []
            for i in range(t, cls.N, 8):
                st, _, body = cls.srv.request(
                    "POST", CUSTOMERS, {"email": "cap%d@cap.test" % i, "channel": 1,
                                        "channel_code": "cap%d" % i})[0:3]
                if st != 201:
                    raise AssertionError("create %d -> %d %r" % (i, st, body))
                pks.append(body["pk"])
            return pks
        cls.pks = sorted(pk for part in harness.run_threads(make, 8, timeout=120)
                         for pk in part)

    def test_limit_over_1000_is_1000(self):
        for value in ("1001", "5000", "1000000"):
            with self.subTest(limit=value):
                page = self.listing(CUSTOMERS, qs(limit=value))
                self.assertEqual(page["count"], self.N)
                self.assertEqual([r["pk"] for r in page["results"]], self.pks[:1000])
                self.assertIsNotNone(page["next"])
                last = self.listing(CUSTOMERS, qs(limit=value, page=2))
                self.assertEqual(([r["pk"] for r in last["results"]], last["next"]),
                                 (self.pks[1000:], None))
                self.expect("GET", CUSTOMERS + "?" + qs(limit=value, page=3), None, 404,
                            INVALID_PAGE)

    def test_limit_1000_and_999(self):
        page = self.listing(CUSTOMERS, qs(limit=1000))
        self.assertEqual(len(page["results"]), 1000)
        page = self.listing(CUSTOMERS, qs(limit=999, page=2))
        self.assertEqual([r["pk"] for r in page["results"]], self.pks[999:])


# ============================================================== filters

FILTER_ROWS = [
    dict(channel=1, email="ann@alpha.test", channel_code="A-1", first_name="Ann",
         last_name="Lee", phone_number="+905551110001", is_active=True, erp_code="E-1",
         email_allowed=True, sms_allowed=False, call_allowed=True, gender="female",
         user_type="registered", date_of_birth="1990-05-01",
         date_joined="2020-01-01T10:00:00Z", attributes={"tier": "gold", "n": 5},
         extra_field={"src": "web"}),
    dict(channel=2, email="bob@beta.test", channel_code="A-1", first_name="Bob",
         last_name="Lee", phone_number="+905551110001", is_active=False, erp_code=None,
         email_allowed=False, sms_allowed=True, call_allowed=False, gender="male",
         user_type="guest", date_of_birth="1985-12-31", date_joined="2020-01-01T23:59:59Z",
         attributes={"tier": "silver"}, extra_field={"src": "app"}),
    dict(channel=3, email="ann.b@alpha.test", channel_code="C-3", first_name="Ann",
         last_name="Berg", phone_number=None, is_active=True, erp_code="E-2",
         email_allowed=True, sms_allowed=True, call_allowed=False, gender=None,
         user_type=None, date_of_birth=None, date_joined="2020-01-02T00:00:00Z",
         attributes={"n": "5"}, extra_field={}),
    dict(channel=1, email="carl@gamma.test", channel_code="C-4", first_name="Carl",
         last_name="", phone_number="5552223333", is_active=False, erp_code="E-1",
         email_allowed=False, sms_allowed=False, call_allowed=True, gender="male",
         user_type="registered", date_of_birth="1990-05-01", date_joined=None,
         attributes={"tier": "gold"}, extra_field={"src": "web", "campaign": "x1"}),
    dict(channel=2, email="dora@delta.test", channel_code="D-5", first_name="Dora",
         last_name="Lee", phone_number="5554445555", is_active=True, erp_code="E-3",
         email_allowed=True, sms_allowed=False, call_allowed=False, gender="female",
         user_type="guest", date_of_birth="2000-02-29", date_joined="2021-06-15T12:30:00Z",
         attributes={}, extra_field={"src": "store"}),
    dict(channel=4, email="zed@omega.test", channel_code="Z-6", first_name="Zed",
         last_name="Ng", phone_number="+905551110001", is_active=True, erp_code=None,
         email_allowed=False, sms_allowed=True, call_allowed=True, gender=None,
         user_type="registered", date_of_birth="1970-01-01", date_joined=None,
         attributes={"tier": "bronze"}, extra_field={"src": "web"}),
    dict(channel=1, email="eve@epsilon.test", channel_code="E-7", first_name="Eve",
         last_name="Stone", phone_number=None, is_active=True, erp_code="E-4",
         email_allowed=False, sms_allowed=False, call_allowed=False, gender="female",
         user_type=None, date_of_birth=None, date_joined="2019-12-31T23:00:00-02:00",
         attributes={"tier": "gold"}, extra_field={}),
    dict(channel=3, email="bea@beta.test", channel_code="B-8", first_name="Bea",
         last_name="Berg", phone_number="5550009999", is_active=False, erp_code="E-5",
         email_allowed=True, sms_allowed=True, call_allowed=True, gender="female",
         user_type="registered", date_of_birth="1985-12-31", date_joined=None,
         attributes={"n": 6}, extra_field={"campaign": "x2"}),
]
PATCHED = 2  # its modified_date is the newest


class CustomerFilterTests(Shared):

    @classmethod
    def populate(cls):
        created = [cls.create(**row) for row in FILTER_ROWS]
        st, _, _, data = cls.call("PATCH", "%s%d/" % (CUSTOMERS, created[PATCHED]["pk"]),
                                  {"attributes": {"n": "5", "patched": "yes"}})
        if st != 200:
            raise AssertionError("PATCH -> %d %s" % (st, data))
        cls.records = [cls.fetch(c["pk"]) for c in created]
        cls.pks = [r["pk"] for r in cls.records]

    def pks_of(self, *indexes):
        return [self.pks[i] for i in sorted(indexes)]

    def expect_filter(self, query, expected, allow_empty=False, allow_all=False):
        """query selects exactly the records whose indexes (or predicate) are given."""
        if callable(expected):
            expected = [r["pk"] for r in self.records if expected(r)]
        else:
            expected = self.pks_of(*expected)
        if not allow_empty:
            self.assertTrue(expected, "test data: %s selects nothing" % query)
        if not allow_all:
            self.assertNotEqual(len(expected), len(self.records),
                                "test data: %s selects everything" % query)
        page = self.listing(CUSTOMERS, query + "&limit=1000")
        by_pk = {r["pk"]: r for r in self.records}
        self.assertEqual((page["count"], [r["pk"] for r in page["results"]]),
                         (len(expected), expected), "GET %s?%s" % (CUSTOMERS, query))
        self.assertEqual(page["results"], [by_pk[pk] for pk in expected])

    def ts(self, i, field="created_date"):
        return parse_ts(self.records[i][field])

    def test_pk_and_id(self):
        p = self.pks
        for name in ("pk", "id"):
            with self.subTest(name=name):
                self.expect_filter(qs(**{name: p[3]}), [3])
                self.expect_filter(qs(**{name + "__gt": p[5]}), [6, 7])
                self.expect_filter(qs(**{name + "__gte": p[5]}), [5, 6, 7])
                self.expect_filter(qs(**{name + "__lt": p[2]}), [0, 1])
                self.expect_filter(qs(**{name + "__lte": p[2]}), [0, 1, 2])
                self.expect_filter(qs(**{name + "__in": "%d,%d,%d" % (p[6], p[1], p[4])}),
                                   [1, 4, 6])
                self.expect_filter(qs(**{name + "__in": "%d,99999" % p[0]}), [0])
                # white space around a number is dropped, as Django's fields do
                self.expect_filter(qs(**{name + "__in": "%d, %d " % (p[6], p[1])}), [1, 6])
                self.expect_filter(qs(**{name: " %d" % p[3]}), [3])
                self.expect_filter(qs(**{name + "__gt": p[2], name + "__lte": p[4]}), [3, 4])
                self.expect_filter(qs(**{name: 99999}), [], allow_empty=True)

    def test_email(self):
        self.expect_filter(qs(email="carl@gamma.test"), [3])
        self.expect_filter(qs(email__startswith="ann"), [0, 2])
        self.expect_filter(qs(email__startswith="b"), [1, 7])
        self.expect_filter(qs(email="nobody@gamma.test"), [], allow_empty=True)

    def test_phone_number(self):
        self.expect_filter(qs(phone_number="+905551110001"), [0, 1, 5])
        self.expect_filter(qs(phone_number="5552223333"), [3])

    def test_channel_repeated_is_or(self):
        self.expect_filter(qs(channel=1), [0, 3, 6])
        self.expect_filter(qs(("channel", 1), ("channel", 3)), [0, 2, 3, 6, 7])
        self.expect_filter(qs(("channel", 2), ("channel", 4), ("channel", 99)), [1, 4, 5])

    def test_channel_code(self):
        self.expect_filter(qs(channel_code="A-1"), [0, 1])
        self.expect_filter(qs(channel_code="A-1", channel=2), [1])
        self.expect_filter(qs(channel_code="D-5"), [4])

    def test_created_date(self):
        day = self.ts(0).date()
        self.assertTrue(all(self.ts(i).date() == day for i in range(len(self.records))),
                        "the records span midnight; rerun")
        d = day.isoformat()
        d_next = (day + datetime.timedelta(days=1)).isoformat()
        d_prev = (day - datetime.timedelta(days=1)).isoformat()
        every = dict(allow_all=True)
        none = dict(allow_empty=True)
        k = 4
        at = self.records[k]["created_date"]
        plus3 = (self.ts(k) + datetime.timedelta(hours=3)).strftime(
            "%Y-%m-%dT%H:%M:%S.%f") + "+03:00"
        for name in ("created_date", "modified_date"):
            with self.subTest(name=name):
                self.expect_filter(qs(**{name: d}), lambda r: True, **every)
                self.expect_filter(qs(**{name: d_prev}), [], **none)
                self.expect_filter(qs(**{name + "__date": d}), lambda r: True, **every)
                self.expect_filter(qs(**{name + "__date": d_next}), [], **none)
                self.expect_filter(qs(**{name + "__gte": d}), lambda r: True, **every)
                self.expect_filter(qs(**{name + "__gt": d}), lambda r: True, **every)
                self.expect_filter(qs(**{name + "__lt": d}), [], **none)
                self.expect_filter(qs(**{name + "__lte": d}), [], **none)
                self.expect_filter(qs(**{name + "__lt": d_next}), lambda r: True, **every)
                self.expect_filter(qs(**{name + "__gte": d_next}), [], **none)
        # Datetimes: record k's own instant, written as the API writes it and with an offset.
        self.expect_filter(qs(created_date=at), [k])
        self.expect_filter(qs(created_date=plus3), [k])
        t = self.ts(k)
        self.expect_filter(qs(created_date__gt=at), lambda r: parse_ts(r["created_date"]) > t)
        self.expect_filter(qs(created_date__gte=at),
                           lambda r: parse_ts(r["created_date"]) >= t)
        self.expect_filter(qs(created_date__lt=at), lambda r: parse_ts(r["created_date"]) < t)
        self.expect_filter(qs(created_date__lte=plus3),
                           lambda r: parse_ts(r["created_date"]) <= t)
        lo, hi = self.records[2]["created_date"], self.records[5]["created_date"]
        self.expect_filter(qs(created_date__gte=lo, created_date__lt=hi), [2, 3, 4])

    def test_modified_date(self):
        last_created = max(self.ts(i, "modified_date") for i in range(len(self.records))
                           if i != PATCHED)
        self.assertGreater(self.ts(PATCHED, "modified_date"), last_created)
        self.expect_filter(qs(modified_date__gt=us(last_created)), [PATCHED])
        self.expect_filter(qs(modified_date__lte=us(last_created)),
                           [i for i in range(len(self.records)) if i != PATCHED])
        m = self.records[PATCHED]["modified_date"]
        self.expect_filter(qs(modified_date=m), [PATCHED])
        self.expect_filter(qs(modified_date__gte=m), [PATCHED])
        self.expect_filter(qs(modified_date__lt=m),
                           [i for i in range(len(self.records)) if i != PATCHED])

    def test_names_and_erp_code(self):
        self.expect_filter(qs(first_name="Ann"), [0, 2])
        self.expect_filter(qs(last_name="Lee"), [0, 1, 4])
        self.expect_filter(qs(last_name="Berg", first_name="Bea"), [7])
        self.expect_filter(qs(erp_code="E-1"), [0, 3])
        self.expect_filter(qs(first_name="ann"), [], allow_empty=True)

    def test_booleans(self):
        for field in BOOL_FIELDS:
            for value, truth in (("true", True), ("1", True), ("false", False), ("0", False)):
                with self.subTest(field=field, value=value):
                    self.expect_filter(qs(**{field: value}),
                                       lambda r, f=field, t=truth: r[f] is t)

    def test_choices(self):
        self.expect_filter(qs(gender="female"), [0, 4, 6, 7])
        self.expect_filter(qs(gender="male"), [1, 3])
        self.expect_filter(qs(user_type="guest"), [1, 4])
        self.expect_filter(qs(user_type="registered"), [0, 3, 5, 7])

    def test_date_of_birth(self):
        self.expect_filter(qs(date_of_birth="1990-05-01"), [0, 3])
        self.expect_filter(qs(date_of_birth="2000-02-29"), [4])

    def test_date_joined(self):
        self.expect_filter(qs(date_joined="2020-01-01T10:00:00Z"), [0])
        self.expect_filter(qs(date_joined="2020-01-01T13:00:00+03:00"), [0])
        self.expect_filter(qs(date_joined="2020-01-01T10:00:00.000000Z"), [0])
        # A date means that whole UTC day: 6 joined at 2020-01-01T01:00Z.
        self.expect_filter(qs(date_joined="2020-01-01"), [0, 1, 6])
        self.expect_filter(qs(date_joined="2020-01-02"), [2])

    def test_json_keys(self):
        self.expect_filter(qs(attributes__tier="gold"), [0, 3, 6])
        self.expect_filter(qs(attributes__n="5"), [0, 2])  # 5 and "5": compared as text
        self.expect_filter(qs(attributes__patched="yes"), [PATCHED])
        self.expect_filter(qs(extra_field__src="web"), [0, 3, 5])
        self.expect_filter(qs(extra_field__campaign="x1"), [3])
        self.expect_filter(qs(attributes__tier="platinum"), [], allow_empty=True)
        self.expect_filter(qs(attributes__tier="gold", extra_field__src="web"), [0, 3])

    def test_identity(self):
        ident = self.records[0]["identity"]
        self.assertIsNotNone(ident)
        self.expect_filter(qs(identity=ident), [0, 1, 5])
        self.expect_filter(qs(identity=self.records[3]["identity"]), [3])

    def test_filters_combine_with_and(self):
        self.expect_filter(qs(channel=1, is_active="true", gender="female"), [0, 6])
        self.expect_filter(qs(("channel", 1), ("channel", 2), ("last_name", "Lee")), [0, 1, 4])
        self.expect_filter(qs(email__startswith="ann", channel=3), [2])
        self.expect_filter(qs(attributes__tier="gold", is_active="false", erp_code="E-1"), [3])
        self.expect_filter(qs(pk__gte=self.pks[1], gender="female", sms_allowed="true"), [7])
        self.expect_filter(qs(channel=1, gender="male", user_type="guest"), [],
                           allow_empty=True)

    def test_ordering(self):
        def order(field, reverse=False, key=None):
            key = key or (lambda r: r[field])
            return [r["pk"] for r in sorted(self.records, key=key, reverse=reverse)]
        cases = {
            "pk": order("pk"), "-pk": order("pk", True),
            "created_date": order(None, key=lambda r: parse_ts(r["created_date"])),
            "-created_date": order(None, True, key=lambda r: parse_ts(r["created_date"])),
            "modified_date": order(None, key=lambda r: parse_ts(r["modified_date"])),
            "-modified_date": order(None, True, key=lambda r: parse_ts(r["modified_date"])),
            "email": order("email"), "-email": order("email", True),
        }
        self.assertNotEqual(cases["email"], cases["pk"])
        self.assertNotEqual(cases["modified_date"], cases["pk"])
        for value, expected in cases.items():
            with self.subTest(ordering=value):
                page = self.listing(CUSTOMERS, qs(ordering=value, limit=1000))
                self.assertEqual([r["pk"] for r in page["results"]], expected)
        page = self.listing(CUSTOMERS, qs(ordering="-email", limit=3, page=2))
        self.assertEqual([r["pk"] for r in page["results"]], cases["-email"][3:6])
        page = self.listing(CUSTOMERS, qs(ordering="email", gender="female"))
        self.assertEqual([r["pk"] for r in page["results"]],
                         [pk for pk in cases["email"] if pk in self.pks_of(0, 4, 6, 7)])

    def test_ordering_not_offered(self):
        for value in ("colour", "first_name", "channel", "amount", "identity"):
            with self.subTest(ordering=value):
                self.expect("GET", CUSTOMERS + "?" + qs(ordering=value), None, 400,
                            unknown_ordering(value))

    def test_unknown_parameters(self):
        for name in ("colour", "email__contains", "first_name__startswith", "pk__isnull",
                     "gender__in", "identity__gt", "created_date__year", "number"):
            with self.subTest(param=name):
                self.expect("GET", CUSTOMERS + "?" + qs(**{name: "x"}), None, 400,
                            unknown_param(name))
        # An empty value filters nothing, but an unknown name is still a typo.
        for query, name in (("colour=", "colour"), ("colour", "colour"),
                            ("email__contains=", "email__contains"), ("=x", ""), ("=", "")):
            with self.subTest(query=query):
                self.expect("GET", CUSTOMERS + "?" + query, None, 400, unknown_param(name))
        with self.subTest("a NUL in a name"):
            self.expect("GET", CUSTOMERS + "?email%00=1", None, 400,
                        {"detail": 'Unknown query parameter "email" followed by a null '
                                   'character.'})
        for query in ("email=", "first_name=&", "&&", "pk__in="):
            with self.subTest(known_empty=query):
                st, _, body, _ = self.srv.request("GET", CUSTOMERS + "?" + query)
                self.assertEqual(st, 200, body)

    def test_bad_filter_values(self):
        cases = [
            ("pk", "abc", [F_NUMBER]), ("id", "1x", [F_NUMBER]), ("pk__gt", "x", [F_NUMBER]),
            ("id__lte", "1.5.2", [F_NUMBER]), ("pk__in", "1,x", [F_NUMBER]),
            ("pk__in", "a,b,c", [F_NUMBER]),
            ("identity", "abc", [F_NUMBER]),
            ("created_date", "yesterday", [F_DATETIME]),
            ("created_date__gte", "2021-13-01", [F_DATETIME]),
            ("created_date__lt", "2021-01-01T25:00:00Z", [F_DATETIME]),
            ("modified_date__gt", "soon", [F_DATETIME]),
            ("modified_date__lte", "01/01/2021", [F_DATETIME]),
            ("date_joined", "x", [F_DATETIME]),
            ("date_of_birth", "2001-02-30", [F_DATE]),
            ("date_of_birth", "01/01/2001", [F_DATE]),
            ("is_active", "maybe", [f_choice("maybe")]),
            ("email_allowed", "2", [f_choice("2")]),
            ("sms_allowed", "nope", [f_choice("nope")]),
            ("call_allowed", "x", [f_choice("x")]),
            ("gender", "other", [f_choice("other")]),
            ("user_type", "admin", [f_choice("admin")]),
        ]
        for name, value, msgs in cases:
            with self.subTest(param=name, value=value):
                self.expect("GET", CUSTOMERS + "?" + qs(**{name: value}), None, 400,
                            {name: msgs})
        for name in ("created_date__date", "modified_date__date"):
            with self.subTest(param=name):
                st, body, _, data = self.call("GET", CUSTOMERS + "?" + qs(**{name: "nope"}))
                self.assertEqual(st, 400, data)
                self.assertIn(body, ({name: [F_DATE]}, {name: [F_DATETIME]}), data)
        st, body, _, data = self.call("GET", CUSTOMERS + "?" + qs(channel="abc"))
        self.assertEqual(st, 400, data)
        self.assertIn(body, ({"channel": [F_NUMBER]}, {"channel": [f_choice("abc")]}), data)

    def test_bad_filter_values_reported_together(self):
        self.expect("GET", CUSTOMERS + "?" + qs(pk="x", gender="other",
                                                created_date__gte="never"), None, 400,
                    {"pk": [F_NUMBER], "gender": [f_choice("other")],
                     "created_date__gte": [F_DATETIME]})


# ============================================================== concurrency

class ConcurrencyTests(Shared):

    def test_twenty_concurrent_creates_of_one_channel_code(self):
        code = uniq("race-")
        emails = [new_email("racer") for _ in range(20)]

        def create(i):
            return self.call("POST", CUSTOMERS,
                             {"email": emails[i], "channel": 5, "channel_code": code})[:2]
        results = harness.run_threads(create, 20)
        winners = [i for i, (st, _) in enumerate(results) if st == 201]
        self.assertEqual(len(winners), 1, [st for st, _ in results])
        for i, (st, body) in enumerate(results):
            if i != winners[0]:
                self.assertEqual((st, body), (400, UNIQUE))
        winner = results[winners[0]][1]
        page = self.listing(CUSTOMERS, qs(channel=5, channel_code=code))
        self.assertEqual(page["results"], [winner])
        # The refused requests changed nothing: their emails are unknown.
        for i, email in enumerate(emails):
            with self.subTest(email=email):
                if i == winners[0]:
                    self.assertEqual(self.primary_of(email=email), winner["identity"])
                else:
                    self.assertIsNone(self.primary_of(email=email))

    def test_concurrent_creates_get_distinct_increasing_pks(self):
        first = self.create()

        def create(i):
            return self.call("POST", CUSTOMERS, {"email": new_email("par"), "channel": 6,
                                                 "channel_code": "par-%d" % i})[:2]
        results = harness.run_threads(create, 20)
        self.assertEqual([st for st, _ in results], [201] * 20)
        pks = [b["pk"] for _, b in results]
        self.assertEqual(len(set(pks)), 20)
        self.assertGreater(min(pks), first["pk"])
        page = self.listing(CUSTOMERS, qs(channel=6, limit=100))
        self.assertEqual([r["pk"] for r in page["results"]], sorted(pks))


if __name__ == "__main__":
    unittest.main()
