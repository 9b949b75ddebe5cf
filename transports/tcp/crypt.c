/* The record layer of an encrypted connection (WEFT_ENCRYPT=1): the format and why are in
 * crypt.h. Everything here is libsodium's: X25519 + BLAKE2b key exchange (crypto_kx) and
 * XChaCha20-Poly1305 (crypto_aead_xchacha20poly1305_ietf); nothing cryptographic is our own.
 *
 * Receiving: ciphertext is read ahead into one fixed buffer of two maximal records, a record is
 * decrypted in place once it is whole and its tag verified, and only then is its plaintext
 * handed out. Sending: up to one record of plaintext is gathered from the caller's iovec, sealed
 * in place in a fixed buffer, and written from there (partial writes resume on the next call). */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/le.h"
#include "transports/tcp/crypt.h"

#define RX_CAP (2 * WEFT__CRYPT_WIRE_MAX) /* a partial record plus at least one whole one */

_Static_assert(WEFT__CRYPT_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag length");
_Static_assert(WEFT__CRYPT_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key length");
_Static_assert(WEFT__CRYPT_KEY_LEN == crypto_kx_SESSIONKEYBYTES, "session key length");
_Static_assert(WEFT__CRYPT_PK_LEN == crypto_kx_PUBLICKEYBYTES && 32 == crypto_kx_SECRETKEYBYTES, "kx key length");

struct weft__crypt {
  weft__crypt_keys_t keys;
  uint64_t tx_ctr, rx_ctr; /* the next record's number in each direction */
  /* send: one sealed record, out_off of its out_len bytes written */
  uint8_t *out;
  size_t out_off, out_len;
  /* receive: stream bytes [in_start, in_end) not yet opened; [pt_off, pt_off + pt_len) the
   * verified plaintext of the last opened record, not yet taken */
  uint8_t *in;
  size_t in_start, in_end, pt_off, pt_len;
  int rx_error; /* sticky: once a record failed, the stream is unusable */
};

static void nonce_of(uint64_t ctr, uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES]) {
  memset(nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  weft__put64(nonce, ctr);
}

/* ---- keys ------------------------------------------------------------------------------- */

void weft__crypt_kx_new(weft__crypt_kx_t *kx) { crypto_kx_keypair(kx->pk, kx->sk); }

bool weft__crypt_kx_keys(weft__crypt_kx_t *kx, bool dialer, const uint8_t peer_pk[WEFT__CRYPT_PK_LEN],
                         weft__crypt_keys_t *out) {
  int r = dialer ? crypto_kx_client_session_keys(out->rx, out->tx, kx->pk, kx->sk, peer_pk)
                 : crypto_kx_server_session_keys(out->rx, out->tx, kx->pk, kx->sk, peer_pk);
  sodium_memzero(kx, sizeof *kx);
  return r == 0;
}

size_t weft__crypt_seal(const uint8_t key[WEFT__CRYPT_KEY_LEN], uint64_t counter, const uint8_t *in, size_t len,
                        uint8_t *out) {
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  weft__put32(out, (uint32_t)(len + WEFT__CRYPT_TAG_LEN));
  if (in != out + WEFT__CRYPT_LEN_LEN) memmove(out + WEFT__CRYPT_LEN_LEN, in, len);
  nonce_of(counter, nonce);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + WEFT__CRYPT_LEN_LEN, NULL, out + WEFT__CRYPT_LEN_LEN, len, out,
                                             WEFT__CRYPT_LEN_LEN, NULL, nonce, key);
  return WEFT__CRYPT_LEN_LEN + len + WEFT__CRYPT_TAG_LEN;
}

/* ---- lifetime --------------------------------------------------------------------------- */

weft__crypt_t *weft__crypt_new(const weft__crypt_keys_t *keys) {
  weft__crypt_t *cr = calloc(1, sizeof *cr);
  if (!cr) return NULL;
  cr->out = malloc(WEFT__CRYPT_WIRE_MAX);
  cr->in = malloc(RX_CAP);
  if (!cr->out || !cr->in) {
    weft__crypt_free(cr);
    return NULL;
  }
  cr->keys = *keys;
  return cr;
}

void weft__crypt_free(weft__crypt_t *cr) {
  if (!cr) return;
  sodium_memzero(&cr->keys, sizeof cr->keys);
  free(cr->out);
  free(cr->in);
  free(cr);
}

/* ---- sending ---------------------------------------------------------------------------- */

bool weft__crypt_send_pending(const weft__crypt_t *cr) { return cr->out_off < cr->out_len; }

int weft__crypt_flush(weft__crypt_t *cr, int fd) {
  while (cr->out_off < cr->out_len) {
    ssize_t n = send(fd, cr->out + cr->out_off, cr->out_len - cr->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    cr->out_off += (size_t)n;
  }
  cr->out_off = cr->out_len = 0;
  return 1;
}

ssize_t weft__crypt_send(weft__crypt_t *cr, int fd, const struct iovec *iov, int niov) {
  int f = weft__crypt_flush(cr, fd);
  if (f <= 0) {
    if (f == 0) errno = EAGAIN;
    return -1;
  }
  uint8_t *pt = cr->out + WEFT__CRYPT_LEN_LEN;
  size_t len = 0;
  for (int i = 0; i < niov && len < WEFT__CRYPT_RECORD_MAX; i++) {
    size_t k = WEFT__MIN(iov[i].iov_len, WEFT__CRYPT_RECORD_MAX - len);
    memcpy(pt + len, iov[i].iov_base, k);
    len += k;
  }
  if (len == 0) return 0;
  cr->out_len = weft__crypt_seal(cr->keys.tx, cr->tx_ctr++, pt, len, cr->out);
  cr->out_off = 0;
  if (weft__crypt_flush(cr, fd) < 0) return -1;
  return (ssize_t)len; /* taken: what was not written yet goes out with the next call or flush */
}

/* ---- receiving -------------------------------------------------------------------------- */

bool weft__crypt_recv_buffered(const weft__crypt_t *cr) {
  if (cr->pt_len > 0) return true;
  size_t avail = cr->in_end - cr->in_start;
  return avail >= WEFT__CRYPT_LEN_LEN && avail >= WEFT__CRYPT_LEN_LEN + weft__get32(cr->in + cr->in_start);
}

/* Verifies and decrypts the next whole record in place: 0, or an errno. */
static int open_record(weft__crypt_t *cr) {
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  size_t avail = cr->in_end - cr->in_start;
  if (avail < WEFT__CRYPT_LEN_LEN) return EAGAIN;
  uint8_t *rec = cr->in + cr->in_start;
  uint32_t clen = weft__get32(rec);
  if (clen <= WEFT__CRYPT_TAG_LEN || clen > WEFT__CRYPT_RECORD_MAX + WEFT__CRYPT_TAG_LEN) return EPROTO;
  if (avail < WEFT__CRYPT_LEN_LEN + (size_t)clen) return EAGAIN;
  nonce_of(cr->rx_ctr, nonce);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(rec + WEFT__CRYPT_LEN_LEN, &mlen, NULL, rec + WEFT__CRYPT_LEN_LEN,
                                                 clen, rec, WEFT__CRYPT_LEN_LEN, nonce, cr->keys.rx) != 0)
    return EBADMSG;
  cr->rx_ctr++;
  cr->pt_off = cr->in_start + WEFT__CRYPT_LEN_LEN;
  cr->pt_len = (size_t)mlen;
  cr->in_start += WEFT__CRYPT_LEN_LEN + clen;
  return 0;
}

ssize_t weft__crypt_take(weft__crypt_t *cr, uint8_t *dst, size_t want) {
  if (cr->pt_len == 0) {
    int e = cr->rx_error ? cr->rx_error : open_record(cr);
    if (e != 0) {
      if (e != EAGAIN) cr->rx_error = e;
      errno = e;
      return -1;
    }
  }
  size_t n = WEFT__MIN(want, cr->pt_len);
  memcpy(dst, cr->in + cr->pt_off, n);
  cr->pt_off += n;
  cr->pt_len -= n;
  return (ssize_t)n;
}

/* Room at the end of the buffer; the unopened bytes move to the front only when no plaintext is
 * still to be taken (it lies before them). */
static size_t make_room(weft__crypt_t *cr) {
  if (cr->pt_len == 0 && cr->in_start > 0) {
    memmove(cr->in, cr->in + cr->in_start, cr->in_end - cr->in_start);
    cr->in_end -= cr->in_start;
    cr->in_start = 0;
  }
  return RX_CAP - cr->in_end;
}

size_t weft__crypt_feed(weft__crypt_t *cr, const uint8_t *in, size_t n) {
  size_t k = WEFT__MIN(n, make_room(cr));
  memcpy(cr->in + cr->in_end, in, k);
  cr->in_end += k;
  return k;
}

ssize_t weft__crypt_recv(weft__crypt_t *cr, int fd, uint8_t *dst, size_t want, bool *drained) {
  for (;;) {
    ssize_t n = weft__crypt_take(cr, dst, want);
    if (n >= 0 || errno != EAGAIN) return n;
    if (*drained) return -1; /* the socket was empty a moment ago: errno is EAGAIN */
    size_t room = make_room(cr);
    ssize_t r = recv(fd, cr->in + cr->in_end, room, MSG_DONTWAIT);
    if (r <= 0) return r;
    cr->in_end += (size_t)r;
    *drained = (size_t)r < room;
  }
}
