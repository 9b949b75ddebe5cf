/* weft-coordinator: the membership service of a weft job (a separate process, never a rank).
 *
 *   weft-coordinator [--host H] [--port P] --world-size N [--min-size M]
 *                    [--heartbeat-interval S] [--heartbeat-timeout S] [--recover-timeout S]
 *                    [--port-file FILE] [--exit-when-done] [--linger S] [--verbose] [--insecure-no-token]
 *
 * The job secret comes from WEFT_JOB_TOKEN, never from argv (argv is world-readable in /proc);
 * without it the coordinator refuses to start unless --insecure-no-token, which authenticates
 * with the empty secret (keeps out nothing but mistakes). Port 0 binds an ephemeral port; the
 * port actually bound is written to --port-file through a temporary file and a rename, so a
 * reader polling for the file never sees it half written.
 *
 * Exits 0 on SIGTERM/SIGINT, and with --exit-when-done once an epoch existed and every member
 * left or failed with no joiner waiting, for --linger seconds (default 1: room for a restarted
 * rank to reconnect; weftrun passes more when it restarts ranks). Exits 2 on bad usage, 1 when
 * it cannot start. The protocol is in lib/bootstrap/coord_proto.h, the membership rules in
 * tools/coordinator/membership.c. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "bootstrap/coord_proto.h"
#include "core/config.h"
#include "coordinator/clog.h"
#include "coordinator/server.h"
#include "core/sock.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: weft-coordinator [--host H] [--port P] --world-size N [--min-size M]\n"
          "         [--heartbeat-interval S] [--heartbeat-timeout S] [--recover-timeout S]\n"
          "         [--port-file FILE] [--exit-when-done] [--linger S] [--verbose] [--insecure-no-token]\n"
          "The membership service of a weft job (man weft-coordinator).\n"
          "The job secret is read from WEFT_JOB_TOKEN.\n"
          "  --host H                listen address (default: all)\n"
          "  --port P                listen port (default 29400; 0: ephemeral)\n"
          "  --world-size N          ranks in the job; the first epoch waits for all of them\n"
          "  --min-size M            refuse memberships smaller than M (default 1)\n"
          "  --heartbeat-interval S  seconds between heartbeats (default 0.5)\n"
          "  --heartbeat-timeout S   silence that fails a member (default WEFT_HEARTBEAT_TIMEOUT, 5 s)\n"
          "  --recover-timeout S     once members start to recover, leave out (and evict) a member\n"
          "                          that has not asked within S (default WEFT_RECOVER_TIMEOUT, 60 s;\n"
          "                          0: wait for every member)\n"
          "  --port-file FILE        write the bound port there (atomically)\n"
          "  --exit-when-done        exit once every member left or failed\n"
          "  --linger S              ... and nobody joined for S seconds (default 1)\n"
          "  --verbose               log joins, epochs and failures to stderr\n"
          "  --insecure-no-token     run without WEFT_JOB_TOKEN (empty secret)\n"
          "  --help                  this text\n"
          "  --version               print weft-coordinator's version\n");
}

static bool parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* Writes "port\n" to path via path.tmp.PID and rename. */
static bool write_port_file(const char *path, int port) {
  char tmp[4096];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  if (n < 0 || n >= (int)sizeof tmp) return false;
  FILE *f = fopen(tmp, "w");
  if (f == NULL) return false;
  bool ok = fprintf(f, "%d\n", port) > 0;
  ok = (fclose(f) == 0) && ok;
  if (ok && rename(tmp, path) == 0) return true;
  unlink(tmp);
  return false;
}

