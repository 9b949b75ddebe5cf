/* One JSON object per line on stdout, for tests/chaos/soak.py: events of a chaos_worker process
 * with CLOCK_REALTIME stamps ("t", seconds) the soak lines up with its own clock.
 *
 *   chaos_log_begin("fail");  chaos_log_int("step", 7);  chaos_log_str("detail", text);
 *   chaos_log_end();          -> {"ev":"fail","step":7,"detail":"...","t":1796325605.925755}
 *
 * The worker's main thread is the only writer; a line is written with one fwrite + fflush, so
 * weftrun, which reads the pipe line by line, never sees half an object. */
#ifndef WEFT_TESTS_CHAOS_LOG_H
#define WEFT_TESTS_CHAOS_LOG_H

#include <stdint.h>

void chaos_log_begin(const char *event);
void chaos_log_int(const char *key, int64_t v);
void chaos_log_num(const char *key, double v);
void chaos_log_bool(const char *key, int v);
void chaos_log_str(const char *key, const char *s);
void chaos_log_ints(const char *key, const int *v, int n);
void chaos_log_end(void);

double chaos_unix_now(void);
double chaos_mono_now(void);

#endif
