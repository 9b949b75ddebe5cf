/* Fuzz target: the address parsers of rank discovery (lib/bootstrap/env.c):
 * weft__parse_host_port ("host:port", "[v6]:port") and weft__slurm_first_host (Slurm hostlists
 * such as "node[01-03,07],gpu5"), which read WEFT_COORDINATOR and SLURM_*NODELIST.
 *
 * Input: byte 0 picks the output buffer size (an exact heap allocation, so a write past it is an
 * ASan report); the rest is the value, as a C string.
 * Properties: an accepted host fits the buffer and WEFT__HOST_MAX, is non-empty and made of the
 * allowed characters, and the port is 1..65535; host and port print back to a string that parses
 * to the same; a plain "name:port" or plain host name within the limits is accepted; a list
 * without brackets yields its first entry. */
#include "bootstrap/env.h"
#include "fuzz_common.h"

static bool host_char(char c, bool v6) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || (v6 && (c == ':' || c == '%'));
}

static size_t span(const char *s, bool v6) {
  size_t i = 0;
  while (s[i] && host_char(s[i], v6)) i++;
  return i;
}

static void check_host_port(const char *s, size_t hostlen) {
  char *host = fuzz_textbuf(hostlen);
  int port = -1;
  if (weft__parse_host_port(s, host, hostlen, &port)) {
    size_t len = strnlen(host, hostlen);
    FUZZ_CHECK(len < hostlen && len < WEFT__HOST_MAX && len > 0);
    bool v6 = strchr(host, ':') != NULL;
    FUZZ_CHECK(span(host, true) == len);
    FUZZ_CHECK(port >= 1 && port <= 65535);
    /* Print it back and parse again. */
    char again[WEFT__HOST_MAX + 16], host2[WEFT__HOST_MAX];
    int port2 = -1;
    snprintf(again, sizeof again, v6 ? "[%s]:%d" : "%s:%d", host, port);
    FUZZ_CHECK(weft__parse_host_port(again, host2, sizeof host2, &port2));
    FUZZ_CHECK(strcmp(host, host2) == 0 && port == port2);
    /* The host is where the input says. */
    FUZZ_CHECK(strncmp(s + (s[0] == '['), host, len) == 0);
  } else {
    /* Refused: then it is not a plain "name:port" that fits. */
    size_t h = span(s, false);
    if (h > 0 && s[h] == ':' && h < hostlen && h < WEFT__HOST_MAX) {
      const char *d = s + h + 1;
      size_t nd = 0;
      long v = 0;
      while (d[nd] >= '0' && d[nd] <= '9' && nd < 6) v = v * 10 + (d[nd++] - '0');
      FUZZ_CHECK(!(nd >= 1 && nd <= 5 && d[nd] == '\0' && v >= 1 && v <= 65535));
    }
  }
  free(host);
}

static void check_slurm(const char *s, size_t hostlen) {
  char *host = fuzz_textbuf(hostlen);
  bool ok = weft__slurm_first_host(s, host, hostlen);
  size_t plain = span(s, false);
  if (ok) {
    size_t len = strnlen(host, hostlen);
    FUZZ_CHECK(len < hostlen && len < WEFT__HOST_MAX && len > 0);
    FUZZ_CHECK(span(host, false) == len);
    if (strchr(s, '[') == NULL) {
      FUZZ_CHECK(plain == len && strncmp(s, host, len) == 0);
    }
  } else if (s[plain] == '\0') {
    /* A single plain name is refused only when it does not fit. */
    FUZZ_CHECK(plain == 0 || plain >= hostlen || plain >= WEFT__HOST_MAX);
  }
  free(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t sel = fuzz_take_u8(&data, &size);
  /* Mostly roomy buffers (the way env.c calls these), sometimes tiny ones. */
  size_t hostlen = sel < 64 ? (size_t)sel + 1 : sel < 128 ? (size_t)WEFT__HOST_MAX : (size_t)sel + 200;
  char *s = fuzz_strdup(data, size);
  check_host_port(s, hostlen);
  check_slurm(s, hostlen);
  int port;
  char host[8];
  FUZZ_CHECK(!weft__parse_host_port(NULL, host, sizeof host, &port));
  FUZZ_CHECK(!weft__parse_host_port(s, host, 0, &port));
  FUZZ_CHECK(!weft__slurm_first_host(NULL, host, sizeof host));
  FUZZ_CHECK(!weft__slurm_first_host(s, host, 0));
  free(s);
  return 0;
}
