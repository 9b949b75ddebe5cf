/* weftrun's output forwarding (tools/launcher/output.c): one stream per rank incarnation and
 * per stdout/stderr, read from a pipe and written to weftrun's own stdout/stderr line by line
 * with a "[rank] " prefix. Lines are written whole in one write() so ranks never interleave
 * mid-line; a line longer than the buffer goes out in pieces, only the first one prefixed. */
#ifndef WEFT_TOOLS_LAUNCHER_OUTPUT_H
#define WEFT_TOOLS_LAUNCHER_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#define WEFT__OUT_BUF 16384

typedef struct {
  int fd;         /* pipe read end (non-blocking); -1 once finished */
  int dest;       /* 1 or 2 */
  char prefix[24];
  bool midline;   /* part of the current line was already written */
  size_t len;
  char buf[WEFT__OUT_BUF];
} weft__out_stream_t;

/* prefix: "" for --no-prefix. */
void weft__out_init(weft__out_stream_t *s, int fd, int dest, const char *prefix);
/* Reads what the pipe has and forwards whole lines. false at EOF or error: call finish. */
bool weft__out_pump(weft__out_stream_t *s);
/* Forwards a partial last line (with a newline added) and closes the pipe. Idempotent. */
void weft__out_finish(weft__out_stream_t *s);

#endif
