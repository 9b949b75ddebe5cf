/* One rank of the card check: every member's card, as this rank's membership store delivered it
 * and lib/core/card.c decoded it (weft__member_card), names the member the epoch lists at that
 * rank, carries a TCP address, and carries the host identity that member published. Run under
 * weftrun, on one machine:
 *   weftrun -n N card_check same       every card has this process's weft__host_id()
 *   weftrun -n N card_check per-rank   rank r sets WEFT_HOST_ID=0x1000+r before init (as if on
 *                                      a host of its own): card r has 0x1000+r, all differ
 * Internal: links the internal library to reach weft__ names (as tests/unit do). Prints each
 * card; exit status 0 only if every check passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap/host_id.h"
#include "core/comm.h"

int main(int argc, char **argv) {
  bool per_rank = argc == 2 && strcmp(argv[1], "per-rank") == 0;
  if (argc != 2 || (!per_rank && strcmp(argv[1], "same") != 0)) {
    fprintf(stderr, "usage: %s same|per-rank\n", argv[0]);
    return 2;
  }
  const char *rank_env = getenv("WEFT_RANK");
  int my_rank = rank_env ? atoi(rank_env) : -1;
  if (per_rank) {
    char id[32];
    snprintf(id, sizeof id, "0x%x", 0x1000 + my_rank);
    setenv("WEFT_HOST_ID", id, 1);
  }
  weft_comm_t *comm;
  weft_result_t r = weft_comm_init_env(&comm);
  if (r != WEFT_SUCCESS) {
    fprintf(stderr, "init: %s\n", weft_comm_last_error(NULL));
    return 2;
  }
  int wrong = 0;
  for (int i = 0; i < comm->size; i++) {
    weft__card_t card = weft__member_card(comm, i);
    uint64_t want = per_rank ? 0x1000u + (uint64_t)comm->members[i].rank_hint : weft__host_id();
    char addr[64];
    weft__addr_format(&card.addr, addr, sizeof addr);
    printf("rank %d sees rank %d: member %llu host_id %016llx tcp %s\n", comm->rank, i,
           (unsigned long long)card.member_id, (unsigned long long)card.host_id, addr);
    if (card.member_id != comm->members[i].member_id || card.host_id != want ||
        (card.addr.family != 4 && card.addr.family != 6)) {
      fprintf(stderr, "rank %d: WRONG card for rank %d (want member %llu host_id %016llx)\n", comm->rank, i,
              (unsigned long long)comm->members[i].member_id, (unsigned long long)want);
      wrong++;
    }
  }
  /* The mesh formed from these cards works. */
  int32_t x = 1;
  if ((r = weft_allreduce(comm, &x, &x, 1, WEFT_INT32, WEFT_SUM)) != WEFT_SUCCESS || x != comm->size) {
    fprintf(stderr, "rank %d: allreduce: %s\n", comm->rank, weft_comm_last_error(comm));
    wrong++;
  }
  weft_comm_destroy(comm);
  return wrong ? 1 : 0;
}
