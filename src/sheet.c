/* The rows of an uploaded file, whatever its kind (SPEC section 9's bulk
 * import): a zip is an xlsx workbook, read with libzip and expat; a compound
 * document is an xls workbook, read with freexl; anything else is text, csv
 * or txt, read with libcsv, its separator (comma, semicolon or tab) found
 * from the first line. Each reader hands rows to the caller as they come. */
#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <expat.h>
#include <freexl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include "idlink/log.h"
#include "idlink/normalize.h"
#include "json.h"
#include "sheet_internal.h"

/* The longest text one cell may hold (Excel's own limit is 32767
 * characters). */
#define CELL_MAX_BYTES (128 * 1024)
/* An xlsx's shared strings are held in memory; a table larger than this is
 * refused rather than grown without end. */
#define SHARED_MAX_BYTES ((size_t)512 << 20)
#define CHUNK 65536

const char *idl_sheet_kind_name(enum idl_sheet_kind kind) {
  return kind == IDL_SHEET_XLSX ? "xlsx" : kind == IDL_SHEET_XLS ? "xls" : "csv";
}

/* ------------------------------------------------------------ one row */

/* The cells of the row being read: their texts in one growing buffer. */
struct row {
  enum idl_cell_type type[IDL_SHEET_MAX_COLUMNS];
  size_t off[IDL_SHEET_MAX_COLUMNS]; /* text of column i at buf + off[i] */
  size_t n;                          /* columns set, gaps included */
  struct idl_text buf;               /* the texts, each ending in a NUL */
};

static void row_clear(struct row *w) {
  w->n = 0;
  w->buf.len = 0;
}

static size_t row_append(struct row *w, const char *s, size_t len) {
  size_t at = w->buf.len;
  idl_text_put(&w->buf, s, len);
  idl_text_put(&w->buf, "", 1);
  return at;
}

/* Writes a number's text as the API would read it: integers without a
 * point, others with at most 15 significant digits (a float's 0.1 + 0.2
 * comes out as 0.3). Returns 0, or -1 when s is not a number. */
static int format_number(double v, char *out, size_t cap) {
  if (!isfinite(v))
    return -1;
  if (v == floor(v) && fabs(v) < 1e15)
    snprintf(out, cap, "%.0f", v);
  else
    snprintf(out, cap, "%.15g", v);
  return 0;
}

/* Sets column col of the row (columns past the last one kept are dropped). */
static void row_set(struct row *w, size_t col, enum idl_cell_type type, const char *s,
                    size_t len) {
  if (col >= IDL_SHEET_MAX_COLUMNS)
    return;
  char num[64];
  if (type == IDL_CELL_NUMBER) {
    char *end;
    char text[64];
    snprintf(text, sizeof(text), "%.*s", (int)(len < 63 ? len : 63), s);
    double v = strtod(text, &end);
    if (end == text || *end || format_number(v, num, sizeof(num)) != 0)
      type = IDL_CELL_TEXT; /* kept as written */
    else
      s = num, len = strlen(num);
  }
  if (type == IDL_CELL_TEXT || type == IDL_CELL_DATE) { /* white space around is no value */
    while (len && isspace((unsigned char)*s))
      s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
      len--;
  }
  while (w->n < col) { /* the gap before col: empty cells */
    w->type[w->n] = IDL_CELL_EMPTY;
    w->off[w->n++] = row_append(w, "", 0);
  }
  size_t at = row_append(w, s, len);
  if (col < w->n) { /* set twice: the later one wins */
    w->off[col] = at;
  } else {
    w->off[col] = at;
    w->n = col + 1;
  }
  w->type[col] = len ? type : IDL_CELL_EMPTY;
}

/* Hands the row to fn unless every cell is empty. */
static enum idl_err row_emit(struct row *w, uint64_t number, idl_sheet_row_fn fn, void *arg) {
  if (w->buf.failed)
    return IDL_ERR_NOMEM;
  struct idl_cell cells[IDL_SHEET_MAX_COLUMNS];
  int any = 0;
  for (size_t i = 0; i < w->n; i++) {
    cells[i] = (struct idl_cell){w->type[i], w->buf.data + w->off[i]};
    any |= w->type[i] != IDL_CELL_EMPTY;
  }
  enum idl_err err = any ? fn(arg, number, cells, w->n) : IDL_ERR_OK;
  row_clear(w);
  return err;
}

