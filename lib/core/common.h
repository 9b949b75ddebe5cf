/* Internal definitions shared by every file of libweft. Internal cross-file names are weft__. */
#ifndef WEFT_CORE_COMMON_H
#define WEFT_CORE_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

#define WEFT__HIDDEN __attribute__((visibility("hidden")))
#define WEFT__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WEFT__MIN(a, b) ((a) < (b) ? (a) : (b))
#define WEFT__MAX(a, b) ((a) > (b) ? (a) : (b))

/* Monotonic clock in seconds: every deadline and timeout is on it (lib/core/log.c). */
double weft__now(void);
/* Condition variables that time out on weft__now()'s clock, so a step of the wall clock (NTP,
 * date -s) neither cuts a bounded wait short nor stretches it: init makes one with
 * pthread_condattr_setclock(CLOCK_MONOTONIC); wait_until sleeps until signalled or until
 * (a weft__now() value), whichever comes first. */
void weft__cond_init(pthread_cond_t *cv);
void weft__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until);

/* Logging (lib/core/log.c): never prints unless a callback is set or WEFT_LOG_LEVEL is set. */
void weft__log(weft_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define WEFT__ERROR(...) weft__log(WEFT_LOG_ERROR, __VA_ARGS__)
#define WEFT__WARN(...) weft__log(WEFT_LOG_WARN, __VA_ARGS__)
#define WEFT__INFO(...) weft__log(WEFT_LOG_INFO, __VA_ARGS__)
#define WEFT__DEBUG(...) weft__log(WEFT_LOG_DEBUG, __VA_ARGS__)

#endif
