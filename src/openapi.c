/* GET /openapi.json (SPEC section 11): an OpenAPI 3.1 document of every
 * route, built at run time from what the router itself reads, so that the
 * two cannot drift apart:
 *  - every collection of idl_resources that offers routes: its paths from
 *    its ops, actions, delete_by and import support, as http_resource.c
 *    serves them; its list filters from each field's lookups, named as
 *    filter.c parses them; its record, create, update and page schemas from
 *    its field table;
 *  - the route tables of http.c and http_seed.c, read in place: each route
 *    they hold is an operation of the document. Its bodies and answers come
 *    from route_docs below, keyed by method and path; a route without an
 *    entry is still listed, with the answers any route may give.
 *
 * Schema fragments are written as JSON text in which ' stands for ", so
 * that they read as JSON; they hold no apostrophe of their own. */
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_internal.h"
#include "http_internal.h"
#include "idlink/contact.h"
#include "idlink/log.h"
#include "import_internal.h"
#include "openapi_internal.h"

#define SCHEMAS "#/components/schemas/"
#define RESPONSES "#/components/responses/"
#define XLSX "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#define JSON_FIELD_MAX_CHARS 65536 /* record_json.c's bound on a JSON field */

/* ------------------------------------------------------------- fragments */

/* A JSON fragment of this file ('-quoted): a new reference. The fragments
 * are constant text, so one that does not parse is a programmer's error. */
static json_t *J(const char *text) {
  char *copy = strdup(text);
  if (!copy)
    return NULL;
  for (char *c = copy; *c; c++)
    if (*c == '\'')
      *c = '"';
  json_error_t error;
  json_t *j = json_loads(copy, JSON_DECODE_ANY, &error);
  if (!j)
    idl_log_error("openapi: a fragment does not parse (%s) at %d: %.80s", error.text,
                  error.position, text);
  assert(j);
  free(copy);
  return j;
}

static json_t *ref(const char *prefix, const char *name) {
  return json_pack("{s:s+}", "$ref", prefix, name);
}

/* A schema named in a table: a component's name, "[Name]" for an array of
 * them, or a fragment ("{...}"). New reference. */
static json_t *schema_named(const char *name) {
  if (name[0] == '{')
    return J(name);
  if (name[0] == '[') {
    char inner[96];
    snprintf(inner, sizeof(inner), "%.*s", (int)strcspn(name + 1, "]"), name + 1);
    return json_pack("{s:s, s:o}", "type", "array", "items", ref(SCHEMAS, inner));
  }
  return ref(SCHEMAS, name);
}

/* The components' name of a collection's schema: "Customer" + suffix. */
static void schema_name(char *buf, size_t cap, const struct idl_resource *res,
                        const char *suffix) {
  snprintf(buf, cap, "%c%s%s", toupper((unsigned char)res->singular[0]), res->singular + 1,
           suffix);
}

/* Appends a sentence to s's description. */
static void describe(json_t *s, const char *sentence) {
  const char *old = json_string_value(json_object_get(s, "description"));
  char *text = NULL;
  if (asprintf(&text, "%s%s%s", old ? old : "", old ? " " : "", sentence) >= 0)
    json_object_set_new(s, "description", json_string(text));
  free(text);
}

/* ----------------------------------------------------------- the fields */

enum use { SHOWN, WRITTEN };

static json_t *typed(const char *type, int nullable) {
  return nullable ? json_pack("{s:[ss]}", "type", type, "null") : json_pack("{s:s}", "type", type);
}

static json_t *choices(const struct idl_field *f, int nullable) {
  json_t *values = json_array();
  for (size_t i = 0; f->choices && f->choices[i]; i++)
    json_array_append_new(values, json_string(f->choices[i]));
  if (nullable)
    json_array_append_new(values, json_null());
  return values;
}

/* The schema of a value of f, as a record shows it or a body sends it:
 * the same rules record_json.c applies. */
static json_t *value_schema(const struct idl_field *f, enum use use) {
  int nullable = (f->flags & IDL_FF_NULLABLE) != 0, written = use == WRITTEN;
  json_t *s = NULL;
  char note[200];
  switch (f->type) {
  case IDL_F_PK:
    s = J("{'type': 'integer', 'minimum': 1}");
    break;
  case IDL_F_INT:
    s = typed("integer", nullable);
    if (!(f->flags & IDL_FF_COMPUTED)) {
      json_object_set_new(s, "minimum", json_integer(f->min));
      if (f->max)
        json_object_set_new(s, "maximum", json_integer(f->max));
    }
    break;
  case IDL_F_STR:
    s = typed("string", nullable);
    if (f->max)
      json_object_set_new(s, "maxLength", json_integer(f->max));
    if (written && !(f->flags & IDL_FF_BLANK))
      json_object_set_new(s, "minLength", json_integer(1));
    if (written)
      describe(s, "Surrounding white space is trimmed.");
    break;
  case IDL_F_EMAIL:
    s = typed("string", nullable);
    json_object_set_new(s, "format", json_string("email"));
    json_object_set_new(s, "maxLength", json_integer(IDL_EMAIL_MAX_CHARS));
    describe(s, "Stored trimmed and lower-cased (SPEC section 2).");
    break;
  case IDL_F_PHONE:
    if (written) {
      s = nullable ? J("{'type': ['string', 'integer', 'null']}")
                   : J("{'type': ['string', 'integer']}");
      describe(s, "SPEC section 2: spaces, -, ., ( and ) are dropped, one leading + is kept, "
                  "1 to 20 digits remain; an integer is taken as its digits; an empty string "
                  "is no phone.");
    } else {
      s = typed("string", nullable);
      json_object_set_new(s, "pattern", json_string("^[+]?[0-9]{1,20}$"));
    }
    break;
  case IDL_F_BOOL:
    s = typed("boolean", nullable);
    if (written)
      describe(s, "Also taken as text: true/false, yes/no, y/n, on/off, t/f, 1/0 (any case), "
                  "or the integers 1 and 0.");
    break;
  case IDL_F_DATE:
    s = typed("string", nullable);
    json_object_set_new(s, "format", json_string("date"));
    break;
  case IDL_F_TIME:
    s = typed("string", nullable);
    json_object_set_new(s, "format", json_string("date-time"));
    if (!written)
      describe(s, "UTC, with microseconds.");
    break;
  case IDL_F_ENUM:
    s = typed("string", nullable);
    json_object_set_new(s, "enum", choices(f, nullable));
    break;
  case IDL_F_MONEY:
    if (written) {
      s = J("{'type': ['string', 'number'], 'pattern': '^[0-9]{1,10}([.][0-9]{1,2})?$', "
            "'minimum': 0}");
      describe(s, "A decimal of at most 12 digits, 2 of them after the point, at least 0; "
                  "kept exactly, never as a float.");
    } else {
      s = J("{'type': 'string', 'format': 'decimal', 'pattern': '^[0-9]{1,10}[.][0-9]{2}$'}");
      describe(s, "Money: a decimal string with exactly two decimals.");
    }
    break;
  case IDL_F_FK:
    s = typed("integer", nullable);
    json_object_set_new(s, "minimum", json_integer(1));
    snprintf(note, sizeof(note), "The pk of a record of /api/v1/%s/.", f->fk);
    describe(s, note);
    break;
  case IDL_F_JSON:
    s = typed(f->flags & IDL_FF_ARRAY ? "array" : "object", nullable);
    if (written) {
      snprintf(note, sizeof(note), "At most %d characters as compact JSON.",
               JSON_FIELD_MAX_CHARS);
      describe(s, note);
    }
    break;
  }
  return s;
}

/* value_schema with what the flags add: read-only, defaults, notes. */
static json_t *field_schema(const struct idl_field *f, enum use use) {
  json_t *s = value_schema(f, use);
  if (!s)
    return NULL;
  if (f->flags & (IDL_FF_READ_ONLY | IDL_FF_COMPUTED))
    json_object_set_new(s, "readOnly", json_true());
  if (f->flags & IDL_FF_COMPUTED)
    describe(s, "Computed when the record is shown.");
  if (f->flags & IDL_FF_FIXED)
    describe(s, "Cannot change after creation.");
  if (use == WRITTEN && (f->flags & IDL_FF_DEFAULT_NOW))
    describe(s, "Defaults to now.");
  if (use == WRITTEN && !(f->flags & IDL_FF_REQUIRED) && !(f->flags & IDL_FF_DEFAULT_NOW)) {
    json_t *def = f->def ? json_loads(f->def, JSON_DECODE_ANY, NULL)
                  : (f->flags & IDL_FF_NULLABLE) ? json_null()
                                                 : NULL;
    if (def)
      json_object_set_new(s, "default", def);
  }
  return s;
}

