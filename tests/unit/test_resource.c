/* The generic layers of the resource layer on a temporary store: records,
 * values and their DRF messages, tables and index ranges, query filters. */
#include <lmdb.h>
#include <time.h>

#include "fixtures.h"
#include "filter_internal.h"
#include "res_internal.h"
#include "json.h"

/* Parses the JSON text of one value of customer field i. */
static const char *parse_field(int i, const char *json, struct idl_value *v) {
  static char msg[256];
  struct idl_errors e = {0};
  json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
  *v = (struct idl_value){.null = 1};
  idl_value_from_json(&idl_customers.fields[i], j, "f", v, &e);
  json_decref(j);
  snprintf(msg, sizeof(msg), "%s", e.n ? e.v[0].message : "");
  idl_errors_fini(&e);
  return msg;
}

static void test_values_and_messages(void) {
  struct idl_value v;
  ASSERT_STR(parse_field(CUSTOMER_EMAIL, "\" Jane@Example.COM \"", &v), "");
  ASSERT_STR(v.s, "jane@example.com");
  idl_value_clear(&v);
  ASSERT_STR(parse_field(CUSTOMER_EMAIL, "\"nope\"", &v), "Enter a valid email address.");
  ASSERT_STR(parse_field(CUSTOMER_EMAIL, "null", &v), "This field may not be null.");
  ASSERT_STR(parse_field(CUSTOMER_PHONE, "\"+90 (555) 555-55.55\"", &v), "");
  ASSERT_STR(v.s, "+905555555555");
  idl_value_clear(&v);
  ASSERT_STR(parse_field(CUSTOMER_PHONE, "\"12ab\"", &v), "Enter a valid phone number.");
  ASSERT_STR(parse_field(CUSTOMER_CHANNEL, "0", &v),
             "Ensure this value is greater than or equal to 1.");
  ASSERT_STR(parse_field(CUSTOMER_CHANNEL, "\"7\"", &v), "");
  ASSERT_EQ(v.i, 7);
  ASSERT_STR(parse_field(CUSTOMER_CHANNEL, "true", &v), "A valid integer is required.");
  ASSERT_STR(parse_field(CUSTOMER_IS_ACTIVE, "\"Yes\"", &v), "");
  ASSERT_EQ(v.i, 1);
  ASSERT_STR(parse_field(CUSTOMER_IS_ACTIVE, "\"maybe\"", &v), "Must be a valid boolean.");
  ASSERT_STR(parse_field(CUSTOMER_FIRST_NAME, "\"   \"", &v), "");
  ASSERT_STR(v.s, "");
  idl_value_clear(&v);
  ASSERT_STR(parse_field(CUSTOMER_CHANNEL_CODE, "\"\"", &v), "This field may not be blank.");
  ASSERT_STR(parse_field(CUSTOMER_CHANNEL_CODE, "12", &v), "");
  ASSERT_STR(v.s, "12"); /* DRF's CharField takes numbers as text */
  idl_value_clear(&v);
  ASSERT_STR(parse_field(CUSTOMER_GENDER, "\"other\"", &v), "\"other\" is not a valid choice.");
  ASSERT_STR(parse_field(CUSTOMER_DATE_OF_BIRTH, "\"2001-02-29\"", &v),
             "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.");
  ASSERT_STR(parse_field(CUSTOMER_DATE_JOINED, "\"2021-05-26T13:53:58.5859+03:00\"", &v), "");
  char buf[IDL_TIME_TEXT_MAX];
  idl_format_time_us(v.i, buf);
  ASSERT_STR(buf, "2021-05-26T10:53:58.585900Z");
  ASSERT_STR(parse_field(CUSTOMER_ATTRIBUTES, "[1]", &v),
             "Expected a dictionary of items but got type \"list\".");
}

static const char *money(const char *json) {
  static char out[256];
  struct idl_errors e = {0};
  struct idl_value v = {.null = 1};
  json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
  idl_value_from_json(&idl_orders.fields[ORDER_AMOUNT], j, "amount", &v, &e);
  json_decref(j);
  if (e.n) {
    snprintf(out, sizeof(out), "%s", e.v[0].message);
  } else {
    json_t *shown = idl_value_to_json(&idl_orders.fields[ORDER_AMOUNT], &v);
    snprintf(out, sizeof(out), "%s", json_string_value(shown));
    json_decref(shown);
  }
  idl_errors_fini(&e);
  return out;
}

