/* Rank side of the coordinator protocol, the blocking part used by init (lib/bootstrap/
 * coord_client.c). The progress thread then owns the fd and reads it with weft__coord_reader. */
#ifndef WEFT_BOOTSTRAP_COORD_CLIENT_H
#define WEFT_BOOTSTRAP_COORD_CLIENT_H

#include "bootstrap/auth.h"
#include "bootstrap/coord_proto.h"

/* Connect to host:port (retrying refused connections until deadline: the coordinator may start
 * after the rank), authenticate (role COORD), send HELLO, read WELCOME. An ERROR answer is
 * returned as its code with its text in err. On success *session authenticates every later
 * message of the connection (coord_proto.h): HELLO and WELCOME were its first. */
weft_result_t weft__coord_connect(const char *host, int port, const weft__auth_key_t *key,
                                  const weft__coord_hello_t *hello, double deadline, int *fd,
                                  weft__coord_session_t *session, weft__coord_welcome_t *welcome,
                                  char *err, size_t errlen);
/* The same with another first message than HELLO (REJOIN, encoded, not yet sealed). */
weft_result_t weft__coord_connect_with(const char *host, int port, const weft__auth_key_t *key, const uint8_t *first,
                                       size_t first_len, double deadline, int *fd, weft__coord_session_t *session,
                                       weft__coord_welcome_t *welcome, char *err, size_t errlen);
/* Blocking send of one whole encoded message, then its tag (bounded by deadline). Sends on one
 * session must be serialised: the tag numbers them. */
weft_result_t weft__coord_send(weft__coord_session_t *s, int fd, const uint8_t *msg, size_t len, double deadline);

#endif