/* ------------------------------------------------------ record schemas */

/* A record as the API shows it: every field, always present. */
static json_t *record_schema(const struct idl_resource *res) {
  json_t *props = json_object(), *required = json_array();
  for (size_t i = 0; i < res->n_fields; i++) {
    json_object_set_new(props, res->fields[i].name, field_schema(&res->fields[i], SHOWN));
    json_array_append_new(required, json_string(res->fields[i].name));
  }
  return json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props, "required",
                   required, "additionalProperties", 0);
}

enum write_kind { W_CREATE, W_PUT, W_PATCH };

/* A create whose hook takes a nested record where the table has a pk: an
 * order carries its customer, found or created (SPEC section 8). What the
 * hook does that no field table says. */
static const struct nested {
  const char *res, *field; /* the collection and its FK field */
  const char *omit;        /* the nested record's field the create sets itself */
  const char *required;    /* the one field the nested record must send */
  const char *note;
} nested_fields[] = {
    {"orders", "customer", "channel", "email",
     "The order's customer, found by (channel, channel_code) when a code is given, else by "
     "(channel, email): found, the fields sent update it; not found, it is created with the "
     "normalized email as channel_code unless one is given. Its email and phone are then "
     "reconciled as POST /identify does."},
};

static json_t *write_schema(const struct idl_resource *res, enum write_kind kind);

static json_t *nested_schema(const struct nested *n, const struct idl_field *f) {
  const struct idl_resource *of = idl_resource_find(f->fk);
  json_t *s = of ? write_schema(of, W_PATCH) : J("{'type': 'object'}");
  json_object_del(json_object_get(s, "properties"), n->omit);
  json_object_set_new(s, "required", json_pack("[s]", n->required));
  json_object_set_new(s, "description", json_string(n->note));
  return s;
}

static const struct nested *nested_of(const struct idl_resource *res, const char *field) {
  for (size_t i = 0; i < sizeof(nested_fields) / sizeof(nested_fields[0]); i++)
    if (!strcmp(nested_fields[i].res, res->name) && !strcmp(nested_fields[i].field, field))
      return &nested_fields[i];
  return NULL;
}

/* The fields a body of res takes: a create (required as the table says), a
 * PUT (its own required fields), a PATCH (none required). */
static json_t *fields_schema(const struct idl_field *fields, size_t n, enum write_kind kind,
                             const struct idl_resource *res) {
  json_t *props = json_object(), *required = json_array();
  for (size_t i = 0; i < n; i++) {
    const struct idl_field *f = &fields[i];
    const struct nested *nest = res ? nested_of(res, f->name) : NULL;
    if (!nest && (f->type == IDL_F_PK || (f->flags & (IDL_FF_READ_ONLY | IDL_FF_COMPUTED))))
      continue;
    json_object_set_new(props, f->name, nest ? nested_schema(nest, f) : field_schema(f, WRITTEN));
    if ((kind == W_CREATE && ((f->flags & IDL_FF_REQUIRED) || nest)) ||
        (kind == W_PUT && (f->flags & IDL_FF_PUT_REQUIRED)))
      json_array_append_new(required, json_string(f->name));
  }
  json_t *s = json_pack("{s:s, s:o}", "type", "object", "properties", props);
  if (json_array_size(required))
    json_object_set_new(s, "required", required);
  else
    json_decref(required);
  return s;
}

static json_t *write_schema(const struct idl_resource *res, enum write_kind kind) {
  json_t *s = fields_schema(res->fields, res->n_fields, kind, res);
  describe(s, kind == W_PATCH ? "Changes the fields sent."
              : kind == W_PUT ? "Fields not sent are left unchanged, as DRF model serializers do."
                              : "Fields not sent take their defaults.");
  describe(s, "Read-only fields and unknown keys are ignored.");
  return s;
}

/* The paged list of SPEC section 7. */
static json_t *page_schema(const char *item) {
  json_t *s = J("{'type': 'object', 'required': ['count', 'next', 'previous', 'results'], "
                "'additionalProperties': false, 'properties': {"
                "'count': {'type': 'integer', 'minimum': 0}, "
                "'next': {'type': ['string', 'null'], 'format': 'uri'}, "
                "'previous': {'type': ['string', 'null'], 'format': 'uri'}, "
                "'results': {'type': 'array'}}}");
  json_object_set_new(json_object_get(json_object_get(s, "properties"), "results"), "items",
                      ref(SCHEMAS, item));
  return s;
}

/* ------------------------------------------------------------ filters */

static const char *const lookup_notes[] = {
    "Equal to (given twice: either value).", "Starts with.", "Greater than.",
    "Greater than or equal to.", "Less than.", "Less than or equal to.",
    "On this UTC day.", "Any of these values, comma-separated.",
    "Null (true) or not null (false).",
    "The JSON key named after __ (any key: attributes__colour=red) equals this, compared as "
    "text.",
};

static json_t *filter_schema(const struct idl_field *f, unsigned lookup) {
  if (lookup == IDL_L_ISNULL)
    return J("{'type': 'boolean'}");
  if (lookup == IDL_L_KEY || lookup == IDL_L_STARTSWITH)
    return J("{'type': 'string'}");
  if (lookup == IDL_L_DATE)
    return J("{'type': 'string', 'format': 'date'}");
  json_t *one;
  switch (f->type) {
  case IDL_F_PK:
  case IDL_F_INT:
  case IDL_F_FK:
    one = J("{'type': 'integer'}");
    break;
  case IDL_F_BOOL:
    one = J("{'type': 'boolean'}");
    break;
  case IDL_F_ENUM:
    one = json_pack("{s:s, s:o}", "type", "string", "enum", choices(f, 0));
    break;
  case IDL_F_DATE:
    one = J("{'type': 'string', 'format': 'date'}");
    break;
  case IDL_F_TIME:
    one = J("{'type': 'string', 'description': 'YYYY-MM-DD or an ISO 8601 datetime. A date "
            "means that whole UTC day (exact, in) or its first instant (a bound).', "
            "'anyOf': [{'format': 'date'}, {'format': 'date-time'}]}");
    break;
  default:
    one = J("{'type': 'string'}");
    break;
  }
  return lookup == IDL_L_IN ? json_pack("{s:s, s:o}", "type", "array", "items", one) : one;
}

static void add_param(json_t *params, const char *name, unsigned lookup, json_t *schema) {
  size_t bit = 0;
  while ((1u << bit) != lookup)
    bit++;
  json_t *p = json_pack("{s:s, s:s, s:s, s:o}", "name", name, "in", "query", "description",
                        lookup_notes[bit], "schema", schema);
  if (lookup == IDL_L_IN) {
    json_object_set_new(p, "style", json_string("form"));
    json_object_set_new(p, "explode", json_false());
  }
  json_array_append_new(params, p);
}

/* Every filter parameter of res, as filter.c's resolve() takes it: FIELD
 * (exact), FIELD__LOOKUP for each lookup offered, FIELD__{key} for a JSON
 * field; the same under the field's alias. */
static void add_filters(json_t *params, const struct idl_resource *res) {
  for (size_t i = 0; i < res->n_fields; i++) {
    const struct idl_field *f = &res->fields[i];
    const char *names[2] = {f->name, f->alias};
    for (size_t k = 0; k < 2 && names[k]; k++)
      for (unsigned bit = 0; bit < 32; bit++) {
        unsigned lookup = 1u << bit;
        if (!(f->lookups & lookup))
          continue;
        char name[128];
        if (lookup == IDL_L_KEY) {
          snprintf(name, sizeof(name), "%s__{key}", names[k]);
        } else if (idl_lookup_name(lookup)) {
          if (lookup == IDL_L_EXACT)
            add_param(params, names[k], lookup, filter_schema(f, lookup));
          snprintf(name, sizeof(name), "%s__%s", names[k], idl_lookup_name(lookup));
        } else {
          continue;
        }
        add_param(params, name, lookup, filter_schema(f, lookup));
      }
  }
}

