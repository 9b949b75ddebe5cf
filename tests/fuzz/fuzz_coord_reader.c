/* Fuzz target: the coordinator protocol's incremental reader, weft__coord_reader_step
 * (lib/bootstrap/coord_proto.c), fed through a real non-blocking socketpair or pipe in
 * fuzzer-chosen pieces, the way a coordinator or a rank receives a byte stream.
 *
 * Input: byte 0: bit 0 pipe instead of socketpair, bits 1-7 the `err` buffer size; byte 1: the
 * largest piece written at once (0: everything at once); the rest is the stream. The writer
 * closes after the last byte.
 * The reader's session is the fixed one of fuzz_reader_session (fuzz_common.h), which the seed
 * corpus is tagged with (gen_corpus.c), so mutations reach past the tag check too.
 * Properties: each message delivered is exactly the next header + payload + tag of the stream,
 * and that tag verifies; the payload buffer never grows past the protocol's limit; once the
 * writer closed, the reader never answers "need more bytes" (that would wait forever); it stops
 * with an error only at a header that does not decode, at a whole message whose tag does not
 * verify, or at end of stream, and then with a NUL-terminated reason. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bootstrap/coord_proto.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool once;
  if (!once) {
    signal(SIGPIPE, SIG_IGN);
    once = true;
  }
  uint8_t mode = fuzz_take_u8(&data, &size);
  uint8_t piece = fuzz_take_u8(&data, &size);
  bool use_pipe = mode & 1;
  size_t errlen = 1 + (mode >> 1);
  /* Both ends non-blocking from the start: one system call, not five (the run is bound by
   * system calls, three per piece on top of these). */
  int fds[2];
  if (use_pipe ? pipe2(fds, O_NONBLOCK) != 0 : socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0)
    abort();
  int rfd = fds[0], wfd = fds[1];

  weft__coord_session_t session, ref, unused;
  fuzz_reader_session(&unused, &session);
  ref = session; /* checks each delivered message independently of the reader */
  weft__coord_reader_t r;
  memset(&r, 0, sizeof r);
  r.session = &session;
  char *err = fuzz_textbuf(errlen);
  size_t off = 0, cons = 0, pieces = 0;
  bool closed = false, failed = false;
  /* Each round writes a piece or delivers a message or ends the stream: this bounds the loop. */
  size_t rounds = 0, max_rounds = 4 * size + 64;
  while (!failed) {
    FUZZ_CHECK(++rounds <= max_rounds);
    if (off < size) {
      size_t want = size - off;
      if (piece) {
        size_t cut = 1 + (pieces++ * 37u + piece) % piece; /* not inside WEFT__MIN: it evaluates twice */
        want = WEFT__MIN(want, cut);
      }
      ssize_t n = write(wfd, data + off, want);
      if (n > 0) off += (size_t)n;
      else FUZZ_CHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    } else if (!closed) {
      close(wfd);
      wfd = -1;
      closed = true;
    }
    int rc;
    while ((rc = weft__coord_reader_step(&r, rfd, err, errlen)) == 1) {
      FUZZ_CHECK(++rounds <= max_rounds);
      /* A message: the header bytes and payload are the next ones of the stream. */
      FUZZ_CHECK(r.hdr_got == WEFT__COORD_HDR_LEN && r.payload_got == r.h.length && r.tag_got == WEFT__COORD_TAG_LEN);
      FUZZ_CHECK(r.h.length <= WEFT__COORD_MAX_PAYLOAD && r.payload_cap <= WEFT__COORD_MAX_PAYLOAD);
      FUZZ_CHECK(cons + WEFT__COORD_HDR_LEN + r.h.length + WEFT__COORD_TAG_LEN <= off);
      FUZZ_CHECK(memcmp(r.hdr, data + cons, WEFT__COORD_HDR_LEN) == 0);
      FUZZ_CHECK(r.h.length == 0 || memcmp(r.payload, data + cons + WEFT__COORD_HDR_LEN, r.h.length) == 0);
      FUZZ_CHECK(memcmp(r.tag, data + cons + WEFT__COORD_HDR_LEN + r.h.length, WEFT__COORD_TAG_LEN) == 0);
      FUZZ_CHECK(weft__coord_verify(&ref.rx, r.hdr, r.payload, r.h.length, r.tag));
      weft__coord_hdr_t h;
      FUZZ_CHECK(weft__coord_decode_hdr(data + cons, &h) && h.type == r.h.type);
      cons += WEFT__COORD_HDR_LEN + r.h.length + WEFT__COORD_TAG_LEN;
    }
    if (rc == 0) {
      FUZZ_CHECK(!closed); /* everything is in the kernel buffer or EOF is: no waiting */
      continue;
    }
    FUZZ_CHECK(rc == -1);
    FUZZ_CHECK(fuzz_terminated(err, errlen));
    failed = true;
  }
  /* Why it stopped: a header that does not decode, a tag that does not verify, or the end of
   * the stream (inside a message only if the stream ended there). */
  weft__coord_hdr_t h;
  size_t rest = off - cons;
  if (rest >= WEFT__COORD_HDR_LEN && weft__coord_decode_hdr(data + cons, &h)) {
    if (rest >= WEFT__COORD_HDR_LEN + h.length + WEFT__COORD_TAG_LEN)
      FUZZ_CHECK(!weft__coord_verify(&ref.rx, data + cons, data + cons + WEFT__COORD_HDR_LEN, h.length,
                                     data + cons + WEFT__COORD_HDR_LEN + h.length));
    else
      FUZZ_CHECK(closed && off == size);
  } else if (rest < WEFT__COORD_HDR_LEN) {
    FUZZ_CHECK(closed && off == size);
  }
  FUZZ_CHECK(r.payload_cap <= WEFT__COORD_MAX_PAYLOAD);
  weft__coord_reader_free(&r);
  FUZZ_CHECK(r.payload == NULL && r.payload_cap == 0);
  weft__coord_reader_free(NULL);
  free(err);
  close(rfd);
  if (wfd >= 0) close(wfd);
  return 0;
}