int main(int argc, char **argv) {
  enum { O_HOST = 256, O_PORT, O_WORLD, O_MIN, O_HBI, O_HBT, O_PORTFILE, O_EXIT, O_LINGER,
         O_VERBOSE, O_INSECURE, O_HELP, O_VERSION, O_RECOVER };
  static const struct option longopts[] = {
      {"host", required_argument, NULL, O_HOST},
      {"port", required_argument, NULL, O_PORT},
      {"world-size", required_argument, NULL, O_WORLD},
      {"min-size", required_argument, NULL, O_MIN},
      {"heartbeat-interval", required_argument, NULL, O_HBI},
      {"heartbeat-timeout", required_argument, NULL, O_HBT},
      {"port-file", required_argument, NULL, O_PORTFILE},
      {"exit-when-done", no_argument, NULL, O_EXIT},
      {"linger", required_argument, NULL, O_LINGER},
      {"verbose", no_argument, NULL, O_VERBOSE},
      {"insecure-no-token", no_argument, NULL, O_INSECURE},
      {"help", no_argument, NULL, O_HELP},
      {"version", no_argument, NULL, O_VERSION},
      {"recover-timeout", required_argument, NULL, O_RECOVER},
      {NULL, 0, NULL, 0},
  };
  const char *host = NULL, *port_file = NULL;
  double port = 29400, world = 0, min_size = 1;
  bool insecure = false;
  /* Defaults from the library's one settings table (and the same environment the ranks see). */
  weft__server_opts_t o = {.heartbeat_interval = weft__cfg_get(WEFT__CFG_HEARTBEAT_INTERVAL),
                           .heartbeat_timeout = weft__cfg_get(WEFT__CFG_HEARTBEAT_TIMEOUT),
                           .linger = 1.0};
  o.recover_timeout = weft__cfg_get(WEFT__CFG_RECOVER_TIMEOUT);
  int opt;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    bool ok = true;
    switch (opt) {
    case O_HOST: host = optarg; break;
    case O_PORT: ok = parse_num(optarg, 0, 65535, &port) && port == floor(port); break;
    case O_WORLD:
      ok = parse_num(optarg, 1, WEFT__COORD_MAX_MEMBERS, &world) && world == floor(world);
      break;
    case O_MIN:
      ok = parse_num(optarg, 1, WEFT__COORD_MAX_MEMBERS, &min_size) && min_size == floor(min_size);
      break;
    case O_HBI: ok = parse_num(optarg, 0.01, 60, &o.heartbeat_interval); break;
    case O_HBT: ok = parse_num(optarg, 0.05, 3600, &o.heartbeat_timeout); break;
    case O_RECOVER: /* the setting's own syntax (units: "2s", "500ms"): weftrun passes the variable as is */
      ok = weft__parse_seconds(optarg, &o.recover_timeout) && o.recover_timeout <= 86400;
      break;
    case O_PORTFILE: port_file = optarg; break;
    case O_EXIT: o.exit_when_done = true; break;
    case O_LINGER: ok = parse_num(optarg, 0, 3600, &o.linger); break;
    case O_VERBOSE: weft__clog_set_verbose(true); break;
    case O_INSECURE: insecure = true; break;
    case O_HELP: usage(stdout); return 0;
    case O_VERSION: printf("weft-coordinator (weft) %s\n", WEFT_VERSION_STRING); return 0;
    default: usage(stderr); return 2;
    }
    if (!ok) {
      fprintf(stderr, "weft-coordinator: bad value '%s' for --%s\n", optarg,
              longopts[opt - O_HOST].name);
      return 2;
    }
  }
  if (optind != argc || world == 0) {
    fprintf(stderr, "weft-coordinator: %s\n",
            optind != argc ? "unexpected argument" : "--world-size is required");
    usage(stderr);
    return 2;
  }
  if (min_size > world) {
    fprintf(stderr, "weft-coordinator: --min-size %.0f exceeds --world-size %.0f\n", min_size,
            world);
    return 2;
  }
  if (o.heartbeat_timeout <= o.heartbeat_interval) {
    fprintf(stderr, "weft-coordinator: --heartbeat-timeout must exceed --heartbeat-interval\n");
    return 2;
  }
  o.world_size = (uint32_t)world;
  o.min_size = (uint32_t)min_size;

  const char *token = getenv("WEFT_JOB_TOKEN");
  if ((token == NULL || *token == '\0') && !insecure) {
    fprintf(stderr, "weft-coordinator: WEFT_JOB_TOKEN is not set (or pass --insecure-no-token)\n");
    return 2;
  }
  if (!weft__auth_key_from_token(token != NULL ? token : "", &o.key)) {
    weft__clog_error("cannot initialise libsodium");
    return 1;
  }

  /* A client vanishing mid-write is an error code, never a SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int lfd = -1, bound = 0;
  char err[256];
  if (weft__sock_listen(host, (int)port, &lfd, &bound, err, sizeof err) != WEFT_SUCCESS) {
    weft__clog_error("%s", err);
    return 1;
  }
  if (port_file != NULL && !write_port_file(port_file, bound)) {
    weft__clog_error("cannot write --port-file %s: %s", port_file, strerror(errno));
    close(lfd);
    return 1;
  }
  weft__clog("listening on %s:%d for a world of %u (min size %u, heartbeat %.2f s, timeout "
             "%.2f s, recover timeout %g s)%s", host ? host : "*", bound, o.world_size, o.min_size,
             o.heartbeat_interval, o.heartbeat_timeout, o.recover_timeout,
             insecure && !token ? "; INSECURE" : "");
  int rc = weft__server_run(&o, lfd, &g_stop);
  close(lfd);
  return rc;
}
