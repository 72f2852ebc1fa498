/* The file readers of bulk import (sheet.c): the rows and cells each kind
 * hands over, their row numbers, and the refusals of files that cannot be
 * read. Workbooks written by real spreadsheet writers are read in the
 * end-to-end tests; here the xlsx parts are written by hand to reach the
 * corners of the format (rich text, inline strings, gaps, prefixes). */
#include <zip.h>

#include "sheet_internal.h"
#include "test.h"

/* The rows read, as "R:type text|type text;" with types e(mpty) t(ext)
 * n(umber) b(ool) d(ate). */
struct seen {
  char out[4096];
  size_t len;
};

static enum idl_err collect(void *arg, uint64_t row, const struct idl_cell *cells, size_t n) {
  struct seen *s = arg;
  s->len += (size_t)snprintf(s->out + s->len, sizeof(s->out) - s->len, "%llu:",
                             (unsigned long long)row);
  for (size_t i = 0; i < n; i++)
    s->len += (size_t)snprintf(s->out + s->len, sizeof(s->out) - s->len, "%s%c%s",
                               i ? "|" : "", "etnbd"[cells[i].type], cells[i].text);
  s->len += (size_t)snprintf(s->out + s->len, sizeof(s->out) - s->len, ";");
  return IDL_ERR_OK;
}

static char dir[] = "/tmp/idlink-test-sheet-XXXXXX";

static const char *write_file(const char *name, const void *data, size_t len) {
  static char path[256];
  if (!mkdtemp(dir) && dir[strlen(dir) - 1] == 'X')
    FAIL_AT("mkdtemp failed");
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
    FAIL_AT("cannot write %s", path);
  return path;
}

static void cleanup(const char *path) {
  unlink(path);
  rmdir(dir);
  strcpy(dir + strlen(dir) - 6, "XXXXXX");
}

/* Reads text through the reader; returns its error, the rows in s. */
static enum idl_err read_text(const char *text, struct seen *s, char *why, size_t why_len,
                              struct idl_sheet *sheet) {
  const char *path = write_file("upload", text, strlen(text));
  memset(s, 0, sizeof(*s));
  why[0] = '\0';
  enum idl_err err = idl_sheet_read(path, collect, s, sheet, why, why_len);
  cleanup(path);
  return err;
}

static void expect_rows(const char *text, const char *rows) {
  struct seen s;
  char why[320];
  struct idl_sheet sheet;
  ASSERT_OK(read_text(text, &s, why, sizeof(why), &sheet));
  ASSERT_EQ(sheet.kind, IDL_SHEET_TEXT);
  ASSERT_STR(s.out, rows);
}

static void expect_refused(const char *text, const char *why_prefix) {
  struct seen s;
  char why[320];
  struct idl_sheet sheet;
  ASSERT_EQ(read_text(text, &s, why, sizeof(why), &sheet), IDL_ERR_INVAL);
  if (strncmp(why, why_prefix, strlen(why_prefix)) != 0)
    FAIL_AT("expected a reason beginning \"%s\", got \"%s\"", why_prefix, why);
}

static void test_csv_quotes_and_row_numbers(void) {
  expect_rows("Jane Doe,jane@example.com\n\"Doe, John\",\"line\nbreak\"\nlast,x",
              "1:tJane Doe|tjane@example.com;2:tDoe, John|tline\nbreak;3:tlast|tx;");
}

static void test_separator_from_the_first_line(void) {
  expect_rows("a;b;c\nd;e,f;g\n", "1:ta|tb|tc;2:td|te,f|tg;");
  expect_rows("a\tb\tc\n", "1:ta|tb|tc;");
  expect_rows("\"x;y\",z\n", "1:tx;y|tz;"); /* a quoted semicolon does not count */
}

static void test_bom_crlf_and_blank_lines(void) {
  expect_rows("\xEF\xBB\xBFTom;tom@x.com\r\n\r\nTim;tim@x.com\r\n", "1:tTom|ttom@x.com;3:tTim|ttim@x.com;");
  expect_rows("a,b\rc,d\r", "1:ta|tb;2:tc|td;");
  expect_rows(",,\nx\n", "2:tx;"); /* a row of empty cells is not handed over */
}

static void test_text_refusals(void) {
  expect_refused("a,b\n\"open,x\n", "The file is not a valid csv file: the quote opened in row 2");
  expect_refused("Ja\"ne,x\n", "The file is not a valid csv file: row 1 has a quote");
  expect_refused("ok,fine\nJos\xe9,x\n", "The file is not a valid csv file: row 2 is not UTF-8");
}

/* A NUL would end a cell's text early: a file holding one is not UTF-8
 * text (here UTF-16, as Excel's Unicode Text without its byte order mark). */
