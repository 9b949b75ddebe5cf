/* Epochs (lib/membership/epoch.c): installing the membership the coordinator decided, at init
 * and at every weft_comm_recover. Installing means: find this process's rank, reset the
 * per-epoch state (sequence numbers, failure flags), form the new mesh, create the transport.
 * The progress thread is paused meanwhile (it keeps talking to the coordinator). */
#ifndef WEFT_MEMBERSHIP_EPOCH_H
#define WEFT_MEMBERSHIP_EPOCH_H

#include "core/comm.h"

/* Waits (until deadline) for an EPOCH message from the coordinator, then installs it. */
weft_result_t weft__epoch_wait_and_join(weft_comm_t *c, double deadline, char *err, size_t errlen);

/* Used by recover.c too. */
void weft__epoch_pause(weft_comm_t *c, bool pause);
/* Waits for the store's answer (never PENDING unless the deadline passed); for ERROR the code
 * and text are in c->coord_error. */
weft__store_answer_t weft__epoch_wait_answer(weft_comm_t *c, double deadline);
weft_result_t weft__epoch_install(weft_comm_t *c, double deadline, char *err, size_t errlen);

/* weft_comm_recover's body. admit=false asks the coordinator for a shrink (SHRINK): failed
 * members leave, waiting joiners stay out (weft_allreduce_elastic re-runs among survivors).
 * who names the API call in error details. *joiners_wait (may be NULL): the answer was JOINERS
 * (nothing changed, joiners wait; every member heard it in this round). */
weft_result_t weft__comm_recover(weft_comm_t *c, weft_recover_info_t *info, bool admit, const char *who,
                                 bool *joiners_wait);

#endif