static void test_money_is_exact(void) {
  ASSERT_STR(money("\"149.90\""), "149.90");
  ASSERT_STR(money("149.9"), "149.90");
  ASSERT_STR(money("12"), "12.00");
  ASSERT_STR(money("\"0.05\""), "0.05");
  ASSERT_STR(money("\"9999999999.99\""), "9999999999.99");
  ASSERT_STR(money("\"1.005\""), "Ensure that there are no more than 2 decimal places.");
  ASSERT_STR(money("\"1234567890123\""), "Ensure that there are no more than 12 digits in total.");
  ASSERT_STR(money("\"-1\""), "Ensure this value is greater than or equal to 0.");
  ASSERT_STR(money("\"abc\""), "A valid number is required.");
  ASSERT_STR(money("true"), "A valid number is required.");
}

/* A customer with these values, stored through the generic write path. */
static uint64_t add_customer(struct idl_store *s, const char *json) {
  struct idl_txn *txn;
  uint64_t pk = 0;
  struct idl_errors e = {0};
  json_t *body = json_loads(json, 0, NULL);
  if (idl_txn_begin_write(s, NULL, &txn))
    return 0;
  enum idl_err err = idl_write_create(txn, &idl_customers, body, "", idl_now_wall_us(), &e, &pk);
  json_decref(body);
  idl_errors_fini(&e);
  if (err) {
    idl_txn_abort(txn);
    return 0;
  }
  return idl_txn_commit(txn) ? 0 : pk;
}

static void test_record_round_trip_and_indexes(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  uint64_t pk = add_customer(t.s, "{\"email\":\"a@x.io\",\"channel\":2,\"channel_code\":\"c1\","
                                  "\"attributes\":{\"tier\":\"gold\"},\"gender\":\"female\"}");
  ASSERT_EQ(pk, 1);
  ASSERT_EQ(add_customer(t.s, "{\"email\":\"b@x.io\",\"channel\":2,\"channel_code\":\"c1\"}"), 0);
  ASSERT_EQ(add_customer(t.s, "{\"email\":\"b@x.io\",\"channel\":3,\"channel_code\":\"c1\"}"), 2);
  struct idl_txn *txn;
  struct idl_record rec;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  ASSERT_OK(idl_record_get(txn, &idl_customers, 1, &rec));
  ASSERT_STR(rec.v[CUSTOMER_EMAIL].s, "a@x.io");
  ASSERT_STR(rec.v[CUSTOMER_GENDER].s, "female");
  ASSERT_STR(rec.v[CUSTOMER_ATTRIBUTES].s, "{\"tier\":\"gold\"}");
  ASSERT_EQ(rec.v[CUSTOMER_IS_ACTIVE].i, 1);
  ASSERT_EQ(rec.v[CUSTOMER_PHONE].null, 1);
  idl_record_fini(&rec);
  uint64_t found = 0;
  ASSERT_OK(idl_customer_find_code(txn, 3, "c1", 0, &found));
  ASSERT_EQ(found, 2);
  ASSERT_OK(idl_customer_find_code(txn, 4, "c1", 0, &found));
  ASSERT_EQ(found, 0);
  idl_txn_abort(txn);
  test_store_close(&t);
}

/* The text a list page writes directly is the text json_dumps makes of the
 * record's json_t, byte for byte: escapes, unicode, dates, money, JSON
 * fields with real numbers, nulls. */