/* page, limit and ordering: filter.c's reserved parameters. */
static void add_paging(json_t *params, const struct idl_resource *res) {
  json_array_append_new(params, J("{'name': 'page', 'in': 'query', 'description': 'The page, "
                                  "from 1. A page past the last, or one that is not a positive "
                                  "integer: 404 Invalid page.', 'schema': {'type': 'integer', "
                                  "'minimum': 1, 'default': 1}}"));
  json_array_append_new(params, J("{'name': 'limit', 'in': 'query', 'description': 'Records "
                                  "a page, at most 1000 (more is read as 1000); a limit that "
                                  "is not a positive integer is ignored.', 'schema': {'type': "
                                  "'integer', 'minimum': 1, 'default': 10}}"));
  json_t *orderings = json_array();
  for (size_t i = 0; i < res->n_fields; i++) {
    const struct idl_field *f = &res->fields[i];
    const char *names[2] = {f->name, f->alias};
    for (size_t k = 0; k < 2 && names[k] && (f->flags & IDL_FF_ORDERABLE); k++) {
      json_array_append_new(orderings, json_string(names[k]));
      json_array_append_new(orderings, json_pack("s+", "-", names[k]));
    }
  }
  json_t *p = J("{'name': 'ordering', 'in': 'query', 'description': 'FIELD ascending or "
                "-FIELD descending; by default ascending pk.', 'schema': {'type': 'string'}}");
  json_object_set_new(json_object_get(p, "schema"), "enum", orderings);
  json_array_append_new(params, p);
}

/* ------------------------------------------------------------ operations */

/* Errors an operation may answer, beyond 500 and 503 that any may. */
enum {
  E_BODY = 1 << 0,     /* a JSON body: 400, 408, 413, 415 */
  E_INVALID = 1 << 1,  /* 400 */
  E_MISSING = 1 << 2,  /* 404 */
  E_CONFLICT = 1 << 3, /* 409 */
  E_STORE = 1 << 4,    /* a write: 507 when the store is full */
  E_UPLOAD = 1 << 5,   /* a multipart body: 400, 408, 413 */
  E_OPEN = 1 << 6,     /* needs no token: no 401 or 403 */
};

static const struct error_answer {
  int status;
  const char *name, *description, *header, *header_note;
} error_answers[] = {
    {400, "BadRequest", "Refused: DRF field errors (each field with its messages, nested "
     "objects nested) or a detail (a body that is not JSON, an unknown query parameter).",
     NULL, NULL},
    {401, "Unauthorized", "With a token file: no token (Authentication credentials were not "
     "provided.) or an unknown one (Invalid token.).", "WWW-Authenticate", "Token"},
    {403, "Forbidden", "The role of the token is too low for this route.", NULL, NULL},
    {404, "NotFound", "Not found.", NULL, NULL},
    {405, "MethodNotAllowed", "Any path answers a method it does not list with 405 and an "
     "Allow header naming those it does.", "Allow", "The methods of the path."},
    {408, "RequestTimeout", "The request body did not arrive in time.", NULL, NULL},
    {409, "Conflict", "The state of the store refuses the request.", NULL, NULL},
    {413, "PayloadTooLarge", "The body is larger than --max-body (a file: --max-upload).", NULL,
     NULL},
    {415, "UnsupportedMediaType", "A Content-Type that is not JSON.", NULL, NULL},
    {500, "ServerError", "A store or I/O failure; nothing was half-written.", NULL, NULL},
    {503, "ServiceUnavailable", "Shutting down, or too many connections or bodies from one "
     "address.", "Retry-After", "Seconds to wait."},
    {507, "InsufficientStorage", "The store cannot take the write (disk or map full); nothing "
     "was written.", NULL, NULL},
};

static void add_error(json_t *op, int status) {
  json_t *responses = json_object_get(op, "responses");
  char key[8];
  snprintf(key, sizeof(key), "%d", status);
  for (size_t i = 0; i < sizeof(error_answers) / sizeof(error_answers[0]); i++)
    if (error_answers[i].status == status && !json_object_get(responses, key))
      json_object_set_new(responses, key, ref(RESPONSES, error_answers[i].name));
}

static void add_errors(json_t *op, unsigned errors) {
  if (errors & (E_BODY | E_INVALID | E_UPLOAD))
    add_error(op, 400);
  if (!(errors & E_OPEN)) {
    add_error(op, 401);
    add_error(op, 403);
  }
  if (errors & E_MISSING)
    add_error(op, 404);
  if (errors & (E_BODY | E_UPLOAD))
    add_error(op, 408);
  if (errors & E_CONFLICT)
    add_error(op, 409);
  if (errors & (E_BODY | E_UPLOAD))
    add_error(op, 413);
  if (errors & E_BODY)
    add_error(op, 415);
  add_error(op, 500);
  add_error(op, 503);
  if (errors & E_STORE)
    add_error(op, 507);
}

/* A new operation: its id, tag and summary; the token role it needs, as
 * http_auth.c decides it for method and path (E_OPEN: none). */
static json_t *operation(const char *method, const char *path, const char *id, const char *tag,
                         const char *summary, unsigned errors) {
  json_t *op = json_pack("{s:s, s:[s], s:s, s:{}}", "operationId", id, "tags", tag, "summary",
                         summary, "responses");
  json_t *security = errors & E_OPEN ? json_array()
                     : json_pack("[{s:[s]}]", "tokenAuth",
                                 idl_role_name(idl_route_role(method, path)));
  json_object_set_new(op, "security", security);
  return op;
}

/* Adds answer status, described, with content (taken; NULL: none). */
static void add_answer(json_t *op, int status, const char *description, json_t *content) {
  char key[8];
  snprintf(key, sizeof(key), "%d", status);
  json_t *a = json_pack("{s:s}", "description", description);
  if (content)
    json_object_set_new(a, "content", content);
  json_object_set_new(json_object_get(op, "responses"), key, a);
}

/* {media: {schema: schema}} (schema taken). */
static json_t *media(const char *type, json_t *schema) {
  return json_pack("{s:{s:o}}", type, "schema", schema);
}

/* The content of an answer named in a table: a media type (text, html,
 * xlsx) whose body is a string, else a JSON schema. */
static json_t *content_named(const char *name) {
  if (strchr(name, '/') && name[0] != '{')
    return media(name, J("{'type': 'string'}"));
  return media("application/json", schema_named(name));
}

static void add_body(json_t *op, const char *type, json_t *schema) {
  json_object_set_new(op, "requestBody",
                      json_pack("{s:b, s:o}", "required", 1, "content", media(type, schema)));
}

static void add_params(json_t *op, json_t *params) {
  if (json_array_size(params))
    json_object_set_new(op, "parameters", params);
  else
    json_decref(params);
}

/* The path item of path in paths, made when new, with a parameter for
 * each {name} of its template: a positive decimal id, as the router takes. */
static json_t *path_item(json_t *paths, const char *path) {
  json_t *item = json_object_get(paths, path);
  if (item)
    return item;
  item = json_object();
  json_t *params = json_array();
  for (const char *s = strchr(path, '{'); s; s = strchr(s + 1, '{')) {
    char name[32];
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(s + 1, "}"), s + 1);
    json_t *p = json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:i}}", "name", name, "in", "path",
                          "required", 1, "description", "A positive decimal id.", "schema",
                          "type", "integer", "minimum", 1);
    json_array_append_new(params, p);
  }
  add_params(item, params);
  json_object_set_new(paths, path, item);
  return item;
}

/* Sets method's operation of path (the method in lower case). */
static void put_operation(json_t *paths, const char *path, const char *method, json_t *op) {
  char lower[16];
  size_t i = 0;
  for (; method[i] && i + 1 < sizeof(lower); i++)
    lower[i] = (char)tolower((unsigned char)method[i]);
  lower[i] = '\0';
  json_object_set_new(path_item(paths, path), lower, op);
}

/* ------------------------------------------------------------ collections */

/* A collection's component schemas: the record, its page, its bodies. */
static void add_collection_schemas(json_t *schemas, const struct idl_resource *res) {
  char name[96], page[96];
  schema_name(name, sizeof(name), res, "");
  json_object_set_new(schemas, name, record_schema(res));
  schema_name(page, sizeof(page), res, "Page");
  json_object_set_new(schemas, page, page_schema(name));
  if (res->ops & IDL_OP_CREATE) {
    schema_name(name, sizeof(name), res, "Create");
    json_object_set_new(schemas, name, write_schema(res, W_CREATE));
  }
  if (res->ops & IDL_OP_UPDATE) {
    schema_name(name, sizeof(name), res, "Update");
    json_object_set_new(schemas, name, write_schema(res, W_PUT));
    schema_name(name, sizeof(name), res, "Patch");
    json_object_set_new(schemas, name, write_schema(res, W_PATCH));
  }
  if (idl_import_supported(res)) {
    json_t *form = J("{'type': 'object', 'required': ['file'], 'properties': {'file': {"
                     "'type': 'string', 'contentMediaType': 'application/octet-stream', "
                     "'description': 'xlsx, xls, csv or txt; the kind is found from the "
                     "content, not the name.'}}}");
    if (idl_resource_field(res, "channel") >= 0)
      json_object_set_new(json_object_get(form, "properties"), "channel",
                          J("{'type': 'integer', 'minimum': 1, 'description': 'The sales "
                            "channel of the customers (default 1; the upload form: "
                            "--crm-channel).'}"));
    schema_name(name, sizeof(name), res, "ImportForm");
    json_object_set_new(schemas, name, form);
  }
}

