/* The one logger: levelled lines on stderr.
 *
 * Emails and phone numbers are personal data: they never appear in a log
 * line, at any level. Name the contact by its id, or mask the value with
 * idl_mask_email / idl_mask_phone. */
#ifndef IDLINK_LOG_H
#define IDLINK_LOG_H

enum idl_log_level { IDL_LOG_ERROR, IDL_LOG_WARN, IDL_LOG_INFO, IDL_LOG_DEBUG };

/* Sets the most verbose level written; the default is IDL_LOG_INFO. Thread-safe. */
void idl_log_set_level(enum idl_log_level level);

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int idl_log_parse_level(const char *name);

/* Writes one line, prefixed with the time and the level, when level is enabled. */
void idl_log(enum idl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A log line that repeats (a full disk failing every write) is written at
 * most once per interval; the next one written says how many were held back.
 * Zero-initialize one per call site; safe from any thread. */
struct idl_log_limit {
  _Atomic long long next_us;   /* monotonic time the next line may be written */
  _Atomic unsigned long held;  /* lines held back since the last one written */
};

#define IDL_LOG_LIMIT_INTERVAL_US 10000000LL

void idl_log_limited(struct idl_log_limit *limit, enum idl_log_level level, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

/* Masks personal data for logs: "jane@example.com" -> "j***@example.com",
 * "+905555555555" -> "***5555". out must hold IDL_MASK_MAX bytes. */
#define IDL_MASK_MAX 272
void idl_mask_email(const char *email, char *out);
void idl_mask_phone(const char *phone, char *out);

#define idl_log_error(...) idl_log(IDL_LOG_ERROR, __VA_ARGS__)
#define idl_log_warn(...) idl_log(IDL_LOG_WARN, __VA_ARGS__)
#define idl_log_info(...) idl_log(IDL_LOG_INFO, __VA_ARGS__)
#define idl_log_debug(...) idl_log(IDL_LOG_DEBUG, __VA_ARGS__)

#endif