static void test_record_text_is_jansson_text(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  const char *names[] = {"plain", "quo\\\"te", "back\\\\slash", "new\\nline\\ttab",
                         "ctl\\u0001\\u001f\\u007f", "\\u00fc\\u6f22 \\ud83d\\ude00",
                         "slash/</script>"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char body[512];
    snprintf(body, sizeof(body),
             "{\"email\":\"u%zu@x.io\",\"channel\":1,\"channel_code\":\"c%zu\","
             "\"first_name\":\"%s\",\"extra_field\":{\"k\":\"%s\",\"r\":0.30000000000000004,"
             "\"big\":1e300,\"n\":[1,2.5,null,true]},\"date_of_birth\":\"1990-01-02\"}",
             i, i, names[i], names[i]);
    ASSERT_EQ(add_customer(t.s, body), i + 1);
  }
  struct idl_txn *txn;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  for (uint64_t pk = 1; pk <= sizeof(names) / sizeof(names[0]); pk++) {
    struct idl_record rec;
    ASSERT_OK(idl_record_get(txn, &idl_customers, pk, &rec));
    json_t *j = idl_record_to_json(&idl_customers, &rec);
    char *want = json_dumps(j, IDL_JSON_DUMP_FLAGS);
    struct idl_text got = {0};
    idl_record_put_json(&got, &idl_customers, &rec);
    ASSERT_EQ(got.failed, 0);
    ASSERT_STR(got.data, want);
    free(got.data);
    free(want);
    json_decref(j);
    /* Integers at their edges, as an INT or FK field may hold them. */
    int64_t edges[] = {-1, -9, 10, INT64_MAX, INT64_MIN};
    rec.v[CUSTOMER_CHANNEL].i = edges[pk % 5];
    j = idl_record_to_json(&idl_customers, &rec);
    want = json_dumps(j, IDL_JSON_DUMP_FLAGS);
    got = (struct idl_text){0};
    idl_record_put_json(&got, &idl_customers, &rec);
    ASSERT_STR(got.data, want);
    free(got.data);
    free(want);
    json_decref(j);
    idl_record_fini(&rec);
  }
  idl_txn_abort(txn);
  test_store_close(&t);
}

/* Times and dates are written digit by digit for years 0 to 9999; they must
 * read as printf wrote them, at every edge and across the whole range. */
static void test_time_text(void) {
  const int64_t day = 86400LL * 1000000;
  int64_t cases[] = {0, 1, 999999, 1000000, day - 1, day, -1, -day, -day - 1,
                     /* 0000-01-01 and 9999-12-31T23:59:59.999999 */
                     -62167219200LL * 1000000, 253402300799LL * 1000000 + 999999,
                     1795577234751120LL, 951782400LL * 1000000 /* 2000-02-29 */};
  char got[IDL_TIME_TEXT_MAX], want[IDL_TIME_TEXT_MAX];
  uint64_t x = 88172645463325252ULL;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) + 20000; i++) {
    int64_t us;
    if (i < sizeof(cases) / sizeof(cases[0])) {
      us = cases[i];
    } else { /* xorshift over the years 0 to 9999 */
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      us = -62167219200LL * 1000000 + (int64_t)(x % (315537897600ULL * 1000000));
    }
    idl_format_time_us(us, got);
    /* The C library's calendar as the reference. */
    int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
    time_t t = (time_t)secs;
    struct tm tm;
    ASSERT_NE(gmtime_r(&t, &tm), NULL);
    snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(us - secs * 1000000));
    ASSERT_STR(got, want);
    /* The contacts' form: the same instant cut to milliseconds. */
    char got_ms[IDL_ISO_TIME_LEN + 1], want_ms[IDL_TIME_TEXT_MAX];
    idl_format_time(us / 1000 - (us % 1000 < 0), got_ms);
    snprintf(want_ms, sizeof(want_ms), "%.19s.%03dZ", want, (int)((us - secs * 1000000) / 1000));
    ASSERT_STR(got_ms, want_ms);
    int64_t back = 0;
    if (tm.tm_year + 1900 >= 1) { /* the parser takes years 1 to 9999, as Python */
      ASSERT_EQ(idl_parse_datetime(got, &back), 0);
      ASSERT_EQ(back, us);
    }
  }
  char date[IDL_TIME_TEXT_MAX];
  idl_format_date(0, date);
  ASSERT_STR(date, "1970-01-01");
  idl_format_date(-719528, date);
  ASSERT_STR(date, "0000-01-01");
  idl_format_date(2932896, date);
  ASSERT_STR(date, "9999-12-31");
  idl_format_date(2932897, date); /* beyond: printf's form */
  ASSERT_STR(date, "10000-01-01");
}

