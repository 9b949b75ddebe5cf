/* This process's host identity (lib/bootstrap/host_id.c): a 64-bit id, equal for processes that
 * can share memory with each other and, as far as the kernel lets us tell, different otherwise.
 * The shared-memory transport reaches exactly the members whose cards carry this process's id.
 * WEFT_HOST_ID (env.c) overrides it, for tests that pretend ranks run on different hosts. */
#ifndef WEFT_BOOTSTRAP_HOST_ID_H
#define WEFT_BOOTSTRAP_HOST_ID_H

#include "core/common.h"

/* Computed once per process (thread-safe); never 0 (0 means "unknown" in a card). */
uint64_t weft__host_id(void);

#endif
