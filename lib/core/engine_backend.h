/* The OS side of the engine (internal): one file per event mechanism implements this
 * (engine_epoll.c on Linux; a kqueue one for macOS and the BSDs would be engine_kqueue.c), and
 * meson builds exactly one. Only engine.c calls it.
 *
 * Contract. Readiness is level-triggered: what is not handled is reported again by the next
 * wait. wait never reports a descriptor after del returned for it, except within the batch a
 * wait already filled (engine.c filters those). The wake-up is built in because its OS form
 * differs (an eventfd on Linux, EVFILT_USER or a pipe under kqueue): wake may be called from any
 * thread; wait reports it as an event with ptr == NULL and leaves it pending until wake_clear,
 * so a thread that only sleeps does not consume it for the thread that dispatches. */
#ifndef WEFT_CORE_ENGINE_BACKEND_H
#define WEFT_CORE_ENGINE_BACKEND_H

#include <stdint.h>

typedef struct weft__backend weft__backend_t;

typedef struct {
  void *ptr;       /* what add/mod registered; NULL for the wake-up */
  uint32_t events; /* WEFT__IO_* (engine.h) */
} weft__backend_event_t;

/* All return 0 or a negative errno, wait the number of events filled. */
int weft__backend_create(weft__backend_t **out);
void weft__backend_destroy(weft__backend_t *b);
/* old: the interest registered before (kqueue registers filters one by one). */
int weft__backend_add(weft__backend_t *b, int fd, uint32_t events, void *ptr);
int weft__backend_mod(weft__backend_t *b, int fd, uint32_t old, uint32_t events, void *ptr);
int weft__backend_del(weft__backend_t *b, int fd, uint32_t old);
/* timeout_s < 0: no bound; otherwise rounded up to the mechanism's resolution. EINTR is 0. */
int weft__backend_wait(weft__backend_t *b, weft__backend_event_t *evs, int max, double timeout_s);
void weft__backend_wake(weft__backend_t *b);
void weft__backend_wake_clear(weft__backend_t *b);

#endif
