/* Rank discovery from the environment: who am I, how many are we, where is the coordinator and
 * what secret do we share, read from weft's own variables or from whatever launcher started us.
 *
 * Each field comes from its own highest-precedence source (weft > torchrun > Slurm > MPICH hydra
 * > Open MPI), so WEFT_COORDINATOR can be combined with torchrun's RANK and WORLD_SIZE. One
 * exception: Slurm's SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID are inherited by every process
 * started inside an allocation, so under `mpirun` in an sbatch script every rank would read
 * SLURM_PROCID=0. When an MPI launcher's rank variable (PMI_RANK, OMPI_COMM_WORLD_RANK) is set,
 * the MPI launcher is the nearer parent and is preferred to Slurm for rank, size and local rank.
 *
 * An empty variable ("VAR=") counts as unset. Everything else is parsed strictly; a malformed
 * value is an error naming the variable, never silently ignored.
 *
 * Derived job tokens ("derived:<source>:<job id>") are weak: a job id is not secret, so they only
 * keep two jobs on one network from joining each other by mistake. They do not keep out an
 * attacker; set WEFT_JOB_TOKEN for that. */
#include "bootstrap/env.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

#define DEFAULT_COORD_PORT 29400
#define TORCH_DEFAULT_MASTER_PORT 29500

typedef struct {
  weft__getenv_fn get;
  void *user;
  char *err;
  size_t errlen;
} ctx_t;

/* The rank variables of each launcher, in precedence order. */
typedef struct {
  const char *source, *rank, *size, *local;
} launcher_t;

