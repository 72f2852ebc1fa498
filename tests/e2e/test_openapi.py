"""SPEC section 11: GET /openapi.json is an OpenAPI 3.1 document of every
route, and it lists the same routes as the router.

- The document is checked by a real OpenAPI 3.1 validator, npm's
  @seriousme/openapi-schema-validator (its validate-api CLI under node), which
  `make test` installs into build/npm (make npm-deps).
- Its routes are compared with the router's tables, read from the sources
  (http.c's and http_seed.c's route tables, the collections' descriptions),
  both ways; and with the server itself: every documented operation is
  called and must be served (never 404 Not found. or 405), its status must be
  one the document lists and its JSON body must match the schema the
  document gives; every documented path answers the methods it does not list
  with 405 and an Allow header naming exactly the documented ones; paths the
  router could serve but the document lacks answer 404.
- Each collection's documented filters are accepted by its list, and every
  filter its list accepts is documented.

Python standard library, node and the validator only.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

SRC = os.path.normpath(os.path.join(HERE, "..", "..", "src"))
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
LOOKUPS = ("", "__exact", "__startswith", "__gt", "__gte", "__lt", "__lte", "__date", "__in",
           "__isnull", "__colour")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------- the validator

def validator_cli():
    """The validate-api CLI of the npm package: IDLINK_NPM, else npm/ beside
    the idlinkd under test, else build/npm."""
    candidates = [os.environ.get("IDLINK_NPM"),
                  os.path.join(os.path.dirname(harness.idlinkd_path()), "npm"),
                  os.path.join(harness.BUILD, "npm")]
    for npm in filter(None, candidates):
        cli = os.path.join(npm, "node_modules", "@seriousme", "openapi-schema-validator",
                           "bin", "validate-api-cli.js")
        if os.path.exists(cli):
            return cli
    return None


# ---------------------------------------------------------------- the router's tables

def read(name):
    with open(os.path.join(SRC, name), encoding="utf-8") as f:
        return f.read()


def table_block(text, start):
    """The text of the C initializer that begins at the first match of start."""
    i = text.index(start)
    return text[i:text.index("};", i)]


def routes_from_sources():
    """{(METHOD, path as the document writes it)} of every route the router
    serves, read from its tables: http.c's routes[], http_seed.c's routes[],
    and each collection of resources.c with the ops, actions and delete_by
    of its description (the import routes are SPEC section 9's)."""
    routes = set()
    block = table_block(read("http.c"), "static const struct idl_route routes[] = {")
    for m in re.finditer(r'\{"([A-Z]+)",\s*"([^"]+)",\s*idl_handle_\w+\}', block):
        routes.add((m.group(1), m.group(2)))
    block = table_block(read("http_seed.c"), "} routes[] = {")
    for m in re.finditer(r'\{"([A-Z]+)",\s*"[^"]*",\s*"([^"]+)",\s*\w+(?:,\s*\w+)?\}', block):
        routes.add((m.group(1), m.group(2)))
    names = re.findall(r"&idl_(\w+),", read("resources.c"))
    sources = "".join(read(f) for f in sorted(os.listdir(SRC))
                      if f.startswith("res_") and f.endswith(".c"))
    for var in names:
        block = table_block(sources, "const struct idl_resource idl_%s = {" % var)
        name = re.search(r'\.name = "(\w+)"', block).group(1)
        ops = re.search(r"\.ops = ([^,]+),", block).group(1)
        base = "/api/v1/%s/" % name
        has = lambda op: ("IDL_OP_" + op) in ops  # noqa: E731
        if has("LIST"):
            routes.add(("GET", base))
        if has("CREATE"):
            routes.add(("POST", base))
        if has("EXPORT"):
            routes.add(("GET", base + "export/"))
        if has("RETRIEVE"):
            routes.add(("GET", base + "{pk}/"))
        if has("UPDATE"):
            routes.update({("PUT", base + "{pk}/"), ("PATCH", base + "{pk}/")})
        if has("DELETE"):
            routes.add(("DELETE", base + "{pk}/"))
        if re.search(r'\.delete_by = "\w+"', block):
            routes.add(("DELETE", base))
        actions = re.search(r"\.actions = (\w+),", block)
        if actions:
            var_block = table_block(sources, "idl_action %s[] = {" % actions.group(1))
            for a in re.findall(r'(?:\.name = |\{)"(\w+)"', var_block):
                routes.add(("POST", base + "{pk}/%s/" % a))
        if name in ("customers", "products"):
            routes.add(("POST", base + "import/"))
    return routes


# ---------------------------------------------------------------- JSON schemas

def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def type_ok(value, t):
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[t])


