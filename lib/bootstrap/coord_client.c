/* Rank side of joining the coordinator (lib/bootstrap/coord_client.c): connect, authenticate,
 * HELLO, then exactly one answer, WELCOME or ERROR, all before one deadline. Anything else from
 * the coordinator at this point is WEFT_ERR_PROTOCOL: it must not be guessed at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/coord_client.h"

#define WELCOME_PAYLOAD_LEN 16
#define ERROR_PAYLOAD_LEN (4 + WEFT__COORD_TEXT_LEN)
#define HELLO_MSG_MAX (WEFT__COORD_HDR_LEN + 128 + WEFT__COORD_CARD_MAX) /* a HELLO with the largest card */

static const char *io_text(weft_result_t rc) {
  return rc == WEFT_ERR_TIMEOUT ? "timed out" : rc == WEFT_ERR_PEER_LOST ? "connection closed"
                                                                          : "transport error";
}

/* Message and tag leave in one write (copied together), so the coordinator never sees a message
 * without its tag because a second write failed; a rank's messages are small (HELLO is the
 * largest), a larger one is copied to the heap. */
weft_result_t weft__coord_send(weft__coord_session_t *s, int fd, const uint8_t *msg, size_t len, double deadline) {
  uint8_t small[HELLO_MSG_MAX + WEFT__COORD_TAG_LEN];
  if (len < WEFT__COORD_HDR_LEN) return WEFT_ERR_INTERNAL;
  uint8_t *out = len + WEFT__COORD_TAG_LEN <= sizeof small ? small : malloc(len + WEFT__COORD_TAG_LEN);
  if (out == NULL) return WEFT_ERR_NO_MEMORY;
  memcpy(out, msg, len);
  weft__coord_seal(&s->tx, msg, len, out + len);
  weft_result_t rc = weft__sock_write_all(fd, out, len + WEFT__COORD_TAG_LEN, deadline);
  if (out != small) free(out);
  return rc;
}

weft_result_t weft__coord_connect_with(const char *host, int port, const weft__auth_key_t *key, const uint8_t *first,
                                       size_t first_len, double deadline, int *fd, weft__coord_session_t *session,
                                       weft__coord_welcome_t *welcome, char *err, size_t errlen) {
  uint8_t hdr_bytes[WEFT__COORD_HDR_LEN];
  uint8_t payload[ERROR_PAYLOAD_LEN], tag[WEFT__COORD_TAG_LEN];
  weft__auth_nonces_t nonces;
  weft__coord_hdr_t hdr;
  char why[200];
  int s = -1;
  weft_result_t rc;
  const char *what = first_len > WEFT__COORD_HDR_LEN && first[5] == WEFT__COORD_REJOIN ? "REJOIN" : "HELLO";
  uint8_t *msg = malloc(first_len + WEFT__COORD_TAG_LEN);

  *fd = -1;
  if (msg == NULL) {
    snprintf(err, errlen, "coordinator %s:%d: out of memory", host, port);
    return WEFT_ERR_NO_MEMORY;
  }
  rc = weft__sock_connect(host, port, deadline, true, &s, err, errlen);
  if (rc != WEFT_SUCCESS) goto fail; /* err already names host:port */

  rc = weft__auth_client_nonces(s, key, WEFT__AUTH_ROLE_COORD, deadline, &nonces, why, sizeof why);
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "coordinator %s:%d: %s", host, port, why);
    goto fail;
  }
  weft__coord_session_init(session, key, &nonces, false);

  memcpy(msg, first, first_len);
  weft__coord_seal(&session->tx, msg, first_len, msg + first_len); /* the session's first message */
  rc = weft__sock_write_all(s, msg, first_len + WEFT__COORD_TAG_LEN, deadline);
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "coordinator %s:%d: sending %s: %s", host, port, what, io_text(rc));
    goto fail;
  }

  rc = weft__sock_read_all(s, hdr_bytes, sizeof hdr_bytes, deadline);
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "coordinator %s:%d: waiting for WELCOME: %s", host, port, io_text(rc));
    goto fail;
  }
  if (!weft__coord_decode_hdr(hdr_bytes, &hdr) ||
      (hdr.type == WEFT__COORD_WELCOME && hdr.length != WELCOME_PAYLOAD_LEN) ||
      (hdr.type == WEFT__COORD_ERROR && hdr.length != ERROR_PAYLOAD_LEN) ||
      (hdr.type != WEFT__COORD_WELCOME && hdr.type != WEFT__COORD_ERROR)) {
    snprintf(err, errlen, "coordinator %s:%d: expected WELCOME, got a malformed or unexpected "
             "message", host, port);
    rc = WEFT_ERR_PROTOCOL;
    goto fail;
  }
  rc = weft__sock_read_all(s, payload, hdr.length, deadline);
  if (rc == WEFT_SUCCESS) rc = weft__sock_read_all(s, tag, sizeof tag, deadline);
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "coordinator %s:%d: reading its answer: %s", host, port, io_text(rc));
    goto fail;
  }
  if (!weft__coord_verify(&session->rx, hdr_bytes, payload, hdr.length, tag)) {
    snprintf(err, errlen, "coordinator %s:%d: its answer failed authentication (bad tag: not from "
             "the coordinator we authenticated)", host, port);
    rc = WEFT_ERR_UNAUTHORIZED;
    goto fail;
  }

  if (hdr.type == WEFT__COORD_ERROR) {
    weft__coord_error_t e;
    if (!weft__coord_decode_error(payload, hdr.length, &e)) {
      snprintf(err, errlen, "coordinator %s:%d: malformed ERROR", host, port);
      rc = WEFT_ERR_PROTOCOL;
      goto fail;
    }
    snprintf(err, errlen, "coordinator %s:%d refused us: %s", host, port, e.text);
    rc = (weft_result_t)e.code;
    goto fail;
  }
  if (!weft__coord_decode_welcome(payload, hdr.length, welcome)) {
    snprintf(err, errlen, "coordinator %s:%d: malformed WELCOME", host, port);
    rc = WEFT_ERR_PROTOCOL;
    goto fail;
  }
  *fd = s;
  free(msg);
  return WEFT_SUCCESS;

fail:
  free(msg);
  if (s >= 0) close(s);
  weft__coord_session_wipe(session);
  return rc;
}

weft_result_t weft__coord_connect(const char *host, int port, const weft__auth_key_t *key,
                                  const weft__coord_hello_t *hello, double deadline, int *fd,
                                  weft__coord_session_t *session, weft__coord_welcome_t *welcome,
                                  char *err, size_t errlen) {
  uint8_t msg[HELLO_MSG_MAX];
  size_t n = weft__coord_encode_hello(msg, sizeof msg, hello);
  *fd = -1;
  if (n == 0) {
    snprintf(err, errlen, "coordinator %s:%d: cannot encode HELLO", host, port);
    return WEFT_ERR_INTERNAL;
  }
  return weft__coord_connect_with(host, port, key, msg, n, deadline, fd, session, welcome, err, errlen);
}