static void test_text_with_nul_refused(void) {
  static const char utf16[] = "J\0a\0n\0e\0,\0j\0@\0x\0.\0i\0o\0\n\0";
  const char *path = write_file("upload", utf16, sizeof(utf16) - 1);
  struct seen s = {0};
  char why[320] = "";
  struct idl_sheet sheet;
  ASSERT_EQ(idl_sheet_read(path, collect, &s, &sheet, why, sizeof(why)), IDL_ERR_INVAL);
  ASSERT_STR(why, "The file is not a valid csv file: row 1 is not UTF-8 (save the file as UTF-8 "
                  "text).");
  ASSERT_STR(s.out, "");
  cleanup(path);
}

/* Writes an xlsx of the parts given (name, text pairs, NULL-ended). */
static const char *write_zip(const char *const *parts) {
  const char *path = write_file("book", "", 0);
  unlink(path);
  int code = 0;
  zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!z)
    FAIL_AT("zip_open: %d", code);
  for (size_t i = 0; parts[i]; i += 2) {
    zip_source_t *src = zip_source_buffer(z, parts[i + 1], strlen(parts[i + 1]), 0);
    if (!src || zip_file_add(z, parts[i], src, ZIP_FL_OVERWRITE) < 0)
      FAIL_AT("zip_file_add %s", parts[i]);
  }
  if (zip_close(z) != 0)
    FAIL_AT("zip_close");
  return path;
}

#define WORKBOOK                                                                           \
  "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "        \
  "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"      \
  "<sheets><sheet name=\"Customers\" sheetId=\"1\" r:id=\"rId7\"/>"                        \
  "<sheet name=\"Other\" sheetId=\"2\" r:id=\"rId8\"/></sheets></workbook>"
#define RELS                                                                               \
  "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">" \
  "<Relationship Id=\"rId8\" Target=\"worksheets/other.xml\"/>"                            \
  "<Relationship Id=\"rId7\" Target=\"/xl/worksheets/first.xml\"/></Relationships>"

static void test_xlsx_cells(void) {
  const char *parts[] = {
      "xl/workbook.xml", WORKBOOK,
      "xl/_rels/workbook.xml.rels", RELS,
      "xl/sharedStrings.xml",
      "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
      "<si><t>Name</t></si>"
      "<si><r><t>Jane </t></r><r><rPr><b/></rPr><t>Doe</t></r><rPh><t>JD</t></rPh></si>"
      "<si><t xml:space=\"preserve\"> &amp;&lt;\xC3\x87 </t></si></sst>",
      "xl/worksheets/first.xml",
      /* a prefixed namespace, a skipped row, a gap, every cell type */
      "<x:worksheet xmlns:x=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
      "<x:sheetData><x:row r=\"1\"><x:c r=\"A1\" t=\"s\"><x:v>0</x:v></x:c></x:row>"
      "<x:row r=\"3\"><x:c r=\"A3\" t=\"s\"><x:v>1</x:v></x:c>"
      "<x:c r=\"C3\" t=\"inlineStr\"><x:is><x:t>in</x:t><x:t>line</x:t></x:is></x:c>"
      "<x:c r=\"D3\"><x:v>905551234567</x:v></x:c><x:c r=\"E3\" t=\"b\"><x:v>1</x:v></x:c>"
      "<x:c r=\"F3\"><x:v>45356</x:v></x:c><x:c r=\"G3\"><x:v>0.30000000000000004</x:v></x:c>"
      "<x:c r=\"H3\" t=\"d\"><x:v>2024-03-05T00:00:00</x:v></x:c>"
      "<x:c r=\"I3\" t=\"e\"><x:v>#N/A</x:v></x:c><x:c r=\"J3\" t=\"s\"><x:v>2</x:v></x:c>"
      "</x:row><x:row><x:c t=\"str\"><x:v>formula</x:v></x:c></x:row></x:sheetData>"
      "</x:worksheet>",
      "xl/worksheets/other.xml", "<worksheet><sheetData><row r=\"1\"><c t=\"inlineStr\">"
      "<is><t>wrong sheet</t></is></c></row></sheetData></worksheet>",
      NULL};
  const char *path = write_zip(parts);
  struct seen s = {0};
  char why[320] = "";
  struct idl_sheet sheet;
  ASSERT_OK(idl_sheet_read(path, collect, &s, &sheet, why, sizeof(why)));
  ASSERT_EQ(sheet.kind, IDL_SHEET_XLSX);
  ASSERT_STR(s.out, "1:tName;3:tJane Doe|e|tinline|n905551234567|b1|n45356|n0.3|d2024-03-05|e|"
                    "t&<\xC3\x87;4:tformula;");
  ASSERT_EQ(sheet.date1904, 0);
  cleanup(path);
}

