#include "idlink/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "idlink/contact.h"

static atomic_int current_level = IDL_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void idl_log_set_level(enum idl_log_level level) {
  atomic_store(&current_level, (int)level);
}

int idl_log_parse_level(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

/* Writes one line: the time, the level, the message and suffix (may be NULL). */
static void vlog(enum idl_log_level level, const char *suffix, const char *fmt, va_list ap) {
  char line[1024];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
  vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
  size_t len = strlen(line);
  if (suffix)
    snprintf(line + len, sizeof(line) - len, "%s", suffix);
  /* One fputs per line keeps lines from different threads whole. */
  len = strlen(line);
  if (len + 1 < sizeof(line)) {
    line[len] = '\n';
    line[len + 1] = '\0';
  }
  fputs(line, stderr);
}

void idl_log(enum idl_log_level level, const char *fmt, ...) {
  if ((int)level > atomic_load(&current_level))
    return;
  va_list ap;
  va_start(ap, fmt);
  vlog(level, NULL, fmt, ap);
  va_end(ap);
}

void idl_log_limited(struct idl_log_limit *limit, enum idl_log_level level, const char *fmt,
                     ...) {
  if ((int)level > atomic_load(&current_level))
    return;
  long long now = (long long)idl_now_us(), next = atomic_load(&limit->next_us);
  /* One thread wins the interval; the others count themselves held back. */
  if (now < next || !atomic_compare_exchange_strong(&limit->next_us, &next,
                                                    now + IDL_LOG_LIMIT_INTERVAL_US)) {
    atomic_fetch_add(&limit->held, 1);
    return;
  }
  unsigned long held = atomic_exchange(&limit->held, 0);
  char suffix[96] = "";
  if (held)
    snprintf(suffix, sizeof(suffix), " (and %lu more like it in the last %lld s)", held,
             IDL_LOG_LIMIT_INTERVAL_US / 1000000);
  va_list ap;
  va_start(ap, fmt);
  vlog(level, suffix, fmt, ap);
  va_end(ap);
}

void idl_mask_email(const char *email, char *out) {
  const char *at = strrchr(email, '@');
  if (!at || at == email) {
    snprintf(out, IDL_MASK_MAX, "***");
    return;
  }
  /* The first character (its whole UTF-8 sequence) and the domain stay. */
  size_t first = 1;
  while (email[first] && ((unsigned char)email[first] & 0xC0) == 0x80)
    first++;
  snprintf(out, IDL_MASK_MAX, "%.*s***%.200s", (int)first, email, at);
}

void idl_mask_phone(const char *phone, char *out) {
  size_t len = strlen(phone);
  snprintf(out, IDL_MASK_MAX, "***%s", len > 4 ? phone + len - 4 : "");
}
