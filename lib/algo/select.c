/* Algorithm selection for WEFT__ALGO_AUTO (contract in lib/algo/schedule.h).
 *
 * Trees finish in about log2(n) phases but move whole messages per phase; rings move only
 * count/n per phase but need about n phases. So: trees for small messages, where latency
 * dominates, rings for large ones, where bandwidth does. Cases where the choice cannot matter
 * or a ring gains nothing are settled first:
 *   - a barrier carries no data, so only latency counts: tree;
 *   - with one or two ranks a ring has no extra links to spread load over and only adds phases
 *     (a two-rank ring allreduce is two half-size exchanges instead of one): tree.
 * The function reads nothing but its arguments, so every rank makes the same choice.
 */
#include "algo/schedule.h"

weft__algo_t weft__algo_select(weft__coll_t coll, uint64_t nbytes, int size, weft__algo_t forced,
                               uint64_t tree_threshold_bytes) {
  if (forced == WEFT__ALGO_RING || forced == WEFT__ALGO_TREE) return forced;
  if (coll == WEFT__COLL_BARRIER || size <= 2) return WEFT__ALGO_TREE;
  return nbytes < tree_threshold_bytes ? WEFT__ALGO_TREE : WEFT__ALGO_RING;
}