/* The list and export parameters of res: its filters, and for a list its
 * paging. New reference. */
static json_t *list_params(const struct idl_resource *res, int paged) {
  json_t *params = json_array();
  add_filters(params, res);
  if (paged)
    add_paging(params, res);
  return params;
}

/* GET (list), POST (create) and DELETE (by delete_by) of a collection. */
static void add_collection_root(json_t *paths, const struct idl_resource *res,
                                const char *path) {
  char id[96], schema[96], summary[160];
  if (res->ops & IDL_OP_LIST) {
    snprintf(id, sizeof(id), "%s_list", res->name);
    snprintf(summary, sizeof(summary), "List %s: filtered, ordered and paged (SPEC section 7)",
             res->name);
    json_t *op = operation("GET", path, id, res->name, summary, E_INVALID | E_MISSING);
    add_params(op, list_params(res, 1));
    schema_name(schema, sizeof(schema), res, "Page");
    add_answer(op, 200, "A page of the records.", content_named(schema));
    add_errors(op, E_INVALID | E_MISSING);
    put_operation(paths, path, "GET", op);
  }
  if (res->ops & IDL_OP_CREATE) {
    int upsert = res->hooks && res->hooks->create;
    unsigned errors = E_BODY | E_STORE | (upsert ? E_CONFLICT : 0);
    snprintf(id, sizeof(id), "%s_create", res->name);
    snprintf(summary, sizeof(summary), "Create a %s", res->singular);
    json_t *op = operation("POST", path, id, res->name, summary, errors);
    schema_name(schema, sizeof(schema), res, "Create");
    add_body(op, "application/json", schema_named(schema));
    schema_name(schema, sizeof(schema), res, "");
    add_answer(op, 201, "Created: the record.", content_named(schema));
    if (upsert)
      add_answer(op, 200, "The same record sent again: the stored one, nothing changed "
                 "(409: the same key with other values).", content_named(schema));
    add_errors(op, errors);
    put_operation(paths, path, "POST", op);
  }
  if (res->delete_by) {
    snprintf(id, sizeof(id), "%s_destroy_by_%s", res->name, res->delete_by);
    snprintf(summary, sizeof(summary), "Delete every %s of one %s", res->singular,
             res->delete_by);
    json_t *op = operation("DELETE", path, id, res->name, summary, E_INVALID | E_STORE);
    add_params(op, json_pack("[{s:s, s:s, s:b, s:s, s:{s:s, s:i}}]", "name", res->delete_by,
                             "in", "query", "required", 1, "description",
                             "The pk it names (without it: 400, This field is required.).",
                             "schema", "type", "integer", "minimum", 1));
    add_answer(op, 200, "How many were deleted.", content_named("Deleted"));
    add_errors(op, E_INVALID | E_STORE);
    put_operation(paths, path, "DELETE", op);
  }
}

/* GET, PUT, PATCH and DELETE of one record, as the ops offer them. */
static void add_collection_record(json_t *paths, const struct idl_resource *res,
                                  const char *path) {
  char id[96], schema[96], record[96], summary[160];
  schema_name(record, sizeof(record), res, "");
  if (res->ops & IDL_OP_RETRIEVE) {
    snprintf(id, sizeof(id), "%s_retrieve", res->name);
    snprintf(summary, sizeof(summary), "One %s", res->singular);
    json_t *op = operation("GET", path, id, res->name, summary, E_MISSING);
    add_answer(op, 200, "The record.", content_named(record));
    add_errors(op, E_MISSING);
    put_operation(paths, path, "GET", op);
  }
  int fixed = 0;
  for (size_t i = 0; i < res->n_fields; i++)
    fixed |= (res->fields[i].flags & IDL_FF_FIXED) != 0;
  static const char *const methods[] = {"PUT", "PATCH"};
  for (size_t m = 0; m < 2 && (res->ops & IDL_OP_UPDATE); m++) {
    unsigned errors = E_BODY | E_MISSING | E_STORE;
    snprintf(id, sizeof(id), "%s_%supdate", res->name, m ? "partial_" : "");
    snprintf(summary, sizeof(summary), "%s a %s", m ? "Change the fields sent of" : "Update",
             res->singular);
    json_t *op = operation(methods[m], path, id, res->name, summary, errors);
    schema_name(schema, sizeof(schema), res, m ? "Patch" : "Update");
    add_body(op, "application/json", schema_named(schema));
    add_answer(op, 200, "The record as it is now.", content_named(record));
    if (fixed)
      add_answer(op, 406, "A field that cannot change after creation was sent with another "
                 "value (seed 004's own body).", content_named("UpdateRefused"));
    add_errors(op, errors);
    put_operation(paths, path, methods[m], op);
  }
  if (res->ops & IDL_OP_DELETE) {
    int guarded = res->hooks && res->hooks->deleting;
    unsigned errors = E_MISSING | E_STORE | (guarded ? E_CONFLICT : 0);
    snprintf(id, sizeof(id), "%s_destroy", res->name);
    snprintf(summary, sizeof(summary), "Delete a %s", res->singular);
    json_t *op = operation("DELETE", path, id, res->name, summary, errors);
    add_answer(op, 204, "Deleted.", NULL);
    add_errors(op, errors);
    put_operation(paths, path, "DELETE", op);
  }
}

/* POST /api/v1/{collection}/{pk}/{action}/: its body from the action's
 * fields, answered with the record. */
static void add_collection_actions(json_t *paths, json_t *schemas,
                                   const struct idl_resource *res) {
  char path[160], id[96], schema[96], record[96], summary[160];
  schema_name(record, sizeof(record), res, "");
  for (const struct idl_action *a = res->actions; a && a->name; a++) {
    unsigned errors = E_BODY | E_MISSING | E_CONFLICT | E_STORE;
    snprintf(path, sizeof(path), "/api/v1/%s/{pk}/%s/", res->name, a->name);
    snprintf(id, sizeof(id), "%s_%s", res->name, a->name);
    snprintf(summary, sizeof(summary), "%c%s a %s", toupper((unsigned char)a->name[0]),
             a->name + 1, res->singular);
    json_t *op = operation("POST", path, id, res->name, summary, errors);
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "%c%s", toupper((unsigned char)a->name[0]), a->name + 1);
    schema_name(schema, sizeof(schema), res, suffix);
    json_object_set_new(schemas, schema, fields_schema(a->body, a->n_body, W_CREATE, NULL));
    add_body(op, "application/json", schema_named(schema));
    add_answer(op, 200, "The record as it is now.", content_named(record));
    add_errors(op, errors);
    put_operation(paths, path, "POST", op);
  }
}

/* GET /api/v1/{collection}/export/ and POST .../import/. */
static void add_collection_files(json_t *paths, const struct idl_resource *res) {
  char path[160], id[96], summary[160], schema[96];
  if (res->ops & IDL_OP_EXPORT) {
    snprintf(path, sizeof(path), "/api/v1/%s/export/", res->name);
    snprintf(id, sizeof(id), "%s_export", res->name);
    snprintf(summary, sizeof(summary), "Export every %s the filters select, in pk order",
             res->singular);
    json_t *op = operation("GET", path, id, res->name, summary, E_INVALID);
    json_t *params = list_params(res, 0);
    json_array_insert_new(params, 0, J("{'name': 'format', 'in': 'query', 'schema': {'type': "
                                       "'string', 'enum': ['xlsx', 'csv'], 'default': "
                                       "'xlsx'}}"));
    add_params(op, params);
    json_t *content = json_object();
    json_object_set_new(content, XLSX, J("{'schema': {'type': 'string', 'contentMediaType': "
                                         "'" XLSX "'}}"));
    json_object_set_new(content, "text/csv", J("{'schema': {'type': 'string'}}"));
    add_answer(op, 200, "One header row naming every field, then a row per record.", content);
    json_object_set_new(json_object_get(json_object_get(op, "responses"), "200"), "headers",
                        J("{'Content-Disposition': {'description': 'attachment; filename="
                          "COLLECTION-YYYYMMDD.EXT', 'schema': {'type': 'string'}}}"));
    add_errors(op, E_INVALID);
    put_operation(paths, path, "GET", op);
  }
  if (idl_import_supported(res)) {
    snprintf(path, sizeof(path), "/api/v1/%s/import/", res->name);
    snprintf(id, sizeof(id), "%s_import", res->name);
    snprintf(summary, sizeof(summary), "Import %s from a file, in one transaction", res->name);
    json_t *op = operation("POST", path, id, res->name, summary, E_UPLOAD | E_STORE);
    schema_name(schema, sizeof(schema), res, "ImportForm");
    add_body(op, "multipart/form-data", schema_named(schema));
    add_answer(op, 200, "What came of the rows.", content_named("ImportAnswer"));
    add_errors(op, E_UPLOAD | E_STORE);
    put_operation(paths, path, "POST", op);
  }
}