struct counted {
  uint64_t count;
  uint64_t pks[16];
  size_t n;
};

static const char *run_query(struct idl_store *s, const char *query, struct counted *out) {
  static char msg[256];
  struct idl_errors e = {0};
  struct idl_query q;
  idl_query_parse(&idl_customers, query, NULL, &q, &e);
  msg[0] = '\0';
  if (idl_errors_any(&e)) {
    char *text = idl_errors_text(&e);
    snprintf(msg, sizeof(msg), "%d %s", e.status ? e.status : 400, text ? text : "");
    free(text);
  } else {
    struct idl_txn *txn;
    struct idl_page page;
    if (idl_txn_begin_read(s, &txn) || idl_query_page(txn, &idl_customers, &q, &page)) {
      snprintf(msg, sizeof(msg), "query failed");
    } else {
      out->count = page.count;
      out->n = page.n < 16 ? page.n : 16;
      for (size_t i = 0; i < out->n; i++)
        out->pks[i] = page.recs[i].pk;
      idl_page_fini(&page);
    }
    idl_txn_abort(txn);
  }
  idl_errors_fini(&e);
  idl_query_fini(&q);
  return msg;
}

static void test_filters_paging_ordering(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  for (int i = 1; i <= 12; i++) {
    char body[256];
    snprintf(body, sizeof(body),
             "{\"email\":\"%s%02d@x.io\",\"channel\":%d,\"channel_code\":\"k%d\","
             "\"is_active\":%s,\"attributes\":{\"n\":%d}}",
             i % 2 ? "odd" : "even", i, i % 3 + 1, i, i % 4 ? "true" : "false", i);
    ASSERT_EQ(add_customer(t.s, body), (uint64_t)i);
  }
  struct counted c;
  ASSERT_STR(run_query(t.s, "", &c), "");
  ASSERT_EQ(c.count, 12);
  ASSERT_EQ(c.n, 10);
  ASSERT_STR(run_query(t.s, "page=2", &c), "");
  ASSERT_EQ(c.n, 2);
  ASSERT_EQ(c.pks[0], 11);
  ASSERT_STR(run_query(t.s, "email__startswith=odd", &c), "");
  ASSERT_EQ(c.count, 6);
  ASSERT_STR(run_query(t.s, "email=EVEN04%40x.io", &c), "");
  ASSERT_EQ(c.count, 1);
  ASSERT_EQ(c.pks[0], 4);
  ASSERT_STR(run_query(t.s, "channel=1&channel=2&is_active=false", &c), "");
  ASSERT_EQ(c.count, 2); /* 4 (channel 2) and 12 (channel 1) */
  ASSERT_STR(run_query(t.s, "pk__gt=3&pk__lte=5", &c), "");
  ASSERT_EQ(c.count, 2);
  ASSERT_STR(run_query(t.s, "id__in=2,9,40", &c), "");
  ASSERT_EQ(c.count, 2);
  ASSERT_STR(run_query(t.s, "attributes__n=7", &c), "");
  ASSERT_EQ(c.count, 1);
  ASSERT_EQ(c.pks[0], 7);
  ASSERT_STR(run_query(t.s, "ordering=-email&limit=2", &c), "");
  ASSERT_EQ(c.pks[0], 11); /* odd11 */
  ASSERT_EQ(c.pks[1], 9);
  ASSERT_STR(run_query(t.s, "created_date__date=2001-01-01", &c), "");
  ASSERT_EQ(c.count, 0);
  ASSERT_STR(run_query(t.s, "created_date__gte=2001-01-01", &c), "");
  ASSERT_EQ(c.count, 12);
  ASSERT_STR(run_query(t.s, "colour=red", &c), "400 {\"detail\":\"Unknown query parameter \\\"colour\\\".\"}");
  ASSERT_STR(run_query(t.s, "email__contains=x", &c),
             "400 {\"detail\":\"Unknown query parameter \\\"email__contains\\\".\"}");
  ASSERT_STR(run_query(t.s, "ordering=colour", &c),
             "400 {\"detail\":\"Unknown ordering field \\\"colour\\\".\"}");
  ASSERT_STR(run_query(t.s, "created_date__gte=yesterday", &c),
             "400 {\"created_date__gte\":[\"Enter a valid date/time.\"]}");
  ASSERT_STR(run_query(t.s, "is_active=maybe", &c),
             "400 {\"is_active\":[\"Select a valid choice. maybe is not one of the available "
             "choices.\"]}");
  ASSERT_STR(run_query(t.s, "channel=one", &c), "400 {\"channel\":[\"Enter a number.\"]}");
  test_store_close(&t);
}

