/* Name resolution with a bound (declared in core/sock.h).
 *
 * getaddrinfo() has no timeout of its own: when the name service does not answer it blocks for
 * resolv.conf's timeout x attempts x servers (10 s with the defaults, minutes with some setups),
 * past any deadline of ours. So a name that is not a numeric address is resolved on a detached
 * thread and the caller waits for it at most the bound. A caller that gives up leaves: the
 * thread finishes on its own and the last of the two to be done with the shared state frees it. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/sock.h"

typedef struct {
  atomic_int refs; /* the caller and the thread */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  int rc;
  struct addrinfo *res;
  struct addrinfo hints;
  char port[8];
  char host[]; /* flexible: the name outlives a caller that left */
} lookup_t;

static void lookup_release(lookup_t *l) {
  if (atomic_fetch_sub(&l->refs, 1) != 1) return;
  if (l->res) freeaddrinfo(l->res);
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static void *lookup_main(void *arg) {
  lookup_t *l = arg;
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(l->host, l->port, &l->hints, &res);
  pthread_mutex_lock(&l->mu);
  l->rc = rc, l->res = res, l->done = true;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  lookup_release(l);
  return NULL;
}

/* getaddrinfo bounded by bound_s: 0 and *res, an EAI_ code, or EAI_AGAIN with *timed_out. */
static int lookup_bounded(const char *host, const char *port, const struct addrinfo *hints, double bound_s,
                          struct addrinfo **res, bool *timed_out) {
  *timed_out = false;
  struct addrinfo numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST; /* an address literal needs no name service: no thread */
  if (!host) return getaddrinfo(NULL, port, hints, res); /* the wildcard: no name to look up */
  if (getaddrinfo(host, port, &numeric, res) == 0) return 0;
  size_t hl = strlen(host) + 1;
  lookup_t *l = calloc(1, sizeof *l + hl);
  if (!l) return EAI_MEMORY;
  atomic_init(&l->refs, 2);
  pthread_mutex_init(&l->mu, NULL);
  weft__cond_init(&l->cv);
  l->hints = *hints;
  snprintf(l->port, sizeof l->port, "%s", port);
  memcpy(l->host, host, hl);
  pthread_attr_t attr;
  pthread_t t;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int e = pthread_create(&t, &attr, lookup_main, l);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    atomic_store(&l->refs, 1);
    lookup_release(l);
    return EAI_SYSTEM;
  }
  double until = weft__now() + bound_s;
  pthread_mutex_lock(&l->mu);
  while (!l->done && weft__now() < until) weft__cond_wait_until(&l->cv, &l->mu, until);
  int rc = l->done ? l->rc : EAI_AGAIN;
  if (l->done) *res = l->res, l->res = NULL;
  else *timed_out = true;
  pthread_mutex_unlock(&l->mu);
  lookup_release(l);
  return rc;
}

weft_result_t weft__sock_resolve(const char *host, int port, bool passive, double bound_s, weft__addr_t *out,
                                 size_t max, size_t *n, char *err, size_t errlen) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
  struct addrinfo *res = NULL;
  char portstr[8];
  bool timed_out;
  snprintf(portstr, sizeof portstr, "%d", port);
  *n = 0;
  int g = lookup_bounded(host, portstr, &hints, bound_s > 0 ? bound_s : 0, &res, &timed_out);
  if (timed_out) {
    snprintf(err, errlen, "cannot resolve \"%s\": no answer from the name service within %.1f s (WEFT_CONNECT_TIMEOUT)",
             host, bound_s);
    return WEFT_ERR_TIMEOUT;
  }
  if (g != 0) {
    snprintf(err, errlen, "cannot resolve \"%s\": %s", host ? host : "(any)", g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
    return WEFT_ERR_TRANSPORT;
  }
  for (struct addrinfo *ai = res; ai != NULL && *n < max; ai = ai->ai_next) {
    weft__addr_t a;
    if (!weft__addr_from_sockaddr(ai->ai_addr, port, &a)) continue;
    bool dup = false; /* getaddrinfo lists an address once per socket type it may repeat */
    for (size_t i = 0; i < *n; i++) dup |= memcmp(&out[i], &a, sizeof a) == 0;
    if (!dup) out[(*n)++] = a;
  }
  freeaddrinfo(res);
  if (*n == 0) {
    snprintf(err, errlen, "cannot resolve \"%s\": no IPv4 or IPv6 address", host);
    return WEFT_ERR_TRANSPORT;
  }
  return WEFT_SUCCESS;
}
