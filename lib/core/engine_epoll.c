/* The engine's Linux backend (engine_backend.h): epoll, level-triggered, and an eventfd for
 * wake-ups. The only file of libweft that includes <sys/epoll.h> or <sys/eventfd.h>. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/engine_backend.h"

struct weft__backend {
  int epfd, wakefd;
};

/* The largest batch one wait asks for; engine.c never asks for more. */
#define MAX_EVENTS 64

static uint32_t to_epoll(uint32_t events) {
  return ((events & WEFT__IO_READ) ? EPOLLIN : 0u) | ((events & WEFT__IO_WRITE) ? EPOLLOUT : 0u);
}

static uint32_t from_epoll(uint32_t ev) {
  uint32_t r = 0;
  if (ev & EPOLLIN) r |= WEFT__IO_READ;
  if (ev & EPOLLOUT) r |= WEFT__IO_WRITE;
  if (ev & (EPOLLERR | EPOLLHUP)) r |= WEFT__IO_READ | WEFT__IO_ERROR;
  return r;
}

int weft__backend_create(weft__backend_t **out) {
  weft__backend_t *b = malloc(sizeof *b);
  if (!b) return -ENOMEM;
  b->epfd = epoll_create1(EPOLL_CLOEXEC);
  b->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
  if (b->epfd < 0 || b->wakefd < 0 || epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->wakefd, &e) < 0) {
    int err = -errno;
    weft__backend_destroy(b);
    return err;
  }
  *out = b;
  return 0;
}

void weft__backend_destroy(weft__backend_t *b) {
  if (!b) return;
  if (b->epfd >= 0) close(b->epfd);
  if (b->wakefd >= 0) close(b->wakefd);
  free(b);
}

int weft__backend_add(weft__backend_t *b, int fd, uint32_t events, void *ptr) {
  struct epoll_event e = {.events = to_epoll(events), .data.ptr = ptr};
  return epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

int weft__backend_mod(weft__backend_t *b, int fd, uint32_t old, uint32_t events, void *ptr) {
  (void)old;
  struct epoll_event e = {.events = to_epoll(events), .data.ptr = ptr};
  return epoll_ctl(b->epfd, EPOLL_CTL_MOD, fd, &e) < 0 ? -errno : 0;
}

int weft__backend_del(weft__backend_t *b, int fd, uint32_t old) {
  (void)old;
  return epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int weft__backend_wait(weft__backend_t *b, weft__backend_event_t *evs, int max, double timeout_s) {
  struct epoll_event ev[MAX_EVENTS];
  if (max > MAX_EVENTS) max = MAX_EVENTS;
  int ms = timeout_s < 0 ? -1 : timeout_s >= 1e6 ? 1000000000 : (int)ceil(timeout_s * 1000.0);
  int n = epoll_wait(b->epfd, ev, max, ms);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < n; i++) evs[i] = (weft__backend_event_t){.ptr = ev[i].data.ptr, .events = from_epoll(ev[i].events)};
  return n;
}

void weft__backend_wake(weft__backend_t *b) {
  uint64_t one = 1;
  (void)!write(b->wakefd, &one, sizeof one);
}

void weft__backend_wake_clear(weft__backend_t *b) {
  uint64_t v;
  (void)!read(b->wakefd, &v, sizeof v);
}