/* Serial dates of both date systems: 2024-01-01 is day 19723. */
static void test_serial_dates(void) {
  const char *parts[] = {
      "xl/workbook.xml",
      "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
      "<workbookPr date1904=\"1\"/><sheets><sheet name=\"S\" sheetId=\"1\"/></sheets>"
      "</workbook>",
      "xl/worksheets/sheet1.xml",
      "<worksheet><sheetData><row><c><v>43830</v></c></row></sheetData></worksheet>", NULL};
  const char *path = write_zip(parts);
  struct seen s = {0};
  char why[320] = "";
  struct idl_sheet sheet;
  ASSERT_OK(idl_sheet_read(path, collect, &s, &sheet, why, sizeof(why)));
  ASSERT_STR(s.out, "1:n43830;"); /* no relationships: the first sheet's usual part */
  ASSERT_EQ(sheet.date1904, 1);
  ASSERT_EQ(idl_sheet_serial_day(&sheet, 43830), 19723);
  sheet.date1904 = 0;
  ASSERT_EQ(idl_sheet_serial_day(&sheet, 45292.75), 19723);
  cleanup(path);
}

/* A date cell's day: the white space around it is not its value, and its
 * ten bytes never end inside a character. */
static void test_xlsx_date_cells(void) {
  const char *parts[] = {
      "xl/workbook.xml", "<workbook><sheets><sheet name=\"S\" sheetId=\"1\"/></sheets></workbook>",
      "xl/worksheets/sheet1.xml",
      "<worksheet><sheetData><row><c t=\"d\"><v> 2024-03-05T10:00:00 </v></c>"
      "<c t=\"d\"><v>2024-03-0\xCE\xA9</v></c><c t=\"d\"><v>  </v></c></row></sheetData>"
      "</worksheet>", NULL};
  const char *path = write_zip(parts);
  struct seen s = {0};
  char why[320] = "";
  struct idl_sheet sheet;
  ASSERT_OK(idl_sheet_read(path, collect, &s, &sheet, why, sizeof(why)));
  ASSERT_STR(s.out, "1:d2024-03-05|d2024-03-0|e;");
  cleanup(path);
}

static void expect_zip_refused(const char *const *parts, const char *why_prefix) {
  const char *path = write_zip(parts);
  struct seen s = {0};
  char why[320] = "";
  struct idl_sheet sheet;
  ASSERT_EQ(idl_sheet_read(path, collect, &s, &sheet, why, sizeof(why)), IDL_ERR_INVAL);
  ASSERT_EQ(sheet.kind, IDL_SHEET_XLSX);
  if (strncmp(why, why_prefix, strlen(why_prefix)) != 0)
    FAIL_AT("expected a reason beginning \"%s\", got \"%s\"", why_prefix, why);
  cleanup(path);
}

static void test_xlsx_refusals(void) {
  const char *not_a_workbook[] = {"notes.txt", "hello", NULL};
  expect_zip_refused(not_a_workbook, "The file is not a valid xlsx workbook: it has no "
                                     "xl/workbook.xml");
  const char *bad_xml[] = {"xl/workbook.xml", WORKBOOK, "xl/_rels/workbook.xml.rels", RELS,
                           "xl/worksheets/first.xml", "<worksheet><sheetData><row>", NULL};
  expect_zip_refused(bad_xml, "The file is not a valid xlsx workbook: xl/worksheets/first.xml "
                              "is not well-formed XML at line 1");
  const char *bad_shared[] = {"xl/workbook.xml", WORKBOOK, "xl/_rels/workbook.xml.rels", RELS,
                              "xl/worksheets/first.xml",
                              "<worksheet><sheetData><row><c t=\"s\"><v>3</v></c></row>"
                              "</sheetData></worksheet>", NULL};
  expect_zip_refused(bad_shared, "The file is not a valid xlsx workbook: row 1 names shared "
                                 "string 3");
}

static void test_kind_from_content(void) {
  /* A compound document's signature makes an xls, whatever follows. */
  static const char cfbf[] = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 and then nothing";
  const char *path = write_file("data.csv", cfbf, sizeof(cfbf) - 1);
  struct seen s = {0};
  char why[320] = "";
  struct idl_sheet sheet;
  ASSERT_EQ(idl_sheet_read(path, collect, &s, &sheet, why, sizeof(why)), IDL_ERR_INVAL);
  ASSERT_EQ(sheet.kind, IDL_SHEET_XLS);
  ASSERT_EQ(strncmp(why, "The file is not a valid xls workbook: ", 38), 0);
  cleanup(path);
  /* A truncated zip is still a zip. */
  path = write_file("data.txt", "PK\x03\x04truncated", 13);
  ASSERT_EQ(idl_sheet_read(path, collect, &s, &sheet, why, sizeof(why)), IDL_ERR_INVAL);
  ASSERT_EQ(sheet.kind, IDL_SHEET_XLSX);
  cleanup(path);
}

int main(int argc, char **argv) {
  TEST_INIT(argc, argv);
  RUN(test_csv_quotes_and_row_numbers);
  RUN(test_separator_from_the_first_line);
  RUN(test_bom_crlf_and_blank_lines);
  RUN(test_text_refusals);
  RUN(test_text_with_nul_refused);
  RUN(test_xlsx_cells);
  RUN(test_serial_dates);
  RUN(test_xlsx_date_cells);
  RUN(test_xlsx_refusals);
  RUN(test_kind_from_content);
  TEST_EXIT();
}