/* A window of one indexed field (gte and lt) reads one bounded range, and
 * counts from the index alone. */
static void test_range_window(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  for (int day = 1; day <= 9; day++) {
    char body[256];
    snprintf(body, sizeof(body),
             "{\"channel\":1,\"number\":\"N%d\",\"amount\":\"1.00\",\"currency\":\"TRY\","
             "\"created_date\":\"2023-01-0%dT10:00:00Z\",\"customer\":{\"email\":\"b@x.io\"}}",
             day, day);
    json_t *j = json_loads(body, 0, NULL);
    struct idl_write w = {.res = &idl_orders, .op = IDL_WRITE_CREATE, .body = j,
                          .now_us = idl_now_wall_us()};
    struct idl_txn *txn;
    ASSERT_OK(idl_txn_begin_write(t.s, NULL, &txn));
    ASSERT_OK(idl_write_apply(txn, &w));
    ASSERT_OK(idl_txn_commit(txn));
    json_decref(j);
    idl_errors_fini(&w.errors);
  }
  const struct {
    const char *query;
    uint64_t count, first;
  } cases[] = {
      {"created_date__gte=2023-01-03&created_date__lt=2023-01-06", 3, 3},
      {"created_date__gt=2023-01-03T10:00:00Z&created_date__lte=2023-01-06T10:00:00Z", 3, 4},
      {"created_date__lt=2023-01-06&created_date__gte=2023-01-05", 1, 5},
      {"created_date__gte=2023-01-08&created_date__lt=2023-01-03", 0, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct idl_errors e = {0};
    struct idl_query q;
    struct idl_page page;
    struct idl_txn *txn;
    idl_query_parse(&idl_orders, cases[i].query, NULL, &q, &e);
    ASSERT_EQ(idl_errors_any(&e), 0);
    ASSERT_OK(idl_txn_begin_read(t.s, &txn));
    ASSERT_OK(idl_query_page(txn, &idl_orders, &q, &page));
    idl_txn_abort(txn);
    ASSERT_EQ(page.count, cases[i].count);
    ASSERT_EQ(page.n ? page.recs[0].pk : 0, cases[i].first);
    idl_page_fini(&page);
    idl_query_fini(&q);
  }
  test_store_close(&t);
}

/* An index entry seen by a scan: its pk, and that its key ends in the code. */
struct seen_entries {
  const char *code;
  size_t n, wrong;
  uint64_t pks[16];
};

static enum idl_err see_entry(uint64_t pk, const void *key, size_t len, void *arg) {
  struct seen_entries *s = arg;
  size_t n = strlen(s->code);
  if (len != 8 + n || memcmp((const char *)key + 8, s->code, n))
    s->wrong++;
  if (s->n < 16)
    s->pks[s->n++] = pk;
  return IDL_ERR_OK;
}

/* channel_code alone is answered by the (channel, channel_code) index, one
 * seek per channel, and with an exact channel by one key of it; channels
 * whose keys differ in a carried byte (255, 256) are both found. */
static void test_code_across_channels(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  const int channels[] = {1, 2, 255, 256, 65535, 65536, INT32_MAX};
  const size_t n = sizeof(channels) / sizeof(channels[0]);
  uint64_t pk_of[8] = {0};
  for (size_t i = 0; i < n; i++) {
    const char *codes[] = {"j", "k", "k0", "l"};
    for (size_t c = 0; c < 4; c++) {
      if (c == 2 && channels[i] != 255 && channels[i] != 65536)
        continue;
      char body[160];
      snprintf(body, sizeof(body), "{\"email\":\"%s.%zu@x.io\",\"channel\":%d,\"channel_code\":\"%s\"}",
               codes[c], i, channels[i], codes[c]);
      uint64_t pk = add_customer(t.s, body);
      ASSERT_EQ(pk != 0, 1);
      if (c == 1)
        pk_of[i] = pk;
    }
  }
  struct counted c;
  ASSERT_STR(run_query(t.s, "channel_code=k", &c), "");
  ASSERT_EQ(c.count, n);
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ(c.pks[i], pk_of[i]);
  ASSERT_STR(run_query(t.s, "channel_code=k0", &c), "");
  ASSERT_EQ(c.count, 2);
  ASSERT_STR(run_query(t.s, "channel_code=k&channel=256", &c), "");
  ASSERT_EQ(c.count, 1);
  ASSERT_EQ(c.pks[0], pk_of[3]);
  ASSERT_STR(run_query(t.s, "channel=256&channel_code=k", &c), "");
  ASSERT_EQ(c.count, 1);
  ASSERT_EQ(c.pks[0], pk_of[3]);
  ASSERT_STR(run_query(t.s, "channel=3&channel_code=k", &c), "");
  ASSERT_EQ(c.count, 0);
  ASSERT_STR(run_query(t.s, "channel_code=zz", &c), "");
  ASSERT_EQ(c.count, 0);

  /* The scan itself meets only the entries of the code. */
  size_t index = (size_t)idl_customers.fields[CUSTOMER_CHANNEL_CODE].index;
  struct idl_range r = idl_range_exact("k", 1);
  r.lead = 8;
  struct seen_entries all = {.code = "k"}, one = {.code = "k"};
  struct idl_txn *txn;
  ASSERT_OK(idl_txn_begin_read(t.s, &txn));
  ASSERT_OK(idl_table_index_scan(txn, idl_resource_table(&idl_customers), index, &r, see_entry,
                                 &all));
  unsigned char lead[8];
  idl_key_int(65535, lead);
  r.lead_key = lead;
  ASSERT_OK(idl_table_index_scan(txn, idl_resource_table(&idl_customers), index, &r, see_entry,
                                 &one));
  idl_txn_abort(txn);
  ASSERT_EQ(all.n, n);
  ASSERT_EQ(all.wrong, 0);
  ASSERT_EQ(one.n, 1);
  ASSERT_EQ(one.wrong, 0);
  ASSERT_EQ(one.pks[0], pk_of[4]);
  test_store_close(&t);
}

/* Every reader of query strings walks and decodes them one way: empty
 * parts, parts without '=', form encoding, a '%' without two hex digits, a
 * NUL byte. */
static void test_query_parts(void) {
  const char *s = "a=1&&b&=x&c%3D=%41+%2b%4&d=%00&";
  const struct {
    const char *name, *value; /* value NULL: no '=' */
    int nul;
  } want[] = {{"a", "1", 0}, {"", NULL, 0}, {"b", NULL, 0}, {"", "x", 0},
              {"c=", "A +%4", 0}, {"d", "", 1}};
  struct idl_query_part p;
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    ASSERT_EQ(idl_query_next(&s, &p), 1);
    char *name, *value;
    int nul_name, nul_value;
    ASSERT_EQ(idl_query_part_decode(&p, &name, &nul_name, &value, &nul_value), 0);
    ASSERT_STR(name, want[i].name);
    ASSERT_EQ(p.value != NULL, want[i].value != NULL);
    ASSERT_STR(value, want[i].value ? want[i].value : "");
    ASSERT_EQ(nul_name, 0);
    ASSERT_EQ(nul_value, want[i].nul);
    free(name);
    free(value);
  }
  ASSERT_EQ(idl_query_next(&s, &p), 0);
  const char *none = NULL;
  ASSERT_EQ(idl_query_next(&none, &p), 0);
}