static void add_collection(json_t *paths, json_t *schemas, const struct idl_resource *res) {
  char path[160];
  add_collection_schemas(schemas, res);
  snprintf(path, sizeof(path), "/api/v1/%s/", res->name);
  add_collection_root(paths, res, path);
  add_collection_files(paths, res);
  snprintf(path, sizeof(path), "/api/v1/%s/{pk}/", res->name);
  add_collection_record(paths, res, path);
  add_collection_actions(paths, schemas, res);
}

/* ----------------------------------------------------- the other routes */

/* The schemas of the contact routes (SPEC sections 2, 3, 10 and 11) and
 * seed 003's shapes; the collections' own come from their tables, and these
 * point into them where they show a collection's field. */
static const struct {
  const char *name, *schema;
} fixed_schemas[] = {
    {"Detail", "{'type': 'object', 'required': ['detail'], 'properties': {'detail': {'type': "
     "'string'}}}"},
    {"FieldErrors", "{'type': 'object', 'minProperties': 1, 'description': 'DRF field errors: "
     "each field (non_field_errors for the whole) with its messages; the errors of a nested "
     "object nest.', 'additionalProperties': {'anyOf': [{'type': 'array', 'items': {'type': "
     "'string'}}, {'$ref': '#/components/schemas/FieldErrors'}]}}"},
    {"UpdateRefused", "{'type': 'object', 'required': ['non_field_errors', 'error_code'], "
     "'properties': {'non_field_errors': {'type': 'string'}, 'error_code': {'type': "
     "'string'}}}"},
    {"Deleted", "{'type': 'object', 'required': ['deleted'], 'properties': {'deleted': "
     "{'type': 'integer', 'minimum': 0}}}"},
    {"IdentifyRequest", "{'type': 'object', 'description': 'Either key may be absent, not "
     "both; an empty string counts as absent; unknown keys are ignored.', 'properties': {"
     "'email': {'type': ['string', 'null'], 'maxLength': 254, 'description': 'Trimmed and "
     "lower-cased; one @, a local part and a domain, no white space.'}, 'phoneNumber': "
     "{'type': ['string', 'integer', 'null'], 'description': 'Spaces, -, ., ( and ) are "
     "dropped, one leading + is kept, 1 to 20 digits remain; an integer is taken as its "
     "digits.'}}}"},
    {"Identity", "{'type': 'object', 'required': ['primaryContactId', 'emails', "
     "'phoneNumbers', 'secondaryContactIds'], 'additionalProperties': false, 'properties': {"
     "'primaryContactId': {'type': 'integer', 'minimum': 1}, 'emails': {'type': 'array', "
     "'items': {'type': 'string'}, 'description': 'The primary email first, the rest in "
     "ascending contact id.'}, 'phoneNumbers': {'type': 'array', 'items': {'type': "
     "'string'}}, 'secondaryContactIds': {'type': 'array', 'items': {'type': 'integer'}}}}"},
    {"IdentityAnswer", "{'type': 'object', 'required': ['contact'], 'additionalProperties': "
     "false, 'properties': {'contact': {'$ref': '#/components/schemas/Identity'}}}"},
    {"CreateAnswer", "{'type': 'object', 'required': ['detail', 'Contact_id'], 'properties': "
     "{'detail': {'type': 'string', 'enum': ['Successfully Created !!', 'Contact already "
     "exists']}, 'Contact_id': {'type': 'integer', 'minimum': 1}}}"},
    {"LookupAnswer", "{'type': 'object', 'required': ['customerID', 'contact'], "
     "'additionalProperties': false, 'properties': {'customerID': {'type': 'string', "
     "'pattern': '^[0-9]+$'}, 'contact': {'$ref': '#/components/schemas/Identity'}}}"},
    {"Contact", "{'type': 'object', 'additionalProperties': false, 'required': ['id', "
     "'email', 'phoneNumber', 'linkedId', 'linkPrecedence', 'createdAt', 'updatedAt', "
     "'deletedAt'], 'properties': {'id': {'type': 'integer', 'minimum': 1}, 'email': {'type': "
     "['string', 'null']}, 'phoneNumber': {'type': ['string', 'null']}, 'linkedId': {'type': "
     "['integer', 'null']}, 'linkPrecedence': {'enum': ['primary', 'secondary']}, "
     "'createdAt': {'type': 'string', 'format': 'date-time'}, 'updatedAt': {'type': "
     "'string', 'format': 'date-time'}, 'deletedAt': {'type': ['string', 'null'], 'format': "
     "'date-time'}}}"},
    {"ContactDeleted", "{'type': 'object', 'required': ['deleted', 'identities'], "
     "'properties': {'deleted': {'type': 'integer', 'minimum': 1}, 'identities': {'type': "
     "'array', 'items': {'$ref': '#/components/schemas/Identity'}, 'description': 'The "
     "identities the rest of its identity now forms.'}}}"},
    {"Change", "{'type': 'object', 'required': ['seq', 'at', 'kind'], "
     "'additionalProperties': true, 'properties': {'seq': {'type': 'integer', 'minimum': 1}, "
     "'at': {'type': ['string', 'null'], 'format': 'date-time'}, 'kind': {'type': 'string', "
     "'description': 'contact.created, identity.merged, identity.split, contact.deleted, "
     "customer.created, order.created, ...'}, 'pk': {'type': 'integer'}, 'primary': {'type': "
     "'integer'}, 'contact': {'type': 'integer'}, 'absorbed': {'type': 'array', 'items': "
     "{'type': 'integer'}}, 'parts': {'type': 'array', 'items': {'type': 'integer'}}}}"},
    {"Changes", "{'type': 'object', 'required': ['results', 'last_seq'], 'properties': "
     "{'results': {'type': 'array', 'items': {'$ref': '#/components/schemas/Change'}}, "
     "'last_seq': {'type': 'integer', 'minimum': 0}}}"},
    {"Explanation", "{'type': 'object', 'required': ['primaryContactId', 'contacts', 'edges', "
     "'history'], 'properties': {'primaryContactId': {'type': 'integer', 'minimum': 1}, "
     "'contacts': {'type': 'array', 'items': {'type': 'object', 'required': ['id', 'email', "
     "'phoneNumber', 'linkPrecedence', 'createdAt'], 'properties': {'id': {'type': "
     "'integer'}, 'email': {'type': ['string', 'null']}, 'phoneNumber': {'type': ['string', "
     "'null']}, 'linkPrecedence': {'enum': ['primary', 'secondary']}, 'createdAt': {'type': "
     "'string', 'format': 'date-time'}}}}, 'edges': {'type': 'array', 'description': 'A "
     "spanning tree of the identity links.', 'items': {'type': 'object', 'required': "
     "['from', 'to', 'via', 'value'], 'properties': {'from': {'type': 'integer'}, 'to': "
     "{'type': 'integer'}, 'via': {'enum': ['email', 'phoneNumber', 'bridge']}, 'value': "
     "{'anyOf': [{'type': 'string'}, {'type': 'object', 'required': ['email', 'phoneNumber', "
     "'at'], 'properties': {'email': {'type': 'string'}, 'phoneNumber': {'type': 'string'}, "
     "'at': {'type': 'string', 'format': 'date-time'}}}]}}}}, 'history': {'type': 'array', "
     "'items': {'$ref': '#/components/schemas/Change'}}}}"},
    {"Health", "{'type': 'object', 'required': ['status', 'contacts', 'last_seq', 'next_id', "
     "'mirror'], 'properties': {'status': {'const': 'ok'}, 'contacts': {'type': 'integer'}, "
     "'last_seq': {'type': 'integer'}, 'next_id': {'type': 'integer'}, 'mirror': {'type': "
     "'object', 'required': ['state'], 'properties': {'state': {'type': 'string', "
     "'description': 'off without --redis.'}, 'applied_seq': {'type': 'integer'}, "
     "'lag_entries': {'type': 'integer'}, 'lag_seconds': {'type': 'number'}, 'lag_p99_ms': "
     "{'type': ['number', 'null']}, 'full_syncs': {'type': 'integer'}}}}}"},
    {"Blocklist", "{'type': 'object', 'required': ['rules'], 'properties': {'rules': {'type': "
     "'array', 'items': {'type': 'object', 'required': ['kind', 'pattern', 'source'], "
     "'properties': {'kind': {'enum': ['email', 'phone']}, 'pattern': {'type': 'string'}, "
     "'source': {'type': 'string'}}}}}}"},
    {"ErasureRequest", "{'type': 'object', 'description': 'Exactly one of the three.', "
     "'minProperties': 1, 'properties': {'email': {'type': 'string', 'format': 'email'}, "
     "'phoneNumber': {'type': ['string', 'integer']}, 'contactId': {'type': 'integer', "
     "'minimum': 1}}}"},
    {"Erased", "{'type': 'object', 'required': ['erased'], 'properties': {'erased': {'type': "
     "'object', 'required': ['contacts', 'customers', 'feedback', 'tickets'], 'properties': "
     "{'contacts': {'type': 'integer'}, 'customers': {'type': 'integer'}, 'feedback': "
     "{'type': 'integer'}, 'tickets': {'type': 'integer'}}}}}"},
    {"CustomerView", "{'type': 'object', 'required': ['contact', 'customers', 'orders'], "
     "'properties': {'contact': {'$ref': '#/components/schemas/Identity'}, 'customers': "
     "{'type': 'array', 'items': {'$ref': '#/components/schemas/Customer'}, 'description': "
     "'Every customer, of every channel, whose email or phone the identity holds.'}, "
     "'orders': {'type': 'object', 'required': ['count', 'totals', 'latest'], 'properties': "
     "{'count': {'type': 'integer', 'minimum': 0}, 'totals': {'type': 'object', "
     "'description': 'Per currency.', 'additionalProperties': {'$ref': "
     "'#/components/schemas/Order/properties/amount'}}, 'latest': {'type': 'array', "
     "'maxItems': 10, 'items': {'$ref': '#/components/schemas/Order'}}}}}}"},
    {"ImportAnswer", "{'type': 'object', 'required': ['created', 'updated', 'skipped'], "
     "'properties': {'created': {'type': 'integer', 'minimum': 0}, 'updated': {'type': "
     "'integer', 'minimum': 0}, 'skipped': {'type': 'array', 'items': {'type': 'object', "
     "'required': ['row', 'reason'], 'properties': {'row': {'type': 'integer', 'minimum': 1, "
     "'description': 'File rows from 1, a header row included.'}, 'reason': {'type': "
     "'string'}}}}}}"},
    /* Seed 003's shapes (SPEC section 9). */
    {"SeedCustomer", "{'type': 'object', 'required': ['id', 'name', 'address', 'phone', "
     "'email', 'optphone', 'optemail', 'optchat', 'status'], 'properties': {'id': {'type': "
     "'integer'}, 'name': {'type': 'string', 'description': 'First and last name joined by "
     "a space.'}, 'address': {'type': ['string', 'null']}, 'phone': {'$ref': "
     "'#/components/schemas/Customer/properties/phone_number'}, 'email': {'$ref': "
     "'#/components/schemas/Customer/properties/email'}, 'optphone': {'type': 'boolean'}, "
     "'optemail': {'type': 'boolean'}, 'optchat': {'type': ['boolean', 'null']}, 'status': "
     "{'type': ['string', 'null']}}}"},
    {"SeedCustomerCreate", "{'type': 'object', 'required': ['name', 'address', 'email', "
     "'status'], 'properties': {'name': {'type': 'string', 'maxLength': 1000, "
     "'description': 'Split at the first space into first and last name.'}, 'address': "
     "{'type': 'string', 'maxLength': 1000}, 'email': {'type': 'string', 'format': 'email'}, "
     "'status': {'type': 'string', 'maxLength': 1000}, 'phone': {'type': ['string', "
     "'integer', 'null']}, 'optphone': {'type': 'boolean'}, 'optemail': {'type': 'boolean'}, "
     "'optchat': {'type': 'boolean'}}}"},
    {"SeedCustomerUpdate", "{'type': 'object', 'required': ['id'], 'minProperties': 2, "
     "'description': 'id and at least one key to change.', 'properties': {'id': {'type': "
     "'integer'}, 'email': {'type': 'string', 'format': 'email'}, 'phone': {'type': "
     "['string', 'integer', 'null']}, 'address': {'type': 'string', 'maxLength': 1000}, "
     "'status': {'type': 'string', 'maxLength': 1000}, 'optphone': {'type': 'boolean'}, "
     "'optemail': {'type': 'boolean'}, 'optchat': {'type': 'boolean'}}}"},
    {"SeedProduct", "{'type': 'object', 'required': ['id', 'name', 'price', 'purchased', "
     "'customerid', 'warranty'], 'properties': {'id': {'type': 'integer'}, 'name': {'type': "
     "'string'}, 'price': {'$ref': '#/components/schemas/Product/properties/price'}, "
     "'purchased': {'$ref': '#/components/schemas/Product/properties/purchased'}, "
     "'customerid': {'type': ['integer', 'null']}, 'warranty': {'$ref': "
     "'#/components/schemas/Product/properties/warranty'}}}"},
    {"SeedProductCreate", "{'type': 'object', 'required': ['name', 'price', 'purchased', "
     "'warranty', 'customerid'], 'properties': {'name': {'$ref': "
     "'#/components/schemas/ProductCreate/properties/name'}, 'price': {'$ref': "
     "'#/components/schemas/ProductCreate/properties/price'}, 'purchased': {'$ref': "
     "'#/components/schemas/ProductCreate/properties/purchased'}, 'warranty': {'$ref': "
     "'#/components/schemas/ProductCreate/properties/warranty'}, 'customerid': {'type': "
     "['integer', 'null']}}}"},
    {"SeedProductUpdate", "{'type': 'object', 'required': ['id'], 'minProperties': 2, "
     "'properties': {'id': {'type': 'integer'}, 'warranty': {'$ref': "
     "'#/components/schemas/ProductPatch/properties/warranty'}, 'changeto': {'type': "
     "['integer', 'null'], 'description': 'Transfer the product to this customer.'}}}"},
    {"SeedFeedback", "{'type': 'object', 'required': ['id', 'customerid', 'heading', "
     "'body'], 'properties': {'id': {'type': 'integer'}, 'customerid': {'type': 'integer'}, "
     "'heading': {'type': 'string'}, 'body': {'type': 'string'}, 'productid': {'type': "
     "['integer', 'null'], 'description': 'Product feedback only.'}}}"},
    {"SeedBrandFeedbackCreate", "{'type': 'object', 'required': ['customerid', 'heading', "
     "'body'], 'properties': {'customerid': {'type': 'integer', 'minimum': 1}, 'heading': "
     "{'$ref': '#/components/schemas/FeedbackCreate/properties/heading'}, 'body': {'$ref': "
     "'#/components/schemas/FeedbackCreate/properties/body'}}}"},
    {"SeedProductFeedbackCreate", "{'type': 'object', 'required': ['customerid', "
     "'productid', 'heading', 'body'], 'properties': {'customerid': {'type': 'integer', "
     "'minimum': 1}, 'productid': {'type': 'integer', 'minimum': 1}, 'heading': {'$ref': "
     "'#/components/schemas/FeedbackCreate/properties/heading'}, 'body': {'$ref': "
     "'#/components/schemas/FeedbackCreate/properties/body'}}}"},
    {"SeedTicket", "{'type': 'object', 'required': ['id', 'customerid', 'request', 'status', "
     "'resolved', 'resolution', 'opened_date', 'closed_date'], 'properties': {'id': {'type': "
     "'integer'}, 'customerid': {'type': 'integer'}, 'request': {'type': 'string'}, "
     "'status': {'$ref': '#/components/schemas/Ticket/properties/status'}, 'resolved': "
     "{'$ref': '#/components/schemas/Ticket/properties/resolved'}, 'resolution': {'$ref': "
     "'#/components/schemas/Ticket/properties/resolution'}, 'opened_date': {'$ref': "
     "'#/components/schemas/Ticket/properties/opened_date'}, 'closed_date': {'$ref': "
     "'#/components/schemas/Ticket/properties/closed_date'}}}"},
    {"SeedTicketCreate", "{'type': 'object', 'required': ['customerid', 'request'], "
     "'properties': {'customerid': {'type': 'integer', 'minimum': 1}, 'request': {'$ref': "
     "'#/components/schemas/TicketCreate/properties/request'}}}"},
    {"SeedTicketClose", "{'type': 'object', 'required': ['id', 'resolved', 'resolution'], "
     "'properties': {'id': {'type': 'integer'}, 'resolved': {'type': 'boolean'}, "
     "'resolution': {'type': 'string', 'maxLength': 10000}}}"},
};