def schema_errors(doc, schema, value, where="$"):
    """What is wrong with value against schema: the JSON Schema keywords the
    document uses; an object whose schema lists properties may hold no other
    key unless additionalProperties says so."""
    if "$ref" in schema:
        return schema_errors(doc, resolve(doc, schema["$ref"]), value, where)
    errors = []
    if "anyOf" in schema and all(schema_errors(doc, s, value, where) for s in schema["anyOf"]):
        errors.append("%s: %r matches none of anyOf" % (where, value))
    if "oneOf" in schema and sum(not schema_errors(doc, s, value, where)
                                 for s in schema["oneOf"]) != 1:
        errors.append("%s: %r does not match exactly one of oneOf" % (where, value))
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(type_ok(value, t) for t in types):
            return errors + ["%s: %r is not of type %s" % (where, value, types)]
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %r" % (where, value, schema["enum"]))
    if "const" in schema and value != schema["const"]:
        errors.append("%s: %r is not %r" % (where, value, schema["const"]))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append("%s: longer than %d" % (where, schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append("%s: shorter than %d" % (where, schema["minLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
        fmt = schema.get("format")
        if fmt == "date" and not DATE_RE.match(value):
            errors.append("%s: %r is not a date" % (where, value))
        if fmt == "date-time" and not DATETIME_RE.match(value):
            errors.append("%s: %r is not a date-time" % (where, value))
        if fmt == "email" and value.count("@") != 1:
            errors.append("%s: %r is not an email" % (where, value))
    if type_ok(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %r below %r" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %r above %r" % (where, value, schema["maximum"]))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append("%s: more than %d items" % (where, schema["maxItems"]))
        for i, item in enumerate(value):
            if "items" in schema:
                errors += schema_errors(doc, schema["items"], item, "%s[%d]" % (where, i))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append("%s: %r is missing" % (where, key))
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            errors.append("%s: fewer than %d keys" % (where, schema["minProperties"]))
        extra = schema.get("additionalProperties", not props)
        for key, item in value.items():
            if key in props:
                errors += schema_errors(doc, props[key], item, "%s.%s" % (where, key))
            elif extra is False:
                errors.append("%s: %r is not documented" % (where, key))
            elif isinstance(extra, dict):
                errors += schema_errors(doc, extra, item, "%s.%s" % (where, key))
    return errors


def walk_refs(node, found):
    if isinstance(node, dict):
        if "$ref" in node:
            found.add(node["$ref"])
        for v in node.values():
            walk_refs(v, found)
    elif isinstance(node, list):
        for v in node:
            walk_refs(v, found)
    return found


def plausible(schema, doc, ids):
    """A query value the parameter's schema allows."""
    if "$ref" in schema:
        return plausible(resolve(doc, schema["$ref"]), doc, ids)
    if "default" in schema and not isinstance(schema["default"], bool):
        return str(schema["default"])
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "array":
        one = plausible(schema["items"], doc, ids)
        return "%s,%s" % (one, one)
    if schema.get("type") == "integer":
        return str(ids.get("integer", 1))
    if schema.get("type") == "boolean":
        return "true"
    if schema.get("format") == "date" or "anyOf" in schema:
        return "2024-01-02"
    return "x"


# ---------------------------------------------------------------- the tests

class OpenApiTests(harness.ServerTestCase):

    def setUp(self):
        super().setUp()
        st, headers, self.doc, raw = self.srv.request("GET", "/openapi.json")
        self.assertEqual(st, 200, raw[:300])
        self.assertJsonResponse(headers, raw)
        self.assertIsInstance(self.doc, dict, raw[:300])
        self.raw = raw

    # ---- helpers

    def operations(self):
        """{(METHOD, path): operation} of the document."""
        ops = {}
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                if method != "parameters":
                    ops[(method.upper(), path)] = op
        return ops

    def call(self, method, path, body=None, query=None, raw=None, headers=None):
        url = path + ("?" + query if query else "")
        return self.srv.request(method, url, body=body, raw=raw, headers=headers)

    def ok(self, method, path, body=None, status=(200, 201)):
        st, _, answer, raw = self.srv.request(method, path, body)
        self.assertIn(st, status, "%s %s %r -> %d %r" % (method, path, body, st, raw))
        return answer

    def fixtures(self):
        """Records of every collection, and a spare of each for the deletes
        and the erasure. Returns the ids the documented paths are called with."""
        ids = {}
        first = self.ok("POST", "/identify", {"email": "ann@x.io", "phoneNumber": "111222"})
        ids["contact"] = first["contact"]["primaryContactId"]
        spare = self.ok("POST", "/identify", {"email": "spare@x.io"})
        ids["contact_spare"] = spare["contact"]["primaryContactId"]
        self.ok("POST", "/identify", {"email": "erase@x.io"})

        def customer(code, email):
            return self.ok("POST", "/api/v1/customers/", {"email": email, "channel": 2,
                                                          "channel_code": code})["pk"]
        ids["customers"] = customer("c1", "ann@x.io")
        ids["customers_spare"] = customer("c2", "spare2@x.io")
        ids["orders"] = self.ok("POST", "/api/v1/orders/", {
            "channel": 2, "number": "MP-1", "amount": "10.50", "currency": "TRY",
            "customer": {"email": "ann@x.io", "channel_code": "c1"}})["pk"]
        product = {"name": "Kettle", "price": "19.90", "purchased": "2024-01-02",
                   "warranty": 24, "customer": ids["customers"]}
        ids["products"] = self.ok("POST", "/api/v1/products/", product)["pk"]
        ids["products_spare"] = self.ok("POST", "/api/v1/products/", product)["pk"]
        ids["products_seed_spare"] = self.ok("POST", "/api/v1/products/", product)["pk"]
        ids["customers_bulk"] = customer("c3", "bulk@x.io")
        self.ok("POST", "/api/v1/products/", dict(product, customer=ids["customers_bulk"]))
        feedback = {"kind": "product", "customer": ids["customers"],
                    "product": ids["products"], "heading": "Good", "body": "Works."}
        ids["feedback"] = self.ok("POST", "/api/v1/feedback/", feedback)["pk"]
        ids["feedback_spare"] = self.ok("POST", "/api/v1/feedback/", feedback)["pk"]
        ids["tickets"] = self.ok("POST", "/api/v1/tickets/", {"customer": ids["customers"],
                                                              "request": "Help"})["pk"]
        seed = {"name": "Bo Li", "address": "Main St", "email": "bo@x.io", "status": "new"}
        ids["seed_customer"] = self.ok("POST", "/api/add/customer", seed)["id"]
        seed.update(email="spare3@x.io")
        ids["seed_customer_spare"] = self.ok("POST", "/api/add/customer", seed)["id"]
        ids["seed_product"] = self.ok("POST", "/api/add/product", {
            "name": "Fan", "price": "9.00", "purchased": "2024-02-03", "warranty": 12,
            "customerid": ids["seed_customer"]})["id"]
        ids["seed_ticket"] = self.ok("POST", "/api/open/customer/request", {
            "customerid": ids["seed_customer"], "request": "Broken"})["id"]
        return ids

    def concrete(self, method, path, ids):
        """path with its {id} or {pk} filled with a record that exists (a
        spare one for a DELETE)."""
        m = re.match(r"^/api/v1/(\w+)/\{pk\}/", path)
        key = m.group(1) if m else "contact"
        if method == "DELETE" and key + "_spare" in ids:
            key += "_spare"
        return path.replace("{pk}", str(ids[key])).replace("{id}", str(ids[key]))

    def requests(self, ids):
        """(query, JSON body or multipart) that make each operation succeed,
        by operationId. Operations not here are called with an empty object."""
        csv_customers = b"Jo Ek,jo@x.io,Elm St,555 01,1,0,0,active\n"
        csv_products = b"Lamp,12.50,2024-03-04,6\n"
        c, p = ids["customers"], ids["products"]
        sc = ids["seed_customer"]
        return {
            "identify": (None, {"email": "bea@x.io", "phoneNumber": "111222"}),
            "contacts_create": (None, {"email": "cy@x.io"}),
            "contacts_lookup": (None, {"email": "ann@x.io"}),
            "erasure": (None, {"email": "erase@x.io"}),
            "identities_find": ("email=ann%40x.io", None),
            "upload_customers": (None, ("file", "c.csv", csv_customers)),
            "upload_products": (None, ("file", "p.csv", csv_products)),
            "customers_create": (None, {"email": "dee@x.io", "channel": 3, "channel_code": "d"}),
            "customers_update": (None, {"email": "ann@x.io", "channel": 2, "channel_code": "c1",
                                        "extra_field": {"a": 1}}),
            "customers_partial_update": (None, {"first_name": "Ann"}),
            "customers_import": (None, ("file", "c.csv", csv_customers)),
            "orders_create": (None, {"channel": 2, "number": "MP-2", "amount": 5,
                                     "currency": "EUR", "customer": {"email": "eve@x.io"}}),
            "products_create": (None, {"name": "Mug", "price": "3", "purchased": "2024-01-01",
                                       "warranty": 0, "customer": None}),
            "products_update": (None, {"warranty": 36}),
            "products_partial_update": (None, {"customer": None}),
            "products_destroy_by_customer": ("customer=%d" % ids["customers_bulk"], None),
            "products_import": (None, ("file", "p.csv", csv_products)),
            "feedback_create": (None, {"kind": "brand", "customer": c, "product": None,
                                       "heading": "Hi", "body": "Nice brand."}),
            "tickets_create": (None, {"customer": c, "request": "Call me"}),
            "tickets_close": (None, {"resolved": True, "resolution": "Called."}),
            "seed_add_customer": (None, {"name": "Al", "address": "A", "email": "al@x.io",
                                         "status": "s"}),
            "seed_get_customer": ("id=%d" % sc, None),
            "seed_delete_customer": ("id=%d" % ids["seed_customer_spare"], None),
            "seed_update_customer": (None, {"id": sc, "status": "vip"}),
            "seed_add_product": (None, {"name": "Cup", "price": "1.00", "purchased": "2024-01-01",
                                        "warranty": 1, "customerid": sc}),
            "seed_get_product": ("id=%d" % ids["seed_product"], None),
            "seed_delete_product": (None, {"id": ids["products_seed_spare"]}),
            "seed_update_product": (None, {"id": ids["seed_product"], "warranty": 3}),
            "seed_add_brand_feedback": (None, {"customerid": sc, "heading": "H", "body": "B"}),
            "seed_add_product_feedback": (None, {"customerid": sc, "productid": p,
                                                 "heading": "H", "body": "B"}),
            "seed_get_brand_feedback": ("customerid=%d" % sc, None),
            "seed_get_product_feedback": ("customerid=%d" % sc, None),
            "seed_open_ticket": (None, {"customerid": sc, "request": "R"}),
            "seed_close_ticket": (None, {"id": ids["seed_ticket"], "resolved": False,
                                         "resolution": "No."}),
            "seed_get_ticket": ("id=%d" % ids["seed_ticket"], None),
        }

    def send(self, method, url, query, body):
        if isinstance(body, tuple):  # a multipart form with one file
            boundary = "idlink-" + uuid.uuid4().hex
            name, filename, data = body
            raw = (("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename))
                   .encode() + data + ("\r\n--%s--\r\n" % boundary).encode())
            return self.call(method, url, query=query, raw=raw, headers={
                "Content-Type": "multipart/form-data; boundary=" + boundary})
        if method in ("POST", "PUT", "PATCH"):
            return self.call(method, url, query=query, body=body if body is not None else {})
        return self.call(method, url, query=query)

    def assertAnswerDocumented(self, doc_op, what, st, headers, answer, raw):
        responses = doc_op["responses"]
        self.assertIn(str(st), responses, "%s answered %d, which the document does not list "
                      "(%s): %r" % (what, st, sorted(responses), raw[:300]))
        response = responses[str(st)]
        if "$ref" in response:
            response = resolve(self.doc, response["$ref"])
        content = response.get("content", {})
        if not content:
            self.assertEqual(raw, b"", "%s: %d has no documented body" % (what, st))
            return
        ctype = headers.get("content-type", "").split(";")[0].strip()
        self.assertIn(ctype, content, "%s: %d answered %s, documented %s"
                      % (what, st, ctype, sorted(content)))
        if ctype == "application/json":
            errors = schema_errors(self.doc, content[ctype]["schema"], answer)
            self.assertEqual(errors, [], "%s: %d body %r" % (what, st, raw[:600]))

    # ---- the document itself

    def test_validates_as_openapi_3_1(self):
        cli = validator_cli()
        node = shutil.which("node") or shutil.which("nodejs")
        self.assertIsNotNone(cli, "the npm validator is not installed: run `make npm-deps` "
                             "(npm install --prefix build/npm @seriousme/openapi-schema-validator"
                             "@2.11.0)")
        self.assertIsNotNone(node, "node is not installed (Debian's nodejs)")
        with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
            f.write(self.raw)
        self.addCleanup(os.unlink, f.name)
        p = subprocess.run([node, cli, f.name], capture_output=True, timeout=120)
        out = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "validator: %s %s" % (out, p.stderr.decode()))
        self.assertEqual(json.loads(out), {"valid": True}, out)
        self.assertEqual(self.doc["openapi"], "3.1.0")

    def test_references_parameters_and_security(self):
        for ref in sorted(walk_refs(self.doc, set())):
            try:
                resolve(self.doc, ref)
            except (KeyError, AssertionError):
                self.fail("unresolved $ref %s" % ref)
        ids = [op["operationId"] for op in self.operations().values()]
        self.assertEqual(len(ids), len(set(ids)), "operationIds repeat")
        schemes = self.doc["components"]["securitySchemes"]
        self.assertEqual(schemes["tokenAuth"], dict(schemes["tokenAuth"], type="apiKey",
                                                   **{"in": "header", "name": "Authorization"}))
        for (method, path), op in self.operations().items():
            declared = {p["name"] for p in self.doc["paths"][path].get("parameters", [])
                        if p["in"] == "path"}
            self.assertEqual(declared, set(re.findall(r"\{(\w+)\}", path)), path)
            if path in ("/healthz", "/console/"):
                self.assertEqual(op["security"], [], path)
                self.assertNotIn("401", op["responses"], path)
            else:
                self.assertEqual(len(op["security"]), 1, path)
                self.assertIn(op["security"][0]["tokenAuth"], (["read"], ["write"], ["admin"]))
                self.assertIn("401", op["responses"], (method, path))
        roles = {(m, p): op["security"][0]["tokenAuth"][0]
                 for (m, p), op in self.operations().items() if op["security"]}
        self.assertEqual(roles[("POST", "/erasure")], "admin")
        self.assertEqual(roles[("POST", "/api/identify/")], "read")
        self.assertEqual(roles[("POST", "/identify")], "write")
        self.assertEqual(roles[("GET", "/api/v1/customers/")], "read")
        # The shapes of SPEC section 7.
        page = self.doc["components"]["schemas"]["CustomerPage"]
        self.assertEqual(set(page["required"]), {"count", "next", "previous", "results"})
        create = self.doc["components"]["schemas"]["CustomerCreate"]
        self.assertEqual(set(create["required"]), {"channel", "email", "channel_code"})
        self.assertEqual(create["properties"]["gender"]["enum"], ["male", "female", None])
        self.assertEqual(create["properties"]["email"]["format"], "email")
        self.assertNotIn("pk", create["properties"])
        self.assertEqual(self.doc["components"]["schemas"]["ProductCreate"]["properties"]
                         ["warranty"], {"type": "integer", "minimum": 0, "maximum": 600})
        self.assertEqual(self.doc["components"]["schemas"]["Order"]["properties"]["amount"]
                         ["type"], "string")
        form = self.doc["paths"]["/api/v1/customers/import/"]["post"]["requestBody"]
        self.assertIn("multipart/form-data", form["content"])

    # ---- the document and the router list the same routes

    def test_same_routes_as_the_router_tables(self):
        tables = routes_from_sources()
        documented = set(self.operations())
        self.assertGreater(len(tables), 40)
        self.assertEqual(sorted(tables - documented), [], "routes the document lacks")
        self.assertEqual(sorted(documented - tables), [], "documented routes no table holds")

    def test_every_documented_operation_is_served_as_documented(self):
        ids = self.fixtures()
        requests = self.requests(ids)
        ops = self.operations()
        # The deletes and the erasure last: they remove what others use.
        order = sorted(ops, key=lambda k: (k[0] == "DELETE" or ops[k]["operationId"] in
                                           ("erasure", "seed_delete_customer",
                                            "seed_delete_product"), k[1], k[0]))
        for method, path in order:
            op = ops[(method, path)]
            url = self.concrete(method, path, ids)
            query, body = requests.get(op["operationId"], (None, None))
            for p in op.get("parameters", []):  # required query parameters
                if p["in"] == "query" and p.get("required") and not query:
                    query = "%s=%s" % (p["name"], ids["customers_spare"])
            st, headers, answer, raw = self.send(method, url, query, body)
            what = "%s %s (%s)" % (method, url, op["operationId"])
            self.assertNotEqual(st, 405, "%s: %r" % (what, raw[:200]))
            self.assertFalse(st == 404 and answer == harness.NOT_FOUND,
                             "%s: the router does not know it" % what)
            self.assertAnswerDocumented(op, what, st, headers, answer, raw)
            if op["operationId"] in requests or method == "GET":
                self.assertLess(st, 300, "%s: %r" % (what, raw[:300]))

    def test_other_methods_answer_405_with_the_documented_allow(self):
        ids = self.fixtures()
        for path, item in self.doc["paths"].items():
            documented = {m.upper() for m in item if m != "parameters"}
            other = [m for m in METHODS if m not in documented]
            url = self.concrete("GET", path, ids)
            for method in other[:2]:
                st, headers, answer, raw = self.call(method, url)
                self.assertEqual(st, 405, "%s %s: %r" % (method, url, raw[:200]))
                self.assertEqual(answer, {"detail": 'Method "%s" not allowed.' % method})
                allow = {m.strip() for m in headers.get("allow", "").split(",")} - {"HEAD"}
                self.assertEqual(allow, documented, "%s: Allow %r" % (path, headers.get("allow")))

    def test_paths_the_document_lacks_are_not_served(self):
        ids = self.fixtures()
        template = lambda p: re.sub(r"\{\w+\}", "{}", p)  # noqa: E731
        documented = {template(p) for p in self.doc["paths"]}
        candidates = {"/api/v1/bridges/", "/api/v1/bridges/{pk}/", "/api/v1/contacts/",
                      "/api/v1/identities/{id}/explain/", "/api/get/feedback",
                      "/api/identities/", "/upload/orders", "/openapi.yaml", "/contacts/",
                      "/identities/{id}/explain/more"}
        collections = {m.group(1) for p in self.doc["paths"]
                       for m in [re.match(r"^/api/v1/(\w+)/", p)] if m}
        for c in collections:
            for tail in ("", "{pk}/", "export/", "import/", "{pk}/close/", "{pk}/open/",
                         "{pk}/export/"):
                candidates.add("/api/v1/%s/%s" % (c, tail))
        probed = 0
        for path in sorted(candidates):
            if template(path) in documented:
                continue
            probed += 1
            url = path.replace("{pk}", str(ids["customers"])).replace("{id}", str(ids["contact"]))
            for method in METHODS:
                st, _, answer, raw = self.call(method, url)
                self.assertEqual((st, answer), (404, harness.NOT_FOUND),
                                 "%s %s is served but not documented: %r" % (method, url,
                                                                             raw[:200]))
        self.assertGreater(probed, 20)

    # ---- filters

    def list_operations(self):
        """(path, operation, is an export) of every documented paged list and
        export."""
        for path, item in self.doc["paths"].items():
            op = item.get("get")
            names = {p["name"] for p in (op or {}).get("parameters", [])}
            if op and ("page" in names or "format" in names) and "{" not in path:
                yield path, op, "format" in names

    def test_documented_filters_are_accepted(self):
        ids = self.fixtures()
        lists = list(self.list_operations())
        self.assertGreaterEqual(len(lists), 11)
        for path, op, export in lists:
            for p in op["parameters"]:
                name = p["name"].replace("{key}", "colour")
                value = plausible(p["schema"], self.doc, {"integer": ids["customers"]})
                query = "%s=%s" % (name, value) + ("&format=csv" if export and
                                                   name != "format" else "")
                st, _, answer, raw = self.call("GET", path, query=query)
                self.assertEqual(st, 200, "GET %s?%s: %r" % (path, query, raw[:300]))
            ordering = [p for p in op["parameters"] if p["name"] == "ordering"]
            for value in (ordering[0]["schema"]["enum"] if ordering else []):
                st, _, _, raw = self.call("GET", path, query="ordering=" + value)
                self.assertEqual(st, 200, "GET %s?ordering=%s: %r" % (path, value, raw[:300]))

    def test_every_accepted_filter_is_documented(self):
        self.fixtures()
        for path, op, export in self.list_operations():
            documented = [re.compile("^%s$" % re.escape(p["name"]).replace(r"\{key\}", ".+"))
                          for p in op["parameters"]]
            if export:  # the fields of the list it exports
                list_op = self.doc["paths"][path[:-len("export/")]]["get"]
            else:
                list_op = op
            page = resolve(self.doc, list_op["responses"]["200"]["content"]
                           ["application/json"]["schema"]["$ref"])
            fields = set(resolve(self.doc, page["properties"]["results"]["items"]["$ref"])
                         ["properties"])
            fields |= {"id", "pk", "colour", "page_size", "offset", "search", "format"}
            for field in sorted(fields):
                for lookup in LOOKUPS:
                    name = field + lookup
                    query = name + "=zz" + ("&format=csv" if export and name != "format"
                                            else "")
                    st, _, answer, raw = self.call("GET", path, query=query)
                    unknown = (st == 400 and isinstance(answer, dict) and
                               answer.get("detail", "").startswith("Unknown query parameter"))
                    is_documented = any(d.match(name) for d in documented)
                    reserved = name in ("page", "limit", "ordering")
                    self.assertEqual(not unknown, is_documented or reserved,
                                     "GET %s?%s -> %d %r (documented: %s)"
                                     % (path, query, st, raw[:200], is_documented))


if __name__ == "__main__":
    unittest.main()