/* The store as an older version left it: schema_version set to version, an
 * index database of its own ("i.customers.channel_code") beside the declared
 * ones. */
static void make_older(const char *dir, uint64_t version) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi, meta;
  MDB_val k = {3, "abc"}, v = {8, "\0\0\0\0\0\0\0\1"};
  MDB_val vk = {14, "schema_version"}, vv = {sizeof(version), &version};
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 64), 0);
  ASSERT_EQ(mdb_env_open(env, dir, 0, 0640), 0);
  ASSERT_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "i.customers.channel_code", MDB_CREATE | MDB_DUPSORT, &dbi), 0);
  ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  ASSERT_EQ(mdb_put(txn, meta, &vk, &vv, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

/* Whether the store in dir has database name, and its schema version. */
static int has_db(const char *dir, const char *name, uint64_t *version) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi, meta;
  MDB_val vk = {14, "schema_version"}, vv;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 64), 0);
  ASSERT_EQ(mdb_env_open(env, dir, MDB_RDONLY, 0640), 0);
  ASSERT_EQ(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
  int found = mdb_dbi_open(txn, name, 0, &dbi) == 0;
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  ASSERT_EQ(mdb_get(txn, meta, &vk, &vv), 0);
  ASSERT_EQ(vv.mv_size, sizeof(*version));
  memcpy(version, vv.mv_data, sizeof(*version));
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return found;
}