/* What the document says of a route of http.c's or http_seed.c's table:
 * found by method and path. */
struct answer {
  int status;
  const char *schema; /* see content_named; NULL: no body */
  const char *what;
};

struct route_doc {
  const char *method, *path;
  const char *id, *tag, *summary;
  const char *query;   /* its query parameters: a fragment of an array, or NULL */
  const char *body;    /* its body: a schema (see schema_named), "multipart:NAME" for a
                          form, or NULL */
  const char *list_of; /* a collection whose filtered page it answers, or NULL */
  unsigned errors;
  struct answer answers[3];
};

#define Q_ID(key, what)                                                                      \
  "{'name': '" key "', 'in': 'query', 'description': '" what "', 'schema': {'type': "        \
  "'integer', 'minimum': 1}}"
#define Q_TEXT(key, what)                                                                    \
  "{'name': '" key "', 'in': 'query', 'description': '" what "', 'schema': {'type': "        \
  "'string'}}"
#define SEED_KEYS " Also taken as keys of a JSON body, which win over the query."

static const struct route_doc route_docs[] = {
    {"POST", "/identify", "identify", "contacts",
     "Reconcile a contact into its identity (SPEC section 2)", .body = "IdentifyRequest",
     .errors = E_BODY | E_STORE,
     .answers = {{200, "IdentityAnswer", "The consolidated identity."}}},
    {"POST", "/api/create/", "contacts_create", "contacts",
     "Reconcile, answering the contact created", .body = "IdentifyRequest",
     .errors = E_BODY | E_STORE,
     .answers = {{201, "CreateAnswer", "Successfully Created !!, with the new contact id."},
                 {200, "CreateAnswer", "Contact already exists, with the primary id."}}},
    {"POST", "/api/identify/", "contacts_lookup", "contacts",
     "Look up the identity a request matches, creating and linking nothing",
     .body = "IdentifyRequest", .errors = E_BODY | E_MISSING,
     .answers = {{200, "LookupAnswer", "The identity with the oldest primary it matches."}}},
    {"GET", "/contacts/{id}", "contact_retrieve", "contacts", "One contact row",
     .errors = E_MISSING, .answers = {{200, "Contact", "The contact."}}},
    {"DELETE", "/contacts/{id}", "contact_destroy", "quality",
     "Soft-delete a contact; its identity is re-resolved (SPEC section 10)",
     .errors = E_MISSING | E_STORE,
     .answers = {{200, "ContactDeleted", "Deleted (an already deleted contact: unchanged)."}}},
    {"GET", "/identities/{id}", "identity_retrieve", "contacts",
     "The identity that contact {id} belongs to", .errors = E_MISSING,
     .answers = {{200, "IdentityAnswer", "The identity."}}},
    {"GET", "/identities/{id}/explain", "identity_explain", "quality",
     "Why the contacts of an identity are one", .errors = E_MISSING,
     .answers = {{200, "Explanation", "Contacts, a spanning tree of their links, history."}}},
    {"GET", "/changes", "changes_list", "operations", "The change log, oldest first",
     .query = "[{'name': 'after', 'in': 'query', 'description': 'Entries with a sequence "
              "number above this.', 'schema': {'type': 'integer', 'minimum': 0, 'default': "
              "0}}, {'name': 'limit', 'in': 'query', 'description': 'At most this many (more "
              "than 1000 is read as 1000).', 'schema': {'type': 'integer', 'minimum': 1, "
              "'default': 100}}]",
     .errors = E_INVALID, .answers = {{200, "Changes", "The entries and the newest seq."}}},
    {"GET", "/blocklist", "blocklist", "quality", "The junk values never used for matching",
     .answers = {{200, "Blocklist", "The rules."}}},
    {"GET", "/conflicts", "conflicts", "quality",
     "What the hub guard refused (SPEC section 10), as a paged list", .list_of = "conflicts",
     .errors = E_INVALID | E_MISSING,
     .answers = {{200, "ConflictPage", "A page of the conflicts."}}},
    {"POST", "/erasure", "erasure", "quality",
     "Erase the whole identity holding an email, a phone or a contact",
     .body = "ErasureRequest", .errors = E_BODY | E_MISSING | E_STORE,
     .answers = {{200, "Erased", "What was erased."}}},
    {"GET", "/healthz", "healthz", "operations", "Ready to serve", .errors = E_OPEN,
     .answers = {{200, "Health", "Ready, with the store and mirror state."}}},
    {"GET", "/metrics", "metrics", "operations", "Prometheus metrics",
     .answers = {{200, "text/plain", "Prometheus text format 0.0.4."}}},
    {"GET", "/openapi.json", "openapi", "operations", "This document",
     .answers = {{200, "{'type': 'object'}", "The OpenAPI 3.1 document."}}},
    {"GET", "/api/v1/identities/", "identities_find", "customers",
     "The single customer view of the identity holding an email or a phone",
     .query = "[" Q_TEXT("email", "An email (normalized as SPEC section 2).") ", " Q_TEXT(
         "phone_number", "A phone (normalized as SPEC section 2).") "]",
     .errors = E_INVALID | E_MISSING,
     .answers = {{200, "CustomerView", "The identity, its customers and orders."}}},
    {"GET", "/api/v1/identities/{id}/", "identities_retrieve", "customers",
     "The single customer view of the identity of contact {id}", .errors = E_MISSING,
     .answers = {{200, "CustomerView", "The identity, its customers and orders."}}},
    {"GET", "/console/", "console", "console",
     "The browser console (SPEC section 12): static files, served without a token; its "
     "views (lookup, customers, import, changes) and files are under /console/ too",
     .errors = E_OPEN,
     .answers = {{200, "text/html", "The console page."},
                 {304, NULL, "Not modified (If-None-Match): no body."}}},
    {"GET", "/upload/customers", "upload_customers_form", "seed 003",
     "The upload form of customers", .answers = {{200, "text/html", "An HTML form."}}},
    {"POST", "/upload/customers", "upload_customers", "seed 003",
     "Import customers from a file (the form's post)", .body = "multipart:CustomerImportForm",
     .errors = E_UPLOAD | E_STORE, .answers = {{200, "ImportAnswer", "What came of the rows."}}},
    {"GET", "/upload/products", "upload_products_form", "seed 003",
     "The upload form of products", .answers = {{200, "text/html", "An HTML form."}}},
    {"POST", "/upload/products", "upload_products", "seed 003",
     "Import products from a file (the form's post)", .body = "multipart:ProductImportForm",
     .errors = E_UPLOAD | E_STORE, .answers = {{200, "ImportAnswer", "What came of the rows."}}},
    /* Seed 003's own routes: aliases of the collections in the seed's shapes. */
    {"POST", "/api/add/customer", "seed_add_customer", "seed 003", "Create a customer",
     .body = "SeedCustomerCreate", .errors = E_BODY | E_STORE,
     .answers = {{201, "SeedCustomer", "Created."}}},
    {"GET", "/api/get/customer", "seed_get_customer", "seed 003",
     "One customer by id, or the customers of a full name",
     .query = "[" Q_ID("id", "The customer." SEED_KEYS) ", " Q_TEXT(
         "name", "The full name." SEED_KEYS) "]",
     .errors = E_INVALID | E_MISSING,
     .answers = {{200, "{'anyOf': [{'$ref': '#/components/schemas/SeedCustomer'}, {'type': "
                       "'array', 'items': {'$ref': '#/components/schemas/SeedCustomer'}}]}",
                  "By id: the customer; by name: a list."}}},
    {"GET", "/api/delete/customer", "seed_delete_customer", "seed 003", "Delete a customer",
     .query = "[" Q_ID("id", "The customer." SEED_KEYS) "]",
     .errors = E_INVALID | E_MISSING | E_CONFLICT | E_STORE,
     .answers = {{200, "Deleted", "Deleted."}}},
    {"POST", "/api/update/customer", "seed_update_customer", "seed 003",
     "Change a customer", .body = "SeedCustomerUpdate",
     .errors = E_BODY | E_MISSING | E_STORE,
     .answers = {{200, "SeedCustomer", "The customer as it is now."}}},
    {"POST", "/api/add/product", "seed_add_product", "seed 003", "Create a product",
     .body = "SeedProductCreate", .errors = E_BODY | E_STORE,
     .answers = {{201, "SeedProduct", "Created."}}},
    {"GET", "/api/get/product", "seed_get_product", "seed 003",
     "One product by id, or the products of a name and/or a customer",
     .query = "[" Q_ID("id", "The product." SEED_KEYS) ", " Q_TEXT(
         "name", "The name." SEED_KEYS) ", " Q_ID("customerid", "The customer." SEED_KEYS) "]",
     .errors = E_INVALID | E_MISSING,
     .answers = {{200, "{'anyOf': [{'$ref': '#/components/schemas/SeedProduct'}, {'type': "
                       "'array', 'items': {'$ref': '#/components/schemas/SeedProduct'}}]}",
                  "By id: the product; else a list."}}},
    {"POST", "/api/delete/product", "seed_delete_product", "seed 003",
     "Delete a product, or every product of a customer",
     .body = "{'type': 'object', 'description': 'id, or customerid.', 'properties': {'id': "
             "{'type': 'integer'}, 'customerid': {'type': 'integer'}}}",
     .errors = E_BODY | E_MISSING | E_STORE, .answers = {{200, "Deleted", "How many."}}},
    {"POST", "/api/update/product", "seed_update_product", "seed 003",
     "Change the warranty of a product, or transfer it", .body = "SeedProductUpdate",
     .errors = E_BODY | E_MISSING | E_STORE,
     .answers = {{200, "SeedProduct", "The product as it is now."}}},
    {"POST", "/api/add/brand/feedback", "seed_add_brand_feedback", "seed 003",
     "Feedback on the brand", .body = "SeedBrandFeedbackCreate", .errors = E_BODY | E_STORE,
     .answers = {{201, "SeedFeedback", "Created."}}},
    {"POST", "/api/add/product/feedback", "seed_add_product_feedback", "seed 003",
     "Feedback on a product", .body = "SeedProductFeedbackCreate", .errors = E_BODY | E_STORE,
     .answers = {{201, "SeedFeedback", "Created."}}},
    {"GET", "/api/get/brand/feedback", "seed_get_brand_feedback", "seed 003",
     "A customer's brand feedback",
     .query = "[" Q_ID("customerid", "The customer." SEED_KEYS) "]", .errors = E_INVALID,
     .answers = {{200, "[SeedFeedback]", "The feedback, in pk order."}}},
    {"GET", "/api/get/product/feedback", "seed_get_product_feedback", "seed 003",
     "A customer's product feedback",
     .query = "[" Q_ID("customerid", "The customer." SEED_KEYS) "]", .errors = E_INVALID,
     .answers = {{200, "[SeedFeedback]", "The feedback, in pk order."}}},
    {"POST", "/api/open/customer/request", "seed_open_ticket", "seed 003", "Open a ticket",
     .body = "SeedTicketCreate", .errors = E_BODY | E_STORE,
     .answers = {{201, "SeedTicket", "Opened."}}},
    {"POST", "/api/close/customer/request", "seed_close_ticket", "seed 003", "Close a ticket",
     .body = "SeedTicketClose", .errors = E_BODY | E_MISSING | E_CONFLICT | E_STORE,
     .answers = {{200, "SeedTicket", "Closed."}}},
    {"GET", "/api/get/customer/request", "seed_get_ticket", "seed 003", "One ticket",
     .query = "[" Q_ID("id", "The ticket." SEED_KEYS) "]", .errors = E_INVALID | E_MISSING,
     .answers = {{200, "SeedTicket", "The ticket."}}},
    {"GET", "/api/customer/export", "seed_export_customers", "seed 003",
     "Every customer as an xlsx workbook", .answers = {{200, XLSX, "The workbook."}}},
    {"GET", "/api/product/export", "seed_export_products", "seed 003",
     "Every product as an xlsx workbook", .answers = {{200, XLSX, "The workbook."}}},
};

