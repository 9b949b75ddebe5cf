/* Settings: one table (name, default, bounds, help) read in lib/core/config.c and nowhere else.
 * Environment overrides are read there; weft_config_print() prints the effective table. */
#ifndef WEFT_CORE_CONFIG_H
#define WEFT_CORE_CONFIG_H

#include "core/common.h"

/* X(key, env name, kind, default, min, max, help). kind: SECONDS, BYTES, INT, ENUM_ALGO. */
#define WEFT__SETTINGS_MAP(X)                                                                   \
  X(TIMEOUT, "WEFT_TIMEOUT", SECONDS, 300.0, 0.1, 86400.0,                                    \
    "bound on any blocking call (collective, wait, recover)")                                  \
  X(INIT_TIMEOUT, "WEFT_INIT_TIMEOUT", SECONDS, 120.0, 0.1, 86400.0,                          \
    "bound on init: reaching the coordinator and waiting for all ranks to join")               \
  X(CONNECT_TIMEOUT, "WEFT_CONNECT_TIMEOUT", SECONDS, 30.0, 0.1, 3600.0,                       \
    "bound on connecting and authenticating one peer")                                         \
  X(HEARTBEAT_INTERVAL, "WEFT_HEARTBEAT_INTERVAL", SECONDS, 0.5, 0.01, 60.0,                   \
    "how often a rank and the coordinator tell each other they are alive")                     \
  X(HEARTBEAT_TIMEOUT, "WEFT_HEARTBEAT_TIMEOUT", SECONDS, 5.0, 0.05, 3600.0,                   \
    "silence after which a rank (or the coordinator) is declared hung")                        \
  X(RECOVER_TIMEOUT, "WEFT_RECOVER_TIMEOUT", SECONDS, 60.0, 0.5, 86400.0,                      \
    "once members start to recover, a member that has not asked within this is left out")     \
  X(STALL_TIMEOUT, "WEFT_STALL_TIMEOUT", SECONDS, 30.0, 0.0, 86400.0,                          \
    "a collective waited on this long makes the coordinator evict ranks that have not entered "  \
    "it and have been out of weft as long (0: off)")                                           \
  X(EXIT_ON_EVICT, "WEFT_EXIT_ON_EVICT", INT, 0, 0, 1,                                         \
    "1: an evicted process exits at once (status 75) so a launcher restarts it, even when its "  \
    "application thread is stuck; weftrun --restart sets it")                                  \
  X(ALGO, "WEFT_ALGO", ENUM_ALGO, 0, 0, 2, "auto|ring|tree: force the collective algorithm")  \
  X(TREE_THRESHOLD, "WEFT_TREE_THRESHOLD", BYTES, 65536, 0, 1099511627776.0,                    \
    "messages below this many bytes use the tree (latency) algorithm")                         \
  X(CHUNK_SIZE, "WEFT_CHUNK_SIZE", BYTES, 524288, 4096, 67108864,                              \
    "bytes per wire frame: large messages stream in frames of this size")                      \
  X(TCP_NSOCKS, "WEFT_TCP_NSOCKS", INT, 2, 1, 16, "TCP connections per peer")                  \
  X(ENCRYPT, "WEFT_ENCRYPT", INT, 0, 0, 1,                                                     \
    "1: encrypt and authenticate all data-plane traffic (XChaCha20-Poly1305, keys agreed per "  \
    "connection); every rank must use the same value")                                         \
  X(P2P_BUFFER, "WEFT_P2P_BUFFER", BYTES, 67108864, 0, 1099511627776.0,                        \
    "bytes of point-to-point messages held per communicator that arrived before their receive")  \
  X(SPIN_US, "WEFT_SPIN_US", INT, 50, 0, 100000,                                               \
    "microseconds a waiting thread spins before it blocks in the kernel")                      \
  X(MIN_SIZE, "WEFT_MIN_SIZE", INT, 1, 1, 1048576,                                             \
    "recover fails with WEFT_ERR_MIN_SIZE when fewer members would remain")                    \
  X(LOG_LEVEL, "WEFT_LOG_LEVEL", INT, -1, -1, 3, "-1 silent, 0 error, 1 warn, 2 info, 3 debug")

typedef enum {
#define WEFT__SETTING_KEY(key, env, kind, def, lo, hi, help) WEFT__CFG_##key,
  WEFT__SETTINGS_MAP(WEFT__SETTING_KEY)
#undef WEFT__SETTING_KEY
  WEFT__CFG_COUNT
} weft__cfg_key_t;

/* The effective value (environment override, validated against the bounds, else the default).
 * An out-of-range or unparsable environment value is reported once through the log and
 * makes weft__cfg_validate fail with a message naming the variable. */
double weft__cfg_get(weft__cfg_key_t key);
/* Re-reads the environment; on error writes "WEFT_X=value: reason" into err. */
weft_result_t weft__cfg_load(char *err, size_t errlen);

/* Parsers shared with the fuzz targets: strict (whole string consumed, no overflow). */
bool weft__parse_seconds(const char *s, double *out);  /* "5", "0.5", "250ms", "2s", "1m" */
bool weft__parse_bytes(const char *s, double *out);    /* "65536", "64K", "64KiB", "1M", "2G" */
bool weft__parse_int(const char *s, long long *out);
bool weft__parse_algo(const char *s, int *out);        /* "auto" 0, "ring" 1, "tree" 2 */

#endif
