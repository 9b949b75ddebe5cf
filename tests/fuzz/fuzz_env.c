/* Fuzz target: rank discovery from the environment, weft__env_discover_from
 * (lib/bootstrap/env.c), over a fuzzer-provided environment table instead of getenv.
 *
 * Input: byte 0 picks the size of the `err` buffer; the rest is the table as text lines
 * "NAME=VALUE" separated by '\n' (the first definition of a name wins, as with getenv).
 * Properties: on success the result is consistent (rank below the world size when both are
 * known; a coordinator host if and only if a port 1..65535; an explicit coordinator has a host;
 * NUL-terminated host and token; a derived token says so; a known source name); on failure the
 * code is INVALID_ARGUMENT and err is NUL-terminated inside its buffer and, when there is room,
 * names a variable that is set in the table ("NAME=value: reason"). */
#include "bootstrap/env.h"
#include "fuzz_common.h"

#define MAX_VARS 64

typedef struct {
  size_t n;
  char *name[MAX_VARS], *value[MAX_VARS];
} table_t;

static const char *table_get(const char *name, void *user) {
  const table_t *t = user;
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->name[i], name) == 0) return t->value[i];
  return NULL;
}

/* Each name and value gets its own exact-size allocation, so reading past one is caught. */
static void table_parse(table_t *t, const uint8_t *p, size_t n) {
  t->n = 0;
  while (n > 0 && t->n < MAX_VARS) {
    const uint8_t *nl = memchr(p, '\n', n);
    size_t line = nl ? (size_t)(nl - p) : n;
    const uint8_t *eq = memchr(p, '=', line);
    if (eq != NULL) {
      t->name[t->n] = fuzz_strdup(p, (size_t)(eq - p));
      t->value[t->n] = fuzz_strdup(eq + 1, line - (size_t)(eq - p) - 1);
      t->n++;
    }
    p += line + (nl != NULL);
    n -= line + (nl != NULL);
  }
}

static void table_free(table_t *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->name[i]);
    free(t->value[i]);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t sel = fuzz_take_u8(&data, &size);
  size_t errlen = sel < 32 ? (size_t)sel + 1 : 256;
  table_t t;
  table_parse(&t, data, size);
  char *err = fuzz_textbuf(errlen);
  weft__env_t env;
  memset(&env, 0xa5, sizeof env);
  weft_result_t rc = weft__env_discover_from(table_get, &t, &env, err, errlen);
  FUZZ_CHECK(fuzz_terminated(err, errlen));
  if (rc == WEFT_SUCCESS) {
    static const char *const sources[] = {"weft", "torchrun", "slurm", "mpich", "openmpi", "none"};
    bool known = false;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(sources); i++)
      known = known || (env.source != NULL && strcmp(env.source, sources[i]) == 0);
    FUZZ_CHECK(known);
    FUZZ_CHECK(env.rank >= -1 && env.world_size >= 0 && env.local_rank >= -1);
    if (env.rank >= 0 && env.world_size > 0) FUZZ_CHECK(env.rank < env.world_size);
    FUZZ_CHECK(memchr(env.coord_host, 0, sizeof env.coord_host) != NULL);
    FUZZ_CHECK(memchr(env.token, 0, sizeof env.token) != NULL);
    FUZZ_CHECK(env.coord_port >= 0 && env.coord_port <= 65535);
    FUZZ_CHECK((env.coord_host[0] != '\0') == (env.coord_port != 0));
    if (env.coord_explicit) FUZZ_CHECK(env.coord_host[0] != '\0');
    if (env.token_derived) FUZZ_CHECK(strncmp(env.token, "derived:", 8) == 0);
    FUZZ_CHECK(err[0] == '\0');
  } else {
    FUZZ_CHECK(rc == WEFT_ERR_INVALID_ARGUMENT);
    const char *eq = strchr(err, '=');
    if (errlen >= 64) {
      /* "NAME=": the variable blamed is one that is set (and not empty). */
      FUZZ_CHECK(eq != NULL);
      char name[64];
      size_t len = (size_t)(eq - err);
      FUZZ_CHECK(len > 0 && len < sizeof name);
      memcpy(name, err, len);
      name[len] = '\0';
      const char *v = table_get(name, &t);
      FUZZ_CHECK(v != NULL && v[0] != '\0');
    }
  }
  /* Argument checks. */
  FUZZ_CHECK(weft__env_discover_from(NULL, &t, &env, NULL, 0) == WEFT_ERR_INVALID_ARGUMENT);
  FUZZ_CHECK(weft__env_discover_from(table_get, &t, NULL, NULL, 0) == WEFT_ERR_INVALID_ARGUMENT);
  free(err);
  table_free(&t);
  return 0;
}