static const struct route_doc *doc_of(const char *method, const char *path) {
  for (size_t i = 0; i < sizeof(route_docs) / sizeof(route_docs[0]); i++)
    if (!strcmp(route_docs[i].method, method) && !strcmp(route_docs[i].path, path))
      return &route_docs[i];
  return NULL;
}

/* The operation of a route of http.c's or http_seed.c's table. A route
 * route_docs does not describe is listed all the same. */
static void add_route(json_t *paths, const char *method, const char *path) {
  const struct route_doc *d = doc_of(method, path);
  char id[160], summary[160];
  if (!d) {
    size_t n = (size_t)snprintf(id, sizeof(id), "%s", method);
    for (const char *c = path; *c && n + 1 < sizeof(id); c++)
      id[n++] = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '_';
    id[n] = '\0';
    snprintf(summary, sizeof(summary), "%s %s", method, path);
  }
  unsigned errors = d ? d->errors : E_INVALID;
  json_t *op = operation(method, path, d ? d->id : id, d ? d->tag : "other",
                         d ? d->summary : summary, errors);
  if (d && d->query)
    add_params(op, J(d->query));
  if (d && d->list_of) {
    const struct idl_resource *res = idl_resource_find(d->list_of);
    if (res)
      add_params(op, list_params(res, 1));
  }
  if (d && d->body && !strncmp(d->body, "multipart:", 10))
    add_body(op, "multipart/form-data", schema_named(d->body + 10));
  else if (d && d->body)
    add_body(op, "application/json", schema_named(d->body));
  for (size_t i = 0; d && i < 3 && d->answers[i].status; i++)
    add_answer(op, d->answers[i].status, d->answers[i].what,
               d->answers[i].schema ? content_named(d->answers[i].schema) : NULL);
  if (!d)
    add_answer(op, 200, "The answer.", NULL);
  add_errors(op, errors);
  put_operation(paths, path, method, op);
}