static const launcher_t launchers[] = {
    {"weft", "WEFT_RANK", "WEFT_WORLD_SIZE", "WEFT_LOCAL_RANK"},
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
    {"mpich", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
    {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
};
#define SLURM_INDEX 2

static const char *lookup(const ctx_t *c, const char *name) {
  const char *v = c->get(name, c->user);
  return (v && v[0]) ? v : NULL;
}

/* Writes "NAME=value: reason" (value cut at 64 characters) and returns INVALID_ARGUMENT. */
static weft_result_t fail(const ctx_t *c, const char *name, const char *value, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
static weft_result_t fail(const ctx_t *c, const char *name, const char *value, const char *fmt,
                          ...) {
  if (c->err && c->errlen) {
    int n = snprintf(c->err, c->errlen, "%s=%.64s%s: ", name, value ? value : "",
                     (value && strlen(value) > 64) ? "..." : "");
    if (n >= 0 && (size_t)n < c->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return WEFT_ERR_INVALID_ARGUMENT;
}

/* Reads an integer variable that must lie in [lo, hi]. Unset leaves *out alone. */
static weft_result_t read_int(const ctx_t *c, const char *name, long long lo, long long hi,
                              int *out, bool *found) {
  const char *s = lookup(c, name);
  long long v;
  *found = false;
  if (!s) return WEFT_SUCCESS;
  if (!weft__parse_int(s, &v)) return fail(c, name, s, "not a whole number");
  if (v < 0 && lo >= 0) return fail(c, name, s, "must not be negative");
  if (v < lo || v > hi) return fail(c, name, s, "out of range (expected %lld to %lld)", lo, hi);
  *out = (int)v;
  *found = true;
  return WEFT_SUCCESS;
}

/* Hostnames, IPv4 and (bracket-less) IPv6 literals: letters, digits, '-', '.', '_', ':' and
 * '%' (IPv6 zone). Anything else (blanks, brackets, control bytes) is a typo or an injection. */
static bool host_chars_ok(const char *h, size_t len, bool allow_colon) {
  if (len == 0) return false;
  for (size_t i = 0; i < len; i++) {
    char ch = h[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_' || (allow_colon && (ch == ':' || ch == '%'));
    if (!ok) return false;
  }
  return true;
}

static bool copy_host(const char *h, size_t len, char *host, size_t hostlen) {
  if (!host || len >= hostlen) return false;
  memcpy(host, h, len);
  host[len] = '\0';
  return true;
}

/* Port: 1 to 5 decimal digits, value 1..65535. */
static bool parse_port(const char *s, int *port) {
  long v = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    if (i >= 5) return false;
    v = v * 10 + (s[i] - '0');
  }
  if (i == 0 || s[i] != '\0' || v < 1 || v > 65535) return false;
  *port = (int)v;
  return true;
}

bool weft__parse_host_port(const char *s, char *host, size_t hostlen, int *port) {
  const char *h, *colon;
  size_t hlen;
  int p;
  if (!s || !host || !port || hostlen == 0) return false;
  if (s[0] == '[') { /* "[v6]:port" */
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') return false;
    h = s + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
    if (!host_chars_ok(h, hlen, true) || !memchr(h, ':', hlen)) return false;
  } else { /* "host:port"; a bare v6 address ("::1:80") fails: the port is digits only */
    colon = strchr(s, ':');
    if (!colon) return false;
    h = s;
    hlen = (size_t)(colon - s);
    if (!host_chars_ok(h, hlen, false)) return false;
  }
  if (hlen >= WEFT__HOST_MAX || !parse_port(colon + 1, &p)) return false;
  if (!copy_host(h, hlen, host, hostlen)) return false;
  *port = p;
  return true;
}

/* Validates one "[ranges]" group starting at s (s[0] == '['); returns the length up to and
 * including ']' or 0. ranges: N or N-M (N <= M, at most 18 digits), separated by ','. */
static size_t slurm_bracket(const char *s, size_t *first_len) {
  size_t i = 1;
  *first_len = 0;
  for (;;) {
    unsigned long long lo = 0, hi;
    size_t start = i;
    while (s[i] >= '0' && s[i] <= '9') lo = lo * 10 + (unsigned)(s[i++] - '0');
    if (i == start || i - start > 18) return 0;
    if (*first_len == 0) *first_len = i - start;
    if (s[i] == '-') {
      size_t hstart = ++i;
      hi = 0;
      while (s[i] >= '0' && s[i] <= '9') hi = hi * 10 + (unsigned)(s[i++] - '0');
      if (i == hstart || i - hstart > 18 || hi < lo) return 0;
    }
    if (s[i] == ']') return i + 1;
    if (s[i] != ',') return 0;
    i++;
  }
}

/* The whole list is validated, not just its first entry, so that a garbled SLURM_NODELIST is
 * reported rather than half-used. Grammar: entry (',' entry)*; entry: (name | '[' ranges ']')+
 * with at least one name character or group. */
bool weft__slurm_first_host(const char *nodelist, char *host, size_t hostlen) {
  char first[WEFT__HOST_MAX];
  size_t flen = 0, i = 0;
  bool in_first = true;
  if (!nodelist || !host || hostlen == 0) return false;
  for (;;) {
    size_t entry_start = i;
    while (nodelist[i] != '\0' && nodelist[i] != ',') {
      const char *from;
      size_t n, take;
      if (nodelist[i] == '[') {
        n = slurm_bracket(nodelist + i, &take);
        if (n == 0) return false;
        from = nodelist + i + 1; /* the first number, zero padding kept */
      } else {
        if (!host_chars_ok(nodelist + i, 1, false)) return false;
        n = take = 1;
        from = nodelist + i;
      }
      if (in_first) {
        if (flen + take >= sizeof first) return false;
        memcpy(first + flen, from, take);
        flen += take;
      }
      i += n;
    }
    if (i == entry_start) return false; /* "", ",a", "a,,b", "a," */
    in_first = false;
    if (nodelist[i] == '\0') break;
    i++;
  }
  return copy_host(first, flen, host, hostlen);
}

/* ---- discovery -------------------------------------------------------------------------- */

static bool mpi_rank_present(const ctx_t *c) {
  return lookup(c, "PMI_RANK") || lookup(c, "OMPI_COMM_WORLD_RANK");
}

/* rank, world_size, local_rank: each from the first launcher that sets it. */
static weft_result_t discover_ranks(const ctx_t *c, weft__env_t *out) {
  const char *rank_var = NULL, *size_var = NULL, *size_source = NULL;
  bool skip_slurm = mpi_rank_present(c), found;
  bool have_rank = false, have_size = false, have_local = false;
  weft_result_t rc;
  for (size_t i = 0; i < WEFT__ARRAY_SIZE(launchers); i++) {
    const launcher_t *l = &launchers[i];
    if (i == SLURM_INDEX && skip_slurm) continue;
    if (!have_rank) {
      if ((rc = read_int(c, l->rank, 0, INT_MAX - 1, &out->rank, &found))) return rc;
      if ((have_rank = found)) {
        rank_var = l->rank;
        out->source = l->source;
      }
    }
    if (!have_size) {
      if ((rc = read_int(c, l->size, 1, INT_MAX, &out->world_size, &found))) return rc;
      if ((have_size = found)) {
        size_var = l->size;
        size_source = l->source;
      }
    }
    if (!have_local) {
      if ((rc = read_int(c, l->local, 0, INT_MAX - 1, &out->local_rank, &found))) return rc;
      have_local = found;
    }
  }
  if (!have_rank && have_size) out->source = size_source;
  if (have_rank && have_size && out->rank >= out->world_size) {
    return fail(c, rank_var, lookup(c, rank_var), "rank must be below the world size %d (%s)",
                out->world_size, size_var);
  }
  return WEFT_SUCCESS;
}

/* WEFT_COORDINATOR_PORT, or dflt when unset. */
static weft_result_t coord_port(const ctx_t *c, int dflt, int *port) {
  const char *s = lookup(c, "WEFT_COORDINATOR_PORT");
  if (!s) {
    *port = dflt;
    return WEFT_SUCCESS;
  }
  if (!parse_port(s, port)) return fail(c, "WEFT_COORDINATOR_PORT", s, "not a port (expected 1 to 65535)");
  return WEFT_SUCCESS;
}

static weft_result_t discover_coordinator(const ctx_t *c, weft__env_t *out) {
  const char *s;
  if ((s = lookup(c, "WEFT_COORDINATOR"))) {
    if (!weft__parse_host_port(s, out->coord_host, sizeof out->coord_host, &out->coord_port))
      return fail(c, "WEFT_COORDINATOR", s, "not host:port or [v6]:port with port 1 to 65535");
    out->coord_explicit = true;
    return WEFT_SUCCESS;
  }
  if ((s = lookup(c, "MASTER_ADDR"))) { /* torchrun: the next port after its own store */
    const char *ps = lookup(c, "MASTER_PORT");
    int port = TORCH_DEFAULT_MASTER_PORT;
    size_t len = strlen(s);
    const char *h = s;
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') { /* "[::1]" */
      h = s + 1;
      len -= 2;
    }
    if (!host_chars_ok(h, len, true) || !copy_host(h, len, out->coord_host, sizeof out->coord_host))
      return fail(c, "MASTER_ADDR", s, "not a host name or address");
    if (ps && (!parse_port(ps, &port) || port == 65535))
      return fail(c, "MASTER_PORT", ps, "not a port (expected 1 to 65534: weft uses the next one)");
    out->coord_port = port + 1;
    return WEFT_SUCCESS;
  }
  const char *list_var = "SLURM_STEP_NODELIST";
  if ((s = lookup(c, list_var)) || (s = lookup(c, list_var = "SLURM_NODELIST"))) {
    const char *job = lookup(c, "SLURM_JOB_ID");
    long long id = 0;
    if (!weft__slurm_first_host(s, out->coord_host, sizeof out->coord_host))
      return fail(c, list_var, s, "not a Slurm host list");
    if (job && (!weft__parse_int(job, &id) || id < 0))
      return fail(c, "SLURM_JOB_ID", job, "not a non-negative whole number");
    /* Spread concurrent jobs sharing a first node over 1000 ports. */
    return coord_port(c, DEFAULT_COORD_PORT + (int)(id % 1000), &out->coord_port);
  }
  if (mpi_rank_present(c) || lookup(c, "PMI_SIZE") || lookup(c, "OMPI_COMM_WORLD_SIZE")) {
    /* MPI launchers give no address: assume one node (use WEFT_COORDINATOR across nodes). */
    snprintf(out->coord_host, sizeof out->coord_host, "127.0.0.1");
    return coord_port(c, DEFAULT_COORD_PORT, &out->coord_port);
  }
  return WEFT_SUCCESS;
}

static weft_result_t set_token(const ctx_t *c, weft__env_t *out, const char *var, const char *source,
                               const char *id, const char *step) {
  int n = snprintf(out->token, sizeof out->token, "derived:%s:%s%s%s", source, id, step ? "." : "",
                   step ? step : "");
  if (n < 0 || (size_t)n >= sizeof out->token) {
    out->token[0] = '\0';
    return fail(c, var, id, "too long to derive a job token (set WEFT_JOB_TOKEN)");
  }
  out->token_derived = true;
  return WEFT_SUCCESS;
}

static weft_result_t discover_token(const ctx_t *c, weft__env_t *out) {
  const char *s;
  if ((s = lookup(c, "WEFT_JOB_TOKEN"))) {
    if (strlen(s) >= sizeof out->token)
      return fail(c, "WEFT_JOB_TOKEN", s, "too long (at most %zu bytes)", sizeof out->token - 1);
    strcpy(out->token, s);
    return WEFT_SUCCESS;
  }
  if ((s = lookup(c, "TORCHELASTIC_RUN_ID")))
    return set_token(c, out, "TORCHELASTIC_RUN_ID", "torchrun", s, NULL);
  if ((s = lookup(c, "SLURM_JOB_ID")))
    return set_token(c, out, "SLURM_JOB_ID", "slurm", s, lookup(c, "SLURM_STEP_ID"));
  if ((s = lookup(c, "PMI_KVSNAME"))) return set_token(c, out, "PMI_KVSNAME", "mpich", s, NULL);
  if ((s = lookup(c, "OMPI_MCA_ess_base_jobid")))
    return set_token(c, out, "OMPI_MCA_ess_base_jobid", "openmpi", s, NULL);
  return WEFT_SUCCESS;
}

/* An interface name as the kernel allows it: 1-15 bytes, no '/', ':' or white space. */
static weft_result_t discover_ifname(const ctx_t *c, weft__env_t *out) {
  const char *s = lookup(c, "WEFT_SOCKET_IFNAME");
  if (!s) return WEFT_SUCCESS;
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof out->ifname)
    return fail(c, "WEFT_SOCKET_IFNAME", s, "not an interface name (1 to %zu characters)", sizeof out->ifname - 1);
  for (size_t i = 0; i < n; i++)
    if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] == 0x7f)
      return fail(c, "WEFT_SOCKET_IFNAME", s, "not an interface name (no '/', ':' or spaces)");
  memcpy(out->ifname, s, n + 1);
  return WEFT_SUCCESS;
}

/* A preference list "a,b,c": lower-case names separated by single commas. */
static weft_result_t discover_transports(const ctx_t *c, weft__env_t *out) {
  const char *s = lookup(c, "WEFT_TRANSPORTS");
  if (!s) return WEFT_SUCCESS;
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof out->transports)
    return fail(c, "WEFT_TRANSPORTS", s, "not a transport list (1 to %zu characters, e.g. shm,tcp)",
                sizeof out->transports - 1);
  for (size_t i = 0; i < n; i++) {
    bool name_char = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
    bool sep_ok = s[i] == ',' && i > 0 && i + 1 < n && s[i - 1] != ',';
    if (!name_char && !sep_ok)
      return fail(c, "WEFT_TRANSPORTS", s, "not a transport list (lower-case names separated by commas, e.g. shm,tcp)");
  }
  memcpy(out->transports, s, n + 1);
  return WEFT_SUCCESS;
}

