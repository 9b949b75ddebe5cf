/* weft_allreduce_elastic: an allreduce that survives the loss of members by running again among
 * the survivors.
 *
 * The hard part is not the re-run but agreeing on it. A failure can reach the members at
 * different moments: one member may complete the allreduce (it had everything it needed before
 * the dead rank stopped) while another fails. If only the failed ones re-ran, the others would
 * already be in their next call and the re-run would never match. So every attempt, successful
 * or not, ends in a SHRINK round with the coordinator — the same decision every member receives:
 * NO_CHANGE means nobody failed during the attempt and every member's result stands; a new epoch
 * means somebody did, and every member (including those whose attempt succeeded) runs it again
 * in the new epoch. SHRINK keeps waiting joiners out: they cannot take part in a re-run they
 * know nothing of.
 *
 * Joiners still get in without the application calling weft_comm_recover: a SHRINK round that
 * changes nothing while joiners wait is answered JOINERS instead of NO_CHANGE. Every member of
 * the epoch receives that one answer in the same round -- the round of this call, at this step
 * -- so every member knows, at the same step boundary, that it must admit them, and all send
 * RECOVER next; no flag has to be agreed on the data plane. The step's result stands (it is over
 * the members that ran it: *contributors is their number) and info lists the joiners, whose
 * state the application then hands over (e.g. a broadcast), as after weft_comm_recover.
 *
 * Cost: one coordinator round trip per call on top of the allreduce, and for in-place calls one
 * copy of the input (a partial attempt may have overwritten recvbuf). */
#include <stdlib.h>
#include <string.h>

#include "membership/epoch.h"

#define ELASTIC_MAX_ATTEMPTS 64 /* each extra attempt needs a new, smaller epoch: never reached */

static const char WHO[] = "weft_allreduce_elastic";

/* Folds what one recover changed into the running total over all attempts. */
static void merge_info(weft_recover_info_t *total, const weft_recover_info_t *step, bool first) {
  if (first) {
    *total = *step;
    return;
  }
  /* Old ranks listed by a later step are ranks of an intermediate epoch; only the totals stay
   * exact across several shrinks, so the lists are those of the first change. */
  total->new_epoch = step->new_epoch;
  total->new_size = step->new_size;
  total->new_rank = step->new_rank;
  total->num_left += step->num_left;
  /* Joiners enter only in the last step (JOINERS), so its list is in the final epoch's ranks. */
  total->is_new_member = step->is_new_member;
  total->num_joined = step->num_joined;
  memcpy(total->joined_new_ranks, step->joined_new_ranks, sizeof total->joined_new_ranks);
}

/* JOINERS: every member heard it in the same round, so every member is here at this step and
 * sends RECOVER; the coordinator answers all of them with the epoch that lets the joiners in. */
static weft_result_t admit_joiners(weft_comm_t *comm, weft_recover_info_t *info, bool first) {
  weft_recover_info_t step;
  weft_result_t r = weft__comm_recover(comm, &step, true, WHO, NULL);
  if (r != WEFT_SUCCESS) return r; /* the step's result stands, but the caller must hear this */
  if (info) merge_info(info, &step, first);
  WEFT__INFO("rank %d: %s: joiners admitted: epoch %llu -> %llu (size %d -> %d)", comm->rank, WHO,
             (unsigned long long)step.old_epoch, (unsigned long long)step.new_epoch, step.old_size, step.new_size);
  return WEFT_SUCCESS;
}

WEFT_API weft_result_t weft_allreduce_elastic(weft_comm_t *comm, const void *sendbuf,
                                              void *recvbuf, size_t count, weft_dtype_t dtype,
                                              weft_redop_t op, int *contributors,
                                              weft_recover_info_t *info) {
  if (contributors) *contributors = 0;
  if (info) memset(info, 0, sizeof *info);
  if (!comm) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "%s: comm is NULL", WHO);
  if (info) {
    info->old_epoch = info->new_epoch = comm->epoch;
    info->old_size = info->new_size = comm->size;
    info->old_rank = info->new_rank = comm->rank;
  }

  /* In place: keep the input, since a failed attempt may leave recvbuf half reduced. Arguments
   * the copy cannot be made for (bad dtype, NULL, overflowing size) are left for weft_allreduce
   * to reject with its usual detail. */
  const void *input = sendbuf;
  void *saved = NULL;
  size_t dsize = weft_dtype_size(dtype);
  if (sendbuf != NULL && sendbuf == recvbuf && dsize != 0 && count <= SIZE_MAX / dsize) {
    size_t bytes = count * dsize;
    saved = malloc(bytes > 0 ? bytes : 1);
    if (!saved) {
      weft__comm_set_error(comm, "%s: out of memory keeping a copy of the %zu-byte in-place input", WHO,
                           count * dsize);
      return WEFT_ERR_NO_MEMORY;
    }
    memcpy(saved, sendbuf, count * dsize);
    input = saved;
  }

  weft_result_t r = WEFT_SUCCESS;
  bool changed = false;
  for (int attempt = 0; attempt < ELASTIC_MAX_ATTEMPTS; attempt++) {
    weft_result_t op_r = weft_allreduce(comm, input, recvbuf, count, dtype, op);
    if (op_r != WEFT_SUCCESS && op_r != WEFT_ERR_PEER_LOST && op_r != WEFT_ERR_REVOKED) {
      r = op_r; /* not a membership failure (bad argument, mismatch, timeout): nothing to re-run */
      goto out;
    }
    weft_recover_info_t step;
    bool joiners_wait = false;
    r = weft__comm_recover(comm, &step, false, WHO, &joiners_wait);
    if (r != WEFT_SUCCESS) goto out; /* below min size, evicted, coordinator gone: the caller's call */
    if (step.new_epoch == step.old_epoch) {
      /* Nobody failed: every member's attempt stands. (A failed attempt with no change cannot
       * happen: recover reports a local-only revoke as WEFT_ERR_REVOKED.) */
      r = op_r;
      if (r == WEFT_SUCCESS && contributors) *contributors = comm->size;
      if (r == WEFT_SUCCESS && joiners_wait) r = admit_joiners(comm, info, !changed);
      goto out;
    }
    if (info) merge_info(info, &step, !changed);
    changed = true;
    WEFT__INFO("rank %d: %s: epoch %llu -> %llu (size %d -> %d), running again", comm->rank, WHO,
               (unsigned long long)step.old_epoch, (unsigned long long)step.new_epoch, step.old_size,
               step.new_size);
  }
  weft__comm_set_error(comm, "%s: the membership changed %d times during one call", WHO, ELASTIC_MAX_ATTEMPTS);
  r = WEFT_ERR_INTERNAL;
out:
  free(saved);
  return r;
}