/* ------------------------------------------------------------ the document */

static json_t *components(void) {
  json_t *schemas = json_object(), *responses = json_object();
  for (size_t i = 0; i < sizeof(fixed_schemas) / sizeof(fixed_schemas[0]); i++)
    json_object_set_new(schemas, fixed_schemas[i].name, J(fixed_schemas[i].schema));
  for (size_t i = 0; i < sizeof(error_answers) / sizeof(error_answers[0]); i++) {
    const struct error_answer *e = &error_answers[i];
    json_t *schema = e->status == 400
                         ? J("{'anyOf': [{'$ref': '#/components/schemas/FieldErrors'}, "
                             "{'$ref': '#/components/schemas/Detail'}]}")
                         : ref(SCHEMAS, "Detail");
    json_t *a = json_pack("{s:s, s:o}", "description", e->description, "content",
                          media("application/json", schema));
    if (e->header)
      json_object_set_new(a, "headers",
                          json_pack("{s:{s:s, s:{s:s}}}", e->header, "description",
                                    e->header_note, "schema", "type", "string"));
    json_object_set_new(responses, e->name, a);
  }
  json_t *security = J("{'tokenAuth': {'type': 'apiKey', 'in': 'header', 'name': "
                       "'Authorization', 'description': 'With --token-file, every route but "
                       "/healthz needs Authorization: Token T (or Bearer T). Roles: read (GET, "
                       "HEAD, POST /api/identify/, /metrics), write (read and every other "
                       "POST, PUT, PATCH, DELETE), admin (write and /erasure); an operation "
                       "names the role it needs.'}}");
  return json_pack("{s:o, s:o, s:o}", "schemas", schemas, "responses", responses,
                   "securitySchemes", security);
}

json_t *idl_openapi_document(void) {
  json_t *doc = J("{'openapi': '3.1.0', 'info': {'title': 'idlink', 'version': '1', "
                  "'description': 'Customer identity reconciliation: contacts that share an "
                  "email or a phone are one identity; customers, orders and seed 003s CRM "
                  "collections over it. JSON in and out; errors in the shape of Django REST "
                  "Framework. Every GET also answers HEAD. Under /api/v1/ the trailing slash "
                  "is optional.'}, 'security': [{'tokenAuth': []}], 'paths': {}}");
  json_t *comps = components();
  if (!doc || !comps) {
    json_decref(doc);
    json_decref(comps);
    return NULL;
  }
  json_t *paths = json_object_get(doc, "paths"), *schemas = json_object_get(comps, "schemas");
  /* The router tries http.c's table first, then the collections, then
   * seed 003's: the document lists them in that order. */
  const struct idl_route *routes;
  size_t n = idl_http_routes(&routes);
  for (size_t i = 0; i < n; i++)
    add_route(paths, routes[i].method, routes[i].path);
  for (size_t i = 0; i < idl_n_resources; i++)
    if (idl_resources[i]->ops)
      add_collection(paths, schemas, idl_resources[i]);
  const char *method, *path;
  for (size_t i = 0; i < idl_http_seed_routes(i, &method, &path); i++)
    add_route(paths, method, path);
  json_object_set_new(doc, "components", comps);
  return doc;
}

/* GET /openapi.json: built for each request (it is asked for rarely, and
 * the tables it reads are constant). */
int idl_handle_openapi(struct idl_req *r) {
  json_t *doc = idl_openapi_document();
  char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
  json_decref(doc);
  return idl_http_send_text(r, 200, text, text ? strlen(text) : 0);
}
