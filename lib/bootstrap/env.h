/* Rank discovery from the environment (lib/bootstrap/env.c), with no code change under weftrun,
 * torchrun, Slurm or MPI launchers. Precedence: weft's own variables, then torchrun, then Slurm,
 * then MPICH's hydra (PMI_*), then Open MPI (OMPI_COMM_WORLD_*). */
#ifndef WEFT_BOOTSTRAP_ENV_H
#define WEFT_BOOTSTRAP_ENV_H

#include "core/common.h"

#define WEFT__HOST_MAX 256

typedef struct {
  int rank;        /* -1 if unknown */
  int world_size;  /* 0 if unknown */
  int local_rank;  /* -1 if unknown */
  char coord_host[WEFT__HOST_MAX]; /* "" if unknown */
  int coord_port;                  /* 0 if unknown */
  bool coord_explicit;  /* WEFT_COORDINATOR was given: never spawn one */
  char token[256];      /* WEFT_JOB_TOKEN, or derived (see token_derived) */
  bool token_derived;   /* no WEFT_JOB_TOKEN: derived from the launcher's job id (weaker) */
  const char *source;   /* "weft", "torchrun", "slurm", "mpich", "openmpi" or "none" */
  char ifname[16];      /* WEFT_SOCKET_IFNAME: the interface a rank listens on ("" = all) */
  char transports[64];  /* WEFT_TRANSPORTS: "shm,tcp" (lower-case names, commas); "" = every built one */
  uint64_t host_id;     /* WEFT_HOST_ID (hex, tests: pretend to be on another host); 0 = computed */
} weft__env_t;

/* Fills `out` from the process environment (getenv). On a malformed or contradictory value it
 * returns WEFT_ERR_INVALID_ARGUMENT and writes "VARIABLE=value: reason" into err. Missing
 * values are left unknown (not an error here: init decides what it needs).
 *
 * Coordinator address: WEFT_COORDINATOR=host:port ([v6]:port too); else torchrun's
 * MASTER_ADDR:(MASTER_PORT+1); else the first host of SLURM_STEP_NODELIST (or SLURM_NODELIST)
 * with port WEFT_COORDINATOR_PORT (default 29400 + SLURM_JOB_ID % 1000); else for MPI launchers
 * 127.0.0.1:WEFT_COORDINATOR_PORT (default 29400). Token: WEFT_JOB_TOKEN; else derived from
 * TORCHELASTIC_RUN_ID, SLURM_JOB_ID.SLURM_STEP_ID, PMI_KVSNAME or OMPI_MCA_ess_base_jobid.
 * Listener: WEFT_SOCKET_IFNAME=eth0 (like NCCL_SOCKET_IFNAME, one interface name).
 * Transports: WEFT_TRANSPORTS=name[,name...] in order of preference (checked against the
 * transports built in by lib/core/net.c).
 * Host identity: WEFT_HOST_ID=1 to 16 hex digits replaces weft__host_id() in this process's card
 * (tests: ranks of one machine that must not share memory). */
weft_result_t weft__env_discover(weft__env_t *out, char *err, size_t errlen);

/* Same, over an explicit getenv-like lookup (used by unit and fuzz tests). */
typedef const char *(*weft__getenv_fn)(const char *name, void *user);
weft_result_t weft__env_discover_from(weft__getenv_fn get, void *user, weft__env_t *out,
                                      char *err, size_t errlen);

/* "host:port", "[::1]:port" -> host, port. Strict: port 1..65535. */
bool weft__parse_host_port(const char *s, char *host, size_t hostlen, int *port);
/* First host of a Slurm hostlist ("node[01-03,07],gpu5" -> "node01"). */
bool weft__slurm_first_host(const char *nodelist, char *host, size_t hostlen);

#endif
