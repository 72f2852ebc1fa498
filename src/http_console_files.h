/* The console's static files, built into the program (http_console.c serves
 * them; cmake/embed_console.cmake generates the table from console/). */
#ifndef IDLINK_HTTP_CONSOLE_FILES_H
#define IDLINK_HTTP_CONSOLE_FILES_H

#include <stddef.h>

struct idl_console_file {
  const char *path;          /* under /console/, e.g. "app.js" */
  const char *type;          /* its Content-Type */
  const char *etag;          /* a quoted hash of its bytes */
  const unsigned char *data; /* len bytes (and a NUL after them) */
  size_t len;
};

extern const struct idl_console_file idl_console_files[];
extern const size_t idl_console_n_files;
/* A hash of every file; index.html names the others with ?v= of it. */
extern const char idl_console_version[];

#endif
