/* The coordinator's own log (tools/coordinator/clog.c): timestamped lines on stderr. Errors always
 * print; the rest only with --verbose. The coordinator is a program, not the library, so it may
 * print on its own. */
#ifndef WEFT_TOOLS_COORDINATOR_CLOG_H
#define WEFT_TOOLS_COORDINATOR_CLOG_H

#include <stdbool.h>

void weft__clog_set_verbose(bool verbose);
bool weft__clog_verbose(void);
void weft__clog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));       /* --verbose */
void weft__clog_error(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* always */

#endif
