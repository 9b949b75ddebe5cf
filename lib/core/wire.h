/* The data-plane frame (lib/core/wire.c): a fixed-width, versioned 80-byte header in front of
 * every payload on a rank-to-rank connection. It names the epoch, the operation's sequence
 * number and its full descriptor, so a receiver can reject a frame from another epoch or
 * operation (stale data is never mixed into a result) and can name the difference when two
 * ranks called different collectives.
 *
 * Layout (little-endian):
 *   0 magic u32 "WEFT"   4 version u8   5 type u8   6 coll u8   7 dtype u8
 *   8 redop u8           9 algo u8     10 flags u16            12 src_rank u32
 *  16 epoch u64         24 seq u64     32 count u64            40 offset u64 (bytes, in step)
 *  48 phase u32         52 root i32 (P2P: the message's tag)
 *  56 len u32 (payload)  60 code u32 (ABORT: weft_result_t)
 *  64 comm_id u64 (the communicator: 0 for the one weft_comm_init made, else derived by
 *                  weft_comm_split/weft_comm_create_group identically on every member)
 *  72 msg_count u64 (DATA/P2P: elements of the whole message this frame is part of, so a
 *                  sender and receiver that disagree on a message's size learn it at its first
 *                  frame instead of waiting for bytes that never come; 0 otherwise)
 *
 * Version 2 added comm_id and msg_count (version 1 was the first 64 bytes); version 3 carries a
 * point-to-point message's tag in root (version 2 put the destination rank there).
 */
#ifndef WEFT_CORE_WIRE_H
#define WEFT_CORE_WIRE_H

#include "core/common.h"

#define WEFT__WIRE_MAGIC 0x54464557u /* "WEFT" */
#define WEFT__WIRE_VERSION 3
#define WEFT__FRAME_HDR_LEN 80
#define WEFT__FRAME_MAX_PAYLOAD (64u << 20) /* == the largest WEFT_CHUNK_SIZE */
#define WEFT__ABORT_TEXT_MAX 512

typedef enum {
  WEFT__FRAME_DATA = 1,  /* collective data of (epoch, seq, phase) */
  WEFT__FRAME_P2P = 2,   /* point-to-point data; seq counts messages per sender->receiver */
  WEFT__FRAME_ABORT = 3, /* the sender failed operation seq; payload: reason text */
  WEFT__FRAME_BYE = 4,   /* the sender is closing cleanly (weft_comm_destroy) */
} weft__frame_type_t;

typedef struct {
  uint8_t type, coll, dtype, redop, algo;
  uint16_t flags;
  uint32_t src_rank;
  uint64_t epoch, seq, count, offset;
  uint32_t phase;
  int32_t root;
  uint32_t len;
  uint32_t code;
  uint64_t comm_id;
  uint64_t msg_count;
} weft__frame_t;

void weft__frame_encode(uint8_t out[WEFT__FRAME_HDR_LEN], const weft__frame_t *f);
/* Validates magic, version, type and len <= max_payload; on failure writes the reason. */
bool weft__frame_decode(const uint8_t in[WEFT__FRAME_HDR_LEN], uint32_t max_payload,
                        weft__frame_t *f, char *why, size_t whylen);

#endif
