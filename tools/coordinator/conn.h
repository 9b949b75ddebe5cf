/* One client connection of the coordinator (tools/coordinator/conn.c): its handshake state and
 * its bounded outbound buffer. The server never blocks on a client: sends go out as far as the
 * socket takes them and the rest waits here, up to a bound past which the client is broken. */
#ifndef WEFT_TOOLS_COORDINATOR_CONN_H
#define WEFT_TOOLS_COORDINATOR_CONN_H

#include "bootstrap/auth.h"
#include "bootstrap/coord_proto.h"

typedef enum {
  WEFT__CONN_AUTH,   /* challenge sent, reading the response */
  WEFT__CONN_HELLO,  /* authenticated, waiting for HELLO */
  WEFT__CONN_MEMBER, /* HELLO accepted (member_id set) or LEAVE seen (member_id 0 again) */
} weft__conn_state_t;

typedef struct weft__conn {
  int fd;
  weft__conn_state_t state;
  char peer[64];   /* "1.2.3.4:5", for logs */
  double deadline; /* handshake or closing deadline; 0: none */
  bool closing;    /* close once the outbound buffer is flushed (after ERROR, LEAVE) */
  bool dead;       /* fd closed; freed at the end of the loop iteration */
  bool broken;     /* found unusable while sending; on the server's broken list */
  bool want_out;   /* registered for EPOLLOUT */
  bool overflowed; /* broken because its backlog passed the bound: it is not reading (HUNG) */
  char why[96];    /* why broken */
  uint64_t member_id;
  uint8_t nonce_s[WEFT__AUTH_NONCE_LEN];
  uint8_t resp[WEFT__AUTH_RESPONSE_LEN];
  size_t resp_got;
  weft__coord_session_t session; /* from authentication on: tags every message both ways */
  weft__coord_reader_t reader;
  uint8_t *out;
  size_t out_off, out_len, out_cap;
  struct weft__conn *prev, *next;   /* all connections */
  struct weft__conn *next_broken;   /* server's broken list */
} weft__conn_t;

/* Appends msg and writes as much as the socket takes. false: the connection is broken (write
 * error, or more than limit bytes would wait); c->why says which. */
bool weft__conn_send(weft__conn_t *c, const uint8_t *msg, size_t len, size_t limit);
/* The same for a message in two parts (a protocol message and its tag), appended together and
 * written in one go: a peer that closes right after reading the first part must not turn the
 * second into a separate write that fails (the message was delivered). */
bool weft__conn_send2(weft__conn_t *c, const uint8_t *msg, size_t len, const uint8_t *tail, size_t tail_len,
                      size_t limit);
/* Writes what waits. false: broken (c->why). */
bool weft__conn_flush(weft__conn_t *c);
static inline bool weft__conn_has_output(const weft__conn_t *c) { return c->out_len > c->out_off; }
/* Fills c->peer from getpeername. */
void weft__conn_describe_peer(weft__conn_t *c);
void weft__conn_free(weft__conn_t *c); /* closes nothing: fd must be closed already */

#endif