/* A store of schema version 1 opened for writing: its retired index is
 * dropped, its records and declared indexes stay and answer, and it becomes
 * version 2, which an idlinkd of version 1 refuses. Opened read-only it is
 * read as it is. A version from the future is refused. */
static void test_older_store_is_brought_up(void) {
  struct test_store t;
  ASSERT_EQ(test_store_open(&t, 0), 0);
  ASSERT_EQ(add_customer(t.s, "{\"email\":\"a@x.io\",\"channel\":1,\"channel_code\":\"c\"}"), 1);
  ASSERT_EQ(add_customer(t.s, "{\"email\":\"b@x.io\",\"channel\":2,\"channel_code\":\"c\"}"), 2);
  idl_store_close(t.s);
  t.s = NULL;
  make_older(t.dir, 1);
  uint64_t version = 0;
  struct idl_store_opts ro = {.read_only = 1}, rw = {.exclusive = 1};
  ASSERT_OK(idl_store_open(t.dir, &ro, &t.s));
  idl_store_close(t.s);
  ASSERT_EQ(has_db(t.dir, "i.customers.channel_code", &version), 1);
  ASSERT_EQ(version, 1);

  ASSERT_OK(idl_store_open(t.dir, &rw, &t.s));
  struct counted c;
  ASSERT_STR(run_query(t.s, "channel_code=c", &c), "");
  ASSERT_EQ(c.count, 2);
  ASSERT_STR(run_query(t.s, "email=b%40x.io", &c), "");
  ASSERT_EQ(c.count, 1);
  idl_store_close(t.s);
  t.s = NULL;
  ASSERT_EQ(has_db(t.dir, "i.customers.channel_code", &version), 0);
  ASSERT_EQ(version, IDL_SCHEMA_VERSION);
  ASSERT_EQ(has_db(t.dir, "i.customers.channel+channel_code", &version), 1);

  make_older(t.dir, IDL_SCHEMA_VERSION + 1);
  ASSERT_EQ(idl_store_open(t.dir, &rw, &t.s), IDL_ERR_VERSION);
  ASSERT_EQ(idl_store_open(t.dir, &ro, &t.s), IDL_ERR_VERSION);
  make_older(t.dir, IDL_SCHEMA_VERSION);
  ASSERT_OK(idl_store_open(t.dir, &rw, &t.s));
  test_store_close(&t);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_values_and_messages);
  RUN(test_money_is_exact);
  RUN(test_record_round_trip_and_indexes);
  RUN(test_record_text_is_jansson_text);
  RUN(test_time_text);
  RUN(test_filters_paging_ordering);
  RUN(test_range_window);
  RUN(test_code_across_channels);
  RUN(test_query_parts);
  RUN(test_older_store_is_brought_up);
  return TEST_EXIT();
}