static enum idl_err refuse(char *why, size_t why_len, enum idl_sheet_kind kind,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum idl_err refuse(char *why, size_t why_len, enum idl_sheet_kind kind,
                           const char *fmt, ...) {
  int n = snprintf(why, why_len, "The file is not a valid %s %s: ", idl_sheet_kind_name(kind),
                   kind == IDL_SHEET_TEXT ? "file" : "workbook");
  if (n > 0 && (size_t)n < why_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + n, why_len - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return IDL_ERR_INVAL;
}

/* ------------------------------------------------------------ csv, txt */

struct text_read {
  struct row row;
  uint64_t number;  /* rows seen, blank lines included */
  int last_term;    /* the character that ended the previous row */
  int bad_utf8;     /* the row holding bytes that are not UTF-8 */
  int too_long;
  idl_sheet_row_fn fn;
  void *arg;
  enum idl_err err; /* fn's, which stops the read */
};

static void text_field(void *s, size_t len, void *data) {
  struct text_read *t = data;
  if (t->err || t->bad_utf8 || t->too_long)
    return;
  if (len > CELL_MAX_BYTES) {
    t->too_long = 1;
    return;
  }
  /* A NUL is no text's (it would end the cell's text early): a file of
   * them is most likely UTF-16, which the message asks to save as UTF-8. */
  if (!idl_utf8_valid(s, len) || (len && memchr(s, '\0', len))) {
    t->bad_utf8 = 1;
    return;
  }
  row_set(&t->row, t->row.n, IDL_CELL_TEXT, s ? s : "", len);
}

static void text_row(int term, void *data) {
  struct text_read *t = data;
  if (t->err || t->bad_utf8 || t->too_long)
    return;
  if (t->row.n == 0 && term == '\n' && t->last_term == '\r') {
    t->last_term = 0; /* the LF of a CRLF that ended the row before */
    return;
  }
  t->number++;
  t->last_term = term;
  t->err = row_emit(&t->row, t->number, t->fn, t->arg);
}

/* The separator: whichever of comma, semicolon and tab the first line
 * holds most of outside quotes (a comma when none). */
static unsigned char find_delimiter(const char *s, size_t len) {
  size_t commas = 0, semicolons = 0, tabs = 0;
  int quoted = 0;
  for (size_t i = 0; i < len && (quoted || (s[i] != '\n' && s[i] != '\r')); i++) {
    if (s[i] == '"')
      quoted = !quoted;
    else if (!quoted)
      commas += s[i] == ',', semicolons += s[i] == ';', tabs += s[i] == '\t';
  }
  if (tabs > commas && tabs >= semicolons)
    return '\t';
  return semicolons > commas ? ';' : ',';
}

static enum idl_err read_text(FILE *f, idl_sheet_row_fn fn, void *arg, char *why,
                              size_t why_len) {
  char *buf = malloc(CHUNK);
  struct csv_parser p;
  if (!buf || csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL | CSV_APPEND_NULL)) {
    free(buf);
    return IDL_ERR_NOMEM;
  }
  struct text_read t = {.fn = fn, .arg = arg};
  enum idl_err err = IDL_ERR_OK;
  size_t got;
  int first = 1;
  while (!err && (got = fread(buf, 1, CHUNK, f)) > 0) {
    const char *s = buf;
    if (first) {
      first = 0;
      if (got >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
        s += 3, got -= 3;
      csv_set_delim(&p, find_delimiter(s, got));
    }
    size_t used = csv_parse(&p, s, got, text_field, text_row, &t);
    if (t.err)
      err = t.err;
    else if (used != got || csv_error(&p) != CSV_SUCCESS)
      err = csv_error(&p) == CSV_EPARSE
                ? refuse(why, why_len, IDL_SHEET_TEXT,
                         "row %llu has a quote inside a field that is not quoted, or text "
                         "after a closing quote.", (unsigned long long)t.number + 1)
                : IDL_ERR_NOMEM;
  }
  if (!err && ferror(f))
    err = IDL_ERR_IO;
  if (!err && csv_fini(&p, text_field, text_row, &t) != 0)
    err = refuse(why, why_len, IDL_SHEET_TEXT, "the quote opened in row %llu is never closed.",
                 (unsigned long long)t.number + 1);
  if (!err && t.err)
    err = t.err;
  if (!err && t.bad_utf8)
    err = refuse(why, why_len, IDL_SHEET_TEXT, "row %llu is not UTF-8 (save the file as "
                 "UTF-8 text).", (unsigned long long)t.number + 1);
  if (!err && t.too_long)
    err = refuse(why, why_len, IDL_SHEET_TEXT, "a field of row %llu is longer than %d bytes.",
                 (unsigned long long)t.number + 1, CELL_MAX_BYTES);
  csv_free(&p);
  free(buf);
  free(t.row.buf.data);
  return err;
}

/* ------------------------------------------------------------------ xls */

static const char *freexl_why(int code) {
  switch (code) {
  case FREEXL_INSUFFICIENT_MEMORY: return "out of memory";
  case FREEXL_INVALID_CFBF_HEADER:
  case FREEXL_CFBF_INVALID_SIGNATURE: return "its compound document header is damaged";
  case FREEXL_CFBF_READ_ERROR:
  case FREEXL_CFBF_SEEK_ERROR: return "it ends early (the file is truncated)";
  case FREEXL_CFBF_INVALID_SECTOR_SIZE:
  case FREEXL_CFBF_EMPTY_FAT_CHAIN:
  case FREEXL_CFBF_ILLEGAL_FAT_ENTRY:
  case FREEXL_INVALID_MINI_STREAM:
  case FREEXL_CFBF_ILLEGAL_MINI_FAT_ENTRY: return "its sector tables are damaged";
  case FREEXL_BIFF_INVALID_BOF:
  case FREEXL_BIFF_WORKBOOK_NOT_FOUND: return "it holds no workbook stream";
  case FREEXL_BIFF_INVALID_SST:
  case FREEXL_BIFF_ILLEGAL_SST_INDEX: return "its string table is damaged";
  case FREEXL_INVALID_CHARACTER:
  case FREEXL_UNSUPPORTED_CHARSET: return "its text is in a character set that cannot be read";
  case FREEXL_CRAFTED_FILE: return "it is damaged";
  default: return "it cannot be read";
  }
}

/* The cells of the first sheet of the xls at path, written to out as the
 * reader's stream: "C row col type len" and len bytes for a cell, "R row"
 * at the end of a row, "E message" when the file cannot be read. freexl
 * runs here, in the idlink-xls process of each upload: Debian's freexl 1.0.6
 * crashes on some damaged files and leaks on others (found by fuzzing), and
 * a crash there must not take the server with it. */
int idl_sheet_xls_dump(const char *path, FILE *out) {
  const void *h = NULL;
  int rc = freexl_open(path, &h);
  unsigned sheets = 0, password = 0;
  if (rc == FREEXL_OK)
    rc = freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &sheets);
  if (rc == FREEXL_OK && freexl_get_info(h, FREEXL_BIFF_PASSWORD, &password) == FREEXL_OK &&
      password == FREEXL_BIFF_OBFUSCATED) {
    freexl_close(h);
    fprintf(out, "E it is protected by a password.\n");
    return 3;
  }
  unsigned rows = 0;
  unsigned short columns = 0;
  if (rc == FREEXL_OK && sheets == 0) {
    freexl_close(h);
    fprintf(out, "E it has no worksheet.\n");
    return 3;
  }
  if (rc == FREEXL_OK)
    rc = freexl_select_active_worksheet(h, 0);
  if (rc == FREEXL_OK)
    rc = freexl_worksheet_dimensions(h, &rows, &columns);
  if (rc != FREEXL_OK) {
    if (h)
      freexl_close(h);
    fprintf(out, "E %s (freexl error %d).\n", freexl_why(rc), rc);
    return 3;
  }
  size_t width = columns < IDL_SHEET_MAX_COLUMNS ? columns : IDL_SHEET_MAX_COLUMNS;
  for (unsigned r = 0; r < rows; r++) {
    for (unsigned short c = 0; c < width; c++) {
      FreeXL_CellValue v;
      if (freexl_get_cell_value(h, r, c, &v) != FREEXL_OK)
        continue;
      char num[64];
      const char *text = NULL;
      enum idl_cell_type type = IDL_CELL_TEXT;
      size_t len = 0;
      switch (v.type) {
      case FREEXL_CELL_INT:
        snprintf(num, sizeof(num), "%d", v.value.int_value);
        text = num, type = IDL_CELL_NUMBER;
        break;
      case FREEXL_CELL_DOUBLE:
        if (format_number(v.value.double_value, num, sizeof(num)) == 0)
          text = num, type = IDL_CELL_NUMBER;
        break;
      case FREEXL_CELL_DATE:
      case FREEXL_CELL_DATETIME: /* the day only */
        text = v.value.text_value, type = IDL_CELL_DATE;
        len = strnlen(text, 10);
        break;
      case FREEXL_CELL_TEXT:
      case FREEXL_CELL_SST_TEXT:
      case FREEXL_CELL_TIME:
        text = v.value.text_value;
        len = strnlen(text, CELL_MAX_BYTES);
        break;
      default:
        break;
      }
      if (!text)
        continue;
      if (text == num)
        len = strlen(num);
      fprintf(out, "C %u %u %d %zu\n", r + 1, (unsigned)c, (int)type, len);
      fwrite(text, 1, len, out);
    }
    fprintf(out, "R %u\n", r + 1);
  }
  freexl_close(h);
  return fflush(out) == 0 ? 0 : 4;
}

/* The idlink-xls program: where IDLINK_XLS_READER says, or beside this
 * process's own (a test's or a fuzzer's one level below it). Found once. */
static char xls_reader[4200];
static pthread_once_t xls_reader_once = PTHREAD_ONCE_INIT;

static void find_xls_reader(void) {
  const char *env = getenv("IDLINK_XLS_READER");
  if (env && *env) {
    snprintf(xls_reader, sizeof(xls_reader), "%s", env);
  } else {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
      *slash = '\0';
    snprintf(xls_reader, sizeof(xls_reader), "%s/idlink-xls", self);
    if (access(xls_reader, X_OK) != 0)
      snprintf(xls_reader, sizeof(xls_reader), "%s/../idlink-xls", self);
  }
  if (access(xls_reader, X_OK) != 0)
    xls_reader[0] = '\0';
}

const char *idl_sheet_xls_reader(void) {
  pthread_once(&xls_reader_once, find_xls_reader);
  return xls_reader[0] ? xls_reader : NULL;
}

/* Reads an xls through idlink-xls, a process of its own: rows come back
 * over a pipe; a crash of the reader is a damaged file, not a dead server. */
static enum idl_err read_xls(const char *path, idl_sheet_row_fn fn, void *arg, char *why,
                             size_t why_len) {
  const char *reader = idl_sheet_xls_reader();
  if (!reader) {
    snprintf(why, why_len, "This server cannot read .xls files: its xls reader (idlink-xls) "
             "is not installed. Save the sheet as .xlsx or .csv.");
    return IDL_ERR_INVAL;
  }
  int fds[2];
  if (pipe(fds) != 0)
    return IDL_ERR_IO;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  /* What the reader says on stderr (a sanitizer's report of freexl) is not
   * the server's to log: its end is judged from its status below. */
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  char *const argv[] = {(char *)reader, (char *)path, NULL};
  char *const envp[] = {NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, reader, &actions, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    idl_log_error("import: cannot start %s, the xls reader: %s", reader, strerror(rc));
    return IDL_ERR_IO;
  }
  FILE *in = fdopen(fds[0], "r");
  struct row w = {0};
  enum idl_err err = in ? IDL_ERR_OK : IDL_ERR_NOMEM;
  char line[512], message[320] = "";
  char *text = NULL;
  while (!err && in && fgets(line, sizeof(line), in)) {
    unsigned row, col;
    int type;
    size_t len;
    if (sscanf(line, "C %u %u %d %zu", &row, &col, &type, &len) == 4 && len <= CELL_MAX_BYTES &&
        type >= IDL_CELL_EMPTY && type <= IDL_CELL_DATE) {
      char *grown = realloc(text, len + 1);
      if (!grown) {
        err = IDL_ERR_NOMEM;
        break;
      }
      text = grown;
      if (fread(text, 1, len, in) != len)
        break;
      row_set(&w, col, (enum idl_cell_type)type, text, len);
    } else if (sscanf(line, "R %u", &row) == 1) {
      err = row_emit(&w, row, fn, arg);
    } else if (line[0] == 'E' && line[1] == ' ') {
      snprintf(message, sizeof(message), "%.*s", (int)strcspn(line + 2, "\n"), line + 2);
    } else {
      break;
    }
  }
  if (err) /* the caller stopped the read: the reader goes too */
    kill(pid, SIGKILL);
  if (in)
    fclose(in);
  else
    close(fds[0]);
  free(text);
  free(w.buf.data);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (err)
    return err;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
    return refuse(why, why_len, IDL_SHEET_XLS, "%s", message);
  /* The reader started (posix_spawn said so): it stops otherwise only on
   * what freexl makes of a damaged file (a crash, a sanitizer's abort). */
  if (WIFSIGNALED(status))
    return refuse(why, why_len, IDL_SHEET_XLS, "it is damaged (the xls reader stopped on "
                  "signal %d).", WTERMSIG(status));
  if (WEXITSTATUS(status) != 0)
    return refuse(why, why_len, IDL_SHEET_XLS, "it is damaged (the xls reader stopped with "
                  "status %d).", WEXITSTATUS(status));
  return IDL_ERR_OK;
}

/* ----------------------------------------------------------------- xlsx */

#define NS_REL "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

/* An element's local name: expat gives "namespace|local". */
static const char *local_name(const char *name) {
  const char *bar = strrchr(name, '|');
  return bar ? bar + 1 : name;
}

static const char *attr(const char **atts, const char *name) {
  for (size_t i = 0; atts[i]; i += 2)
    if (!strcmp(local_name(atts[i]), name))
      return atts[i + 1];
  return NULL;
}

/* An xlsx being read: the archive, and the state of the part parsed now. */
struct xlsx {
  zip_t *zip;
  char *why;
  size_t why_len;
  enum idl_err err; /* set by a handler: stops the parse */
  /* workbook.xml and its relationships: the first sheet's part */
  struct idl_sheet *sheet;
  char first_rid[128];
  char sheet_path[256];
  /* sharedStrings.xml: string i at shared.data + off[i] */
  struct idl_text shared;
  size_t *off;
  size_t n_strings, strings_cap;
  int in_si, in_t, in_rph;
  /* the sheet */
  struct row row;
  uint64_t row_number;
  size_t col;
  char cell_type[16];
  int in_v, in_is;
  struct idl_text text; /* the cell's or string's text as it comes */
  idl_sheet_row_fn fn;
  void *arg;
};

static void text_add(struct xlsx *x, const char *s, size_t len) {
  if (x->text.len + len > CELL_MAX_BYTES)
    x->err = refuse(x->why, x->why_len, IDL_SHEET_XLSX, "a cell holds more than %d bytes.",
                    CELL_MAX_BYTES);
  else if (idl_text_put(&x->text, s, len), x->text.failed)
    x->err = IDL_ERR_NOMEM;
}

/* Empties the text, leaving "". */
static void text_reset(struct xlsx *x) {
  x->text.len = 0;
  text_add(x, "", 0);
}

/* Parses member name of the archive with the handlers given; a missing
 * member is an error only when required. */
static enum idl_err parse_member(struct xlsx *x, const char *name, int required,
                                 XML_StartElementHandler start, XML_EndElementHandler end,
                                 XML_CharacterDataHandler chars) {
  zip_file_t *zf = zip_fopen(x->zip, name, 0);
  if (!zf) {
    if (!required)
      return IDL_ERR_OK;
    return refuse(x->why, x->why_len, IDL_SHEET_XLSX, "it has no %s (is it a zip of something "
                  "else?).", name);
  }
  XML_Parser p = XML_ParserCreateNS(NULL, '|');
  char *buf = malloc(CHUNK);
  enum idl_err err = p && buf ? IDL_ERR_OK : IDL_ERR_NOMEM;
  if (!err) {
    XML_SetUserData(p, x);
    XML_SetElementHandler(p, start, end);
    XML_SetCharacterDataHandler(p, chars);
  }
  zip_int64_t got = 0;
  while (!err) {
    got = zip_fread(zf, buf, CHUNK);
    if (got < 0) {
      err = refuse(x->why, x->why_len, IDL_SHEET_XLSX, "its member %s is damaged (%s).", name,
                   zip_file_strerror(zf));
      break;
    }
    if (XML_Parse(p, buf, (int)got, got == 0) == XML_STATUS_ERROR) {
      err = x->err ? x->err
                   : refuse(x->why, x->why_len, IDL_SHEET_XLSX,
                            "%s is not well-formed XML at line %lu: %s.", name,
                            (unsigned long)XML_GetCurrentLineNumber(p),
                            XML_ErrorString(XML_GetErrorCode(p)));
      break;
    }
    if (x->err) {
      err = x->err;
      break;
    }
    if (got == 0)
      break;
  }
  free(buf);
  if (p)
    XML_ParserFree(p);
  zip_fclose(zf);
  return err;
}

/* workbook.xml: the first <sheet>'s relationship id. */
static void workbook_start(void *data, const char *name, const char **atts) {
  struct xlsx *x = data;
  if (!strcmp(local_name(name), "workbookPr")) {
    const char *d = attr(atts, "date1904");
    x->sheet->date1904 = d && (!strcmp(d, "1") || !strcmp(d, "true"));
    return;
  }
  if (strcmp(local_name(name), "sheet") || x->first_rid[0])
    return;
  for (size_t i = 0; atts[i]; i += 2)
    if (!strcmp(atts[i], NS_REL "|id"))
      snprintf(x->first_rid, sizeof(x->first_rid), "%s", atts[i + 1]);
}

/* workbook.xml.rels: the part the first sheet's id names. */
static void rels_start(void *data, const char *name, const char **atts) {
  struct xlsx *x = data;
  const char *id = attr(atts, "Id"), *target = attr(atts, "Target");
  if (strcmp(local_name(name), "Relationship") || !id || !target || strcmp(id, x->first_rid))
    return;
  if (target[0] == '/') /* absolute within the package */
    snprintf(x->sheet_path, sizeof(x->sheet_path), "%s", target + 1);
  else
    snprintf(x->sheet_path, sizeof(x->sheet_path), "xl/%s", target);
}

static void no_end(void *data, const char *name) {
  (void)data;
  (void)name;
}

static void no_chars(void *data, const char *s, int len) {
  (void)data;
  (void)s;
  (void)len;
}

/* sharedStrings.xml: each <si> is one string, the text of its <t>s (a rich
 * text's runs) without its phonetic <rPh> runs. */
static void shared_start(void *data, const char *name, const char **atts) {
  struct xlsx *x = data;
  (void)atts;
  const char *n = local_name(name);
  if (!strcmp(n, "si")) {
    x->in_si = 1;
    text_reset(x);
  } else if (!strcmp(n, "t")) {
    x->in_t = 1;
  } else if (!strcmp(n, "rPh")) {
    x->in_rph = 1;
  }
}

static void shared_end(void *data, const char *name) {
  struct xlsx *x = data;
  const char *n = local_name(name);
  if (!strcmp(n, "t")) {
    x->in_t = 0;
  } else if (!strcmp(n, "rPh")) {
    x->in_rph = 0;
  } else if (!strcmp(n, "si") && x->in_si && !x->err) {
    x->in_si = 0;
    if (x->shared.len + x->text.len + 1 > SHARED_MAX_BYTES) {
      x->err = refuse(x->why, x->why_len, IDL_SHEET_XLSX, "its shared strings are larger "
                      "than %zu MiB.", SHARED_MAX_BYTES >> 20);
      return;
    }
    if (x->n_strings == x->strings_cap) {
      size_t cap = x->strings_cap ? x->strings_cap * 2 : 1024;
      size_t *grown = realloc(x->off, cap * sizeof(*grown));
      if (!grown) {
        x->err = IDL_ERR_NOMEM;
        return;
      }
      x->off = grown;
      x->strings_cap = cap;
    }
    x->off[x->n_strings++] = x->shared.len;
    idl_text_put(&x->shared, x->text.data, x->text.len + 1);
    if (x->shared.failed)
      x->err = IDL_ERR_NOMEM;
  }
}

static void shared_chars(void *data, const char *s, int len) {
  struct xlsx *x = data;
  if (x->in_si && x->in_t && !x->in_rph && !x->err)
    text_add(x, s, (size_t)len);
}

/* The column of a cell reference such as "AB12": 27 (from 0). */
static size_t ref_column(const char *ref, size_t fallback) {
  size_t col = 0;
  int letters = 0;
  for (; *ref >= 'A' && *ref <= 'Z' && letters < 4; ref++, letters++)
    col = col * 26 + (size_t)(*ref - 'A' + 1);
  return letters ? col - 1 : fallback;
}

static void sheet_start(void *data, const char *name, const char **atts) {
  struct xlsx *x = data;
  const char *n = local_name(name);
  if (x->err)
    return;
  if (!strcmp(n, "row")) {
    const char *r = attr(atts, "r");
    uint64_t number = r ? strtoull(r, NULL, 10) : 0;
    x->row_number = number > x->row_number ? number : x->row_number + 1;
    x->col = 0;
    row_clear(&x->row);
  } else if (!strcmp(n, "c")) {
    const char *r = attr(atts, "r"), *t = attr(atts, "t");
    x->col = ref_column(r ? r : "", x->col);
    snprintf(x->cell_type, sizeof(x->cell_type), "%s", t ? t : "n");
    text_reset(x);
  } else if (!strcmp(n, "v")) {
    x->in_v = 1;
  } else if (!strcmp(n, "is")) {
    x->in_is = 1;
  } else if (!strcmp(n, "t") && x->in_is) {
    x->in_t = 1;
  } else if (!strcmp(n, "rPh")) {
    x->in_rph = 1;
  }
}

/* Sets the cell just read into the row, by its type. */
static void sheet_cell(struct xlsx *x) {
  const char *t = x->cell_type, *s = x->text.data;
  size_t len = x->text.len;
  if (!strcmp(t, "s")) {
    char *end;
    unsigned long long i = strtoull(s, &end, 10);
    if (end == s || *end || i >= x->n_strings) {
      x->err = refuse(x->why, x->why_len, IDL_SHEET_XLSX, "row %llu names shared string %s, "
                      "which the workbook does not hold.",
                      (unsigned long long)x->row_number, s);
      return;
    }
    const char *str = x->shared.data + x->off[i];
    row_set(&x->row, x->col, IDL_CELL_TEXT, str, strlen(str));
  } else if (!strcmp(t, "b")) {
    row_set(&x->row, x->col, IDL_CELL_BOOL, strcmp(s, "1") == 0 ? "1" : "0", 1);
  } else if (!strcmp(t, "n")) {
    row_set(&x->row, x->col, IDL_CELL_NUMBER, s, len);
  } else if (!strcmp(t, "d")) { /* an ISO 8601 date: its day, never part of a character */
    while (len && isspace((unsigned char)*s))
      s++, len--;
    size_t day = len < 10 ? len : 10;
    while (day && day < len && ((unsigned char)s[day] & 0xC0) == 0x80)
      day--;
    row_set(&x->row, x->col, IDL_CELL_DATE, s, day);
  } else if (!strcmp(t, "e")) { /* an error value (#N/A): empty */
    row_set(&x->row, x->col, IDL_CELL_EMPTY, "", 0);
  } else { /* str (a formula's text), inlineStr */
    row_set(&x->row, x->col, IDL_CELL_TEXT, s, len);
  }
}

static void sheet_end(void *data, const char *name) {
  struct xlsx *x = data;
  const char *n = local_name(name);
  if (x->err)
    return;
  if (!strcmp(n, "v")) {
    x->in_v = 0;
  } else if (!strcmp(n, "t")) {
    x->in_t = 0;
  } else if (!strcmp(n, "rPh")) {
    x->in_rph = 0;
  } else if (!strcmp(n, "is")) {
    x->in_is = 0;
  } else if (!strcmp(n, "c")) {
    sheet_cell(x);
    x->col++;
  } else if (!strcmp(n, "row")) {
    x->err = row_emit(&x->row, x->row_number, x->fn, x->arg);
  }
}

static void sheet_chars(void *data, const char *s, int len) {
  struct xlsx *x = data;
  if (!x->err && (x->in_v || (x->in_is && x->in_t && !x->in_rph)))
    text_add(x, s, (size_t)len);
}

static enum idl_err read_xlsx(const char *path, idl_sheet_row_fn fn, void *arg,
                              struct idl_sheet *sheet, char *why, size_t why_len) {
  int code = 0;
  struct xlsx x = {.why = why, .why_len = why_len, .fn = fn, .arg = arg, .sheet = sheet};
  x.zip = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!x.zip) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    enum idl_err err = code == ZIP_ER_MEMORY
                           ? IDL_ERR_NOMEM
                           : refuse(why, why_len, IDL_SHEET_XLSX, "the zip archive is "
                                    "damaged or truncated (%s).", zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return err;
  }
  enum idl_err err = parse_member(&x, "xl/workbook.xml", 1, workbook_start, no_end, no_chars);
  if (!err && x.first_rid[0])
    err = parse_member(&x, "xl/_rels/workbook.xml.rels", 0, rels_start, no_end, no_chars);
  if (!err && !x.sheet_path[0])
    snprintf(x.sheet_path, sizeof(x.sheet_path), "xl/worksheets/sheet1.xml");
  if (!err)
    err = parse_member(&x, "xl/sharedStrings.xml", 0, shared_start, shared_end, shared_chars);
  if (!err)
    err = parse_member(&x, x.sheet_path, 1, sheet_start, sheet_end, sheet_chars);
  zip_discard(x.zip);
  free(x.shared.data);
  free(x.off);
  free(x.text.data);
  free(x.row.buf.data);
  return err;
}