/* A host id: 1 to 16 hex digits (an optional 0x), not zero (zero means "unknown" in a card). */
static weft_result_t discover_host_id(const ctx_t *c, weft__env_t *out) {
  const char *s = lookup(c, "WEFT_HOST_ID");
  if (!s) return WEFT_SUCCESS;
  const char *d = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? s + 2 : s;
  size_t n = strlen(d);
  if (n == 0 || n > 16 || strspn(d, "0123456789abcdefABCDEF") != n)
    return fail(c, "WEFT_HOST_ID", s, "not a host id (1 to 16 hexadecimal digits)");
  uint64_t v = strtoull(d, NULL, 16);
  if (v == 0) return fail(c, "WEFT_HOST_ID", s, "not a host id (0 means unknown)");
  out->host_id = v;
  return WEFT_SUCCESS;
}

weft_result_t weft__env_discover_from(weft__getenv_fn get, void *user, weft__env_t *out,
                                      char *err, size_t errlen) {
  ctx_t c = {get, user, err, errlen};
  weft_result_t rc;
  if (err && errlen) err[0] = '\0';
  if (!out) return WEFT_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  out->rank = -1;
  out->local_rank = -1;
  out->source = "none";
  if (!get) return WEFT_ERR_INVALID_ARGUMENT;
  if ((rc = discover_ranks(&c, out))) return rc;
  if ((rc = discover_coordinator(&c, out))) return rc;
  if ((rc = discover_ifname(&c, out))) return rc;
  if ((rc = discover_transports(&c, out))) return rc;
  if ((rc = discover_host_id(&c, out))) return rc;
  return discover_token(&c, out);
}

static const char *process_getenv(const char *name, void *user) {
  (void)user;
  return getenv(name);
}

weft_result_t weft__env_discover(weft__env_t *out, char *err, size_t errlen) {
  return weft__env_discover_from(process_getenv, NULL, out, err, errlen);
}
