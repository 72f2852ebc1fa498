/* The one logger: levelled lines on stderr.
 *
 * Emails and phone numbers are personal data: they may appear in idl_log_debug
 * lines only, never at the other levels. */
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

#define idl_log_error(...) idl_log(IDL_LOG_ERROR, __VA_ARGS__)
#define idl_log_warn(...) idl_log(IDL_LOG_WARN, __VA_ARGS__)
#define idl_log_info(...) idl_log(IDL_LOG_INFO, __VA_ARGS__)
#define idl_log_debug(...) idl_log(IDL_LOG_DEBUG, __VA_ARGS__)

#endif