/* ------------------------------------------------------------ the kind */

/* Days from 1899-12-30 (serial 0 of the 1900 system, as Excel counts past
 * its leap-year bug) and from 1904-01-01 (serial 0 of the 1904 system) to
 * 1970-01-01. */
#define SERIAL_1900_EPOCH 25569
#define SERIAL_1904_EPOCH 24107

int64_t idl_sheet_serial_day(const struct idl_sheet *sheet, double serial) {
  return (int64_t)floor(serial) - (sheet->date1904 ? SERIAL_1904_EPOCH : SERIAL_1900_EPOCH);
}

enum idl_err idl_sheet_read(const char *path, idl_sheet_row_fn fn, void *arg,
                            struct idl_sheet *sheet, char *why, size_t why_len) {
  *sheet = (struct idl_sheet){0};
  FILE *f = fopen(path, "rb");
  if (!f)
    return errno == ENOMEM ? IDL_ERR_NOMEM : IDL_ERR_IO;
  unsigned char magic[8] = {0};
  size_t got = fread(magic, 1, sizeof(magic), f);
  rewind(f);
  enum idl_err err;
  if (got >= 4 && memcmp(magic, "PK\x03\x04", 4) == 0) {
    sheet->kind = IDL_SHEET_XLSX;
    fclose(f);
    return read_xlsx(path, fn, arg, sheet, why, why_len);
  }
  if (got == 8 && memcmp(magic, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) == 0) {
    sheet->kind = IDL_SHEET_XLS;
    fclose(f);
    return read_xls(path, fn, arg, why, why_len);
  }
  sheet->kind = IDL_SHEET_TEXT;
  err = read_text(f, fn, arg, why, why_len);
  fclose(f);
  return err;
}
