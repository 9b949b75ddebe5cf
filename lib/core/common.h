/* Internal definitions shared by every file of libweft. Internal cross-file names are weft__. */
#ifndef WEFT_CORE_COMMON_H
#define WEFT_CORE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

#define WEFT__HIDDEN __attribute__((visibility("hidden")))
#define WEFT__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WEFT__MIN(a, b) ((a) < (b) ? (a) : (b))
#define WEFT__MAX(a, b) ((a) > (b) ? (a) : (b))

/* Monotonic clock in seconds. */
double weft__now(void);

/* Logging (lib/core/log.c): never prints unless a callback is set or WEFT_LOG_LEVEL is set. */
void weft__log(weft_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define WEFT__ERROR(...) weft__log(WEFT_LOG_ERROR, __VA_ARGS__)
#define WEFT__WARN(...) weft__log(WEFT_LOG_WARN, __VA_ARGS__)
#define WEFT__INFO(...) weft__log(WEFT_LOG_INFO, __VA_ARGS__)
#define WEFT__DEBUG(...) weft__log(WEFT_LOG_DEBUG, __VA_ARGS__)

#endif
