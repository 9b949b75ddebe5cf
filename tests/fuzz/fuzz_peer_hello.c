/* Fuzz target: the mesh's PEER_HELLO decoder, weft__peer_hello_decode (transports/tcp/hello.c),
 * the first thing an acceptor reads from an authenticated but otherwise untrusted dialer, and
 * the PEER_ACK decoder, weft__peer_ack_decode, what a dialer reads back.
 *
 * Input: the body bytes, any length (only WEFT__PEER_HELLO_BODY_LEN, 96, is valid; the signature
 * that follows on the wire is checked by libsodium, not parsed). Property: an accepted message
 * re-encodes to exactly the input (magic, version, flags, key field and reserved bytes are all
 * checked). Inputs of WEFT__PEER_ACK_LEN bytes are also decoded as an ACK: an accepted one
 * re-encodes to the same body. */
#include "transports/tcp/mesh.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *in = fuzz_dup(data, size);
  weft__peer_hello_t h;
  if (weft__peer_hello_decode(in, size, &h)) {
    FUZZ_CHECK(size == WEFT__PEER_HELLO_BODY_LEN);
    uint8_t again[WEFT__PEER_HELLO_BODY_LEN];
    weft__peer_hello_encode(again, &h);
    FUZZ_CHECK(memcmp(again, in, sizeof again) == 0);
  }
  FUZZ_CHECK(!weft__peer_hello_decode(NULL, size, &h));
  if (size == WEFT__PEER_ACK_LEN) {
    uint32_t status, flags;
    uint8_t pk[WEFT__CRYPT_PK_LEN], again[WEFT__PEER_ACK_LEN];
    if (weft__peer_ack_decode(in, &status, &flags, pk)) {
      weft__peer_ack_make(NULL, NULL, NULL, NULL, status, flags, pk, again);
      FUZZ_CHECK(memcmp(again, in, WEFT__PEER_ACK_BODY_LEN) == 0);
    }
  }
  free(in);
  return 0;
}
