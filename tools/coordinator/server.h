/* The coordinator's event loop (tools/coordinator/server.c): one thread, non-blocking epoll,
 * authenticating connections and feeding the membership state machine. */
#ifndef WEFT_TOOLS_COORDINATOR_SERVER_H
#define WEFT_TOOLS_COORDINATOR_SERVER_H

#include <signal.h>

#include "bootstrap/auth.h"

typedef struct {
  uint32_t world_size, min_size;
  double heartbeat_interval, heartbeat_timeout;
  double recover_timeout; /* WEFT_RECOVER_TIMEOUT: membership.h's recover deadline (0: none) */
  bool exit_when_done;
  double linger; /* with exit_when_done: how long "nobody left" must last before exiting */
  weft__auth_key_t key;
} weft__server_opts_t;

/* Serves listen_fd (non-blocking, listening) until *stop is set (a signal handler sets it) or,
 * with exit_when_done, the job is over. Returns the process exit status. */
int weft__server_run(const weft__server_opts_t *o, int listen_fd, volatile sig_atomic_t *stop);

#endif
