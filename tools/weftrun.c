/* weftrun: start a weft job on this machine.
 *
 *   weftrun -n N [--port P] [--restart K] [--timeout S] [--no-prefix] [--bind ADDR]
 *           [--min-size M] [--verbose] [--] PROGRAM [ARGS...]
 *
 * Starts weft-coordinator (WEFT_COORDINATOR_BIN, else next to this executable, else from PATH)
 * with --exit-when-done on an ephemeral port (or --port), learns the port from its port file,
 * then runs N ranks of PROGRAM with WEFT_RANK, WEFT_WORLD_SIZE, WEFT_LOCAL_RANK,
 * WEFT_COORDINATOR=ADDR:port, WEFT_JOB_TOKEN (generated unless already set; it travels in the
 * environment, never in argv) and WEFT_RESTART_COUNT (how often this rank was restarted); with
 * --restart also WEFT_EXIT_ON_EVICT=1 (unless set), so an evicted rank exits to be restarted. For
 * programs that rendezvous through torch.distributed's env:// store (init_process_group under
 * weftrun), it also exports MASTER_ADDR (the coordinator's address) and MASTER_PORT (a port that
 * was free a moment ago), as torchrun does, unless they are set already.
 *
 * Each rank's stdout and stderr come back line by line prefixed "[rank] " (tools/launcher/
 * output.c). One poll() loop watches every pipe plus a signalfd for SIGCHLD/SIGINT/SIGTERM/
 * SIGHUP: no thread per rank, and no signal handler racing the loop.
 *
 * Failures: a rank that exits non-zero or by a signal is restarted (same WEFT_RANK) while the
 * --restart budget (K restarts for the whole job) lasts; otherwise it is reported and the others
 * are left to finish on their own (a weft job survives a lost rank). Exit status: 0 when every
 * rank's last incarnation exited 0, else the first final failure's code (128+signal if killed),
 * 124 when --timeout expired (SIGTERM to all, SIGKILL 5 s later). SIGINT/SIGTERM/SIGHUP are
 * forwarded to the ranks and stop restarts; a second one sends SIGKILL. A coordinator that dies
 * while ranks run is restarted on the same port (always: it costs nothing, and without it no
 * membership change can happen), and the ranks reconnect to it; one that dies within 2 s of its
 * start 3 times in a row is left dead.
 *
 * Ranks stay in weftrun's process group (a terminal's Ctrl-C reaches them as usual) and get
 * PR_SET_PDEATHSIG, so nothing outlives a weftrun that is itself killed. weftrun is also a child
 * subreaper: what a rank leaves behind (a background process still running when the job ends)
 * becomes weftrun's child, is killed at the end and reaped, so no orphan or zombie remains. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bootstrap/auth.h"
#include "core/sock.h"
#include "launcher/output.h"

#define PORT_FILE_WAIT_S 10.0
#define KILL_GRACE_S 5.0    /* SIGTERM, then SIGKILL this much later */
#define PIPE_LINGER_S 2.0   /* a rank's pipes held open by its orphans are cut after this */
#define COORD_STOP_S 2.0
#define COORD_QUICK_DEATH_S 2.0  /* a coordinator dying this soon after its start ... */
#define COORD_QUICK_DEATHS_MAX 3 /* ... this many times in a row is not restarted again */
#define WEFTRUN_MAX_HOSTS 256

typedef struct {
  int n, port, restart, min_size;
  double timeout;
  bool prefix, verbose;
  const char *bind;
  char *hosts[WEFTRUN_MAX_HOSTS]; /* --hosts: "local" or a network namespace name; NULL: local */
  bool host_is_netns[WEFTRUN_MAX_HOSTS];
  int nhosts;
  char **argv; /* PROGRAM ARGS..., NULL-terminated */
} opts_t;

typedef struct {
  pid_t pid; /* running incarnation, 0 when none */
  int restarts;
  bool done;
} rank_t;

typedef struct {
  weft__out_stream_t out;
  pid_t owner;
  double cut_at; /* 0 while the owner runs */
} stream_t;

typedef struct {
  opts_t o;
  rank_t *ranks;
  stream_t **streams;
  size_t n_streams, cap_streams;
  int sfd;
  sigset_t orig_mask;
  pid_t coord_pid;
  char coord_addr[300];
  const char *port_file;
  double coord_started_at;
  int coord_restarts, coord_quick_deaths;
  int restarts_used, running, exit_code;
  bool stopping, timed_out;
  double kill_at;
} job_t;

static void usage(FILE *f) {
  fprintf(f, "usage: weftrun -n N [--hosts H1,H2,...] [--port P] [--restart K] [--timeout S] [--no-prefix]\n"
             "               [--bind ADDR] [--min-size M] [--verbose] [--] PROGRAM [ARGS...]\n"
             "Starts a weft-coordinator and N ranks of PROGRAM on this machine (man weftrun).\n"
             "  -n, --np N      number of ranks (required)\n"
             "  --hosts LIST    ranks go round-robin over these hosts: 'local', or 'netns:NAME' (a network\n"
             "                  namespace of this machine; needs --bind with an address it can reach)\n"
             "  --port P        coordinator port (default 0: an ephemeral one)\n"
             "  --restart K     restart failed ranks, K restarts for the whole job (default 0)\n"
             "  --timeout S     terminate the ranks after S seconds, exit 124 (default 0: none)\n"
             "  --no-prefix     do not prefix the ranks' output lines with \"[rank] \"\n"
             "  --bind ADDR     address the coordinator listens on (default all, ranks use 127.0.0.1)\n"
             "  --min-size M    smallest membership the job goes on with (default WEFT_MIN_SIZE or 1)\n"
             "  --verbose       report the coordinator's address, forwarded signals, its log\n"
             "  -h, --help      this text\n"
             "  --version       print weftrun's version\n");
}

static bool parse_int(const char *s, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = (int)v;
  return true;
}

/* --hosts LIST: each entry 'local'/'localhost' or 'netns:NAME'. Remote hosts (ssh) are not
 * supported yet: refused by name rather than tried. */
static bool parse_hosts(char *list, opts_t *o) {
  for (char *save = NULL, *h = strtok_r(list, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
    if (o->nhosts == WEFTRUN_MAX_HOSTS) {
      fprintf(stderr, "weftrun: --hosts: more than %d hosts\n", WEFTRUN_MAX_HOSTS);
      return false;
    }
    bool netns = !strncmp(h, "netns:", 6);
    if (netns) {
      const char *name = h + 6;
      if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(name)) {
        fprintf(stderr, "weftrun: --hosts: '%s' is not a network namespace name\n", h);
        return false;
      }
      h += 6;
    } else if (strcmp(h, "local") && strcmp(h, "localhost")) {
      fprintf(stderr, "weftrun: --hosts: '%s' is neither 'local' nor 'netns:NAME' (remote hosts are not "
                      "supported yet: start the ranks there with your launcher and WEFT_COORDINATOR)\n", h);
      return false;
    }
    o->host_is_netns[o->nhosts] = netns;
    o->hosts[o->nhosts++] = netns ? h : NULL;
  }
  if (o->nhosts == 0) {
    fprintf(stderr, "weftrun: --hosts: empty list\n");
    return false;
  }
  return true;
}

static bool parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){.n = 0, .prefix = true};
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i], *val = NULL;
    char name[32];
    const char *eq = strchr(a, '=');
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    if (!strcmp(a, "--no-prefix")) { o->prefix = false; continue; }
    if (!strcmp(a, "--verbose")) { o->verbose = true; continue; }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
    if (!strcmp(a, "--version")) { printf("weftrun (weft) %s\n", WEFT_VERSION_STRING); exit(0); }
    if (eq) val = eq + 1;
    else if (i + 1 < argc) val = argv[++i];
    else { fprintf(stderr, "weftrun: %s needs a value\n", a); return false; }
    bool ok;
    if (!strcmp(name, "-n") || !strcmp(name, "--np")) ok = parse_int(val, 1, 16384, &o->n);
    else if (!strcmp(name, "--port")) ok = parse_int(val, 0, 65535, &o->port);
    else if (!strcmp(name, "--restart")) ok = parse_int(val, 0, INT_MAX, &o->restart);
    else if (!strcmp(name, "--min-size")) ok = parse_int(val, 1, 16384, &o->min_size);
    else if (!strcmp(name, "--bind")) { o->bind = val; ok = *val != '\0'; }
    else if (!strcmp(name, "--hosts")) {
      if (!parse_hosts(strdup(val), o)) return false;
      ok = true;
    }
    else if (!strcmp(name, "--timeout")) {
      char *end;
      o->timeout = strtod(val, &end);
      ok = end != val && !*end && o->timeout >= 0 && o->timeout < 1e9;
    } else {
      fprintf(stderr, "weftrun: unknown option %s\n", a);
      return false;
    }
    if (!ok) { fprintf(stderr, "weftrun: bad value '%s' for %s\n", val, name); return false; }
  }
  if (o->n == 0 || i >= argc) {
    fprintf(stderr, "weftrun: %s\n", o->n == 0 ? "-n N is required" : "no program given");
    return false;
  }
  if (o->min_size > o->n) { fprintf(stderr, "weftrun: --min-size exceeds -n\n"); return false; }
  for (int h = 0; h < o->nhosts; h++)
    if (o->host_is_netns[h] && !o->bind) {
      fprintf(stderr, "weftrun: --hosts with netns: needs --bind ADDR, an address of this machine the "
                      "namespaces can reach (the coordinator listens there)\n");
      return false;
    }
  o->argv = &argv[i];
  return true;
}

/* --- children ------------------------------------------------------------------------------ */

/* In a child between fork and exec: undo what weftrun set for itself (blocked signals, ignored
 * SIGPIPE are inherited across exec) and die with weftrun. */
static void child_setup(const job_t *j, int death_signal, pid_t parent) {
  sigprocmask(SIG_SETMASK, &j->orig_mask, NULL);
  signal(SIGPIPE, SIG_DFL);
  prctl(PR_SET_PDEATHSIG, death_signal);
  if (getppid() != parent) _exit(127); /* weftrun died before prctl took effect */
}

static const char *coordinator_path(char *buf, size_t len) {
  const char *env = getenv("WEFT_COORDINATOR_BIN");
  if (env && *env) return env;
  ssize_t n = readlink("/proc/self/exe", buf, len - 1);
  if (n > 0) {
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash && (size_t)(slash - buf) + sizeof "/weft-coordinator" <= len) {
      strcpy(slash + 1, "weft-coordinator");
      if (access(buf, X_OK) == 0) return buf;
    }
  }
  return "weft-coordinator"; /* from PATH */
}

static pid_t start_coordinator(job_t *j, const char *port_file) {
  char path[PATH_MAX], n[16], port[16], min[16];
  const char *bin = coordinator_path(path, sizeof path);
  const char *argv[24];
  int k = 0;
  snprintf(n, sizeof n, "%d", j->o.n);
  snprintf(port, sizeof port, "%d", j->o.port);
  argv[k++] = bin;
  argv[k++] = "--world-size"; argv[k++] = n;
  argv[k++] = "--port"; argv[k++] = port;
  argv[k++] = "--port-file"; argv[k++] = port_file;
  argv[k++] = "--exit-when-done";
  /* Restarted ranks need the coordinator to outlive a moment when every rank is down. */
  if (j->o.restart > 0) { argv[k++] = "--linger"; argv[k++] = "30"; }
  if (j->o.bind) { argv[k++] = "--host"; argv[k++] = j->o.bind; }
  const char *env_min = getenv("WEFT_MIN_SIZE"); /* the ranks' setting, unless --min-size says */
  if (j->o.min_size) {
    snprintf(min, sizeof min, "%d", j->o.min_size);
    argv[k++] = "--min-size";
    argv[k++] = min;
  } else if (env_min && *env_min) {
    argv[k++] = "--min-size";
    argv[k++] = (char *)env_min;
  }
  /* The ranks read these from the environment: the coordinator must agree with them. */
  const char *hbi = getenv("WEFT_HEARTBEAT_INTERVAL"), *hbt = getenv("WEFT_HEARTBEAT_TIMEOUT");
  if (hbi && *hbi) { argv[k++] = "--heartbeat-interval"; argv[k++] = hbi; }
  if (hbt && *hbt) { argv[k++] = "--heartbeat-timeout"; argv[k++] = hbt; }
  const char *rto = getenv("WEFT_RECOVER_TIMEOUT"); /* the deadline lives in the coordinator */
  if (rto && *rto) { argv[k++] = "--recover-timeout"; argv[k++] = rto; }
  if (j->o.verbose) argv[k++] = "--verbose";
  argv[k] = NULL;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    child_setup(j, SIGTERM, parent);
    execvp(bin, (char *const *)argv);
    fprintf(stderr, "weftrun: cannot run %s: %s\n", bin, strerror(errno));
    _exit(127);
  }
  return pid;
}

static bool add_stream(job_t *j, int fd, int dest, int rank, pid_t owner) {
  if (j->n_streams == j->cap_streams) {
    size_t cap = j->cap_streams ? 2 * j->cap_streams : 16;
    stream_t **v = realloc(j->streams, cap * sizeof *v);
    if (v == NULL) return false;
    j->streams = v;
    j->cap_streams = cap;
  }
  stream_t *s = malloc(sizeof *s);
  if (s == NULL) return false;
  char prefix[24];
  snprintf(prefix, sizeof prefix, "[%d] ", rank);
  weft__out_init(&s->out, fd, dest, j->o.prefix ? prefix : "");
  s->owner = owner;
  s->cut_at = 0;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  j->streams[j->n_streams++] = s;
  return true;
}

static bool start_rank(job_t *j, int r) {
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    fprintf(stderr, "weftrun: pipe: %s\n", strerror(errno));
    goto fail;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "weftrun: fork: %s\n", strerror(errno));
    goto fail;
  }
  if (pid == 0) {
    char v[32];
    child_setup(j, SIGKILL, parent);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (r != 0) { /* only rank 0 reads the terminal, as mpirun does */
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, 0);
    }
    int nh = j->o.nhosts ? j->o.nhosts : 1, host = r % nh;
    snprintf(v, sizeof v, "%d", r);
    setenv("WEFT_RANK", v, 1);
    snprintf(v, sizeof v, "%d", r / nh); /* ranks go round-robin over the hosts */
    setenv("WEFT_LOCAL_RANK", v, 1);
    snprintf(v, sizeof v, "%d", j->o.n);
    setenv("WEFT_WORLD_SIZE", v, 1);
    snprintf(v, sizeof v, "%d", j->ranks[r].restarts);
    setenv("WEFT_RESTART_COUNT", v, 1);
    setenv("WEFT_COORDINATOR", j->coord_addr, 1);
    /* A rank evicted for hanging in its own code never sees the error: it must exit to be
     * restarted. The user's own setting wins. */
    if (j->o.restart > 0) setenv("WEFT_EXIT_ON_EVICT", "1", 0);
    if (j->o.nhosts && j->o.host_is_netns[host]) {
      /* ip netns exec NAME PROGRAM ARGS... */
      int argc = 0;
      while (j->o.argv[argc]) argc++;
      char **nargv = calloc((size_t)argc + 5, sizeof *nargv);
      if (!nargv) _exit(127);
      nargv[0] = "ip", nargv[1] = "netns", nargv[2] = "exec", nargv[3] = j->o.hosts[host];
      for (int k = 0; k < argc; k++) nargv[4 + k] = j->o.argv[k];
      execvp("ip", nargv);
      fprintf(stderr, "weftrun: cannot run %s in network namespace %s: %s\n", j->o.argv[0], j->o.hosts[host],
              strerror(errno));
      _exit(127);
    }
    execvp(j->o.argv[0], j->o.argv);
    fprintf(stderr, "weftrun: cannot run %s: %s\n", j->o.argv[0], strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  j->ranks[r].pid = pid;
  j->running++;
  if (!add_stream(j, out[0], 1, r, pid)) close(out[0]);
  if (!add_stream(j, err[0], 2, r, pid)) close(err[0]);
  return true;
fail:
  for (int i = 0; i < 2; i++) {
    if (out[i] >= 0) close(out[i]);
    if (err[i] >= 0) close(err[i]);
  }
  return false;
}

static void signal_ranks(job_t *j, int sig) {
  for (int r = 0; r < j->o.n; r++)
    if (j->ranks[r].pid > 0) kill(j->ranks[r].pid, sig);
}

/* --- the loop ------------------------------------------------------------------------------ */

static void describe_status(int st, char *buf, size_t len) {
  if (WIFSIGNALED(st)) snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
  else snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
}

static void on_rank_exit(job_t *j, int r, int st) {
  char what[64];
  rank_t *rk = &j->ranks[r];
  rk->pid = 0;
  j->running--;
  bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  describe_status(st, what, sizeof what);
  if (!ok && !j->stopping && j->restarts_used < j->o.restart) {
    j->restarts_used++;
    rk->restarts++;
    fprintf(stderr, "weftrun: rank %d %s; restarting (%d/%d)\n", r, what, j->restarts_used,
            j->o.restart);
    if (start_rank(j, r)) return;
  }
  rk->done = true;
  if (ok) return;
  fprintf(stderr, "weftrun: rank %d %s\n", r, what);
  if (j->exit_code == 0) j->exit_code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* The coordinator died while ranks run. The ranks go on computing without it and reconnect on
 * their own; a new one on the same port rebuilds the membership from them (REJOIN). One that
 * keeps dying at once is not restarted forever. */
static void on_coordinator_exit(job_t *j, int st, double now) {
  char what[64];
  describe_status(st, what, sizeof what);
  j->coord_quick_deaths = now - j->coord_started_at < COORD_QUICK_DEATH_S ? j->coord_quick_deaths + 1 : 0;
  if (j->stopping || j->coord_quick_deaths >= COORD_QUICK_DEATHS_MAX) {
    fprintf(stderr, "weftrun: the coordinator %s while ranks still run%s\n", what,
            j->stopping ? "" : "; it died at start too often to restart it again");
    return;
  }
  pid_t pid = start_coordinator(j, j->port_file);
  if (pid < 0) {
    fprintf(stderr, "weftrun: the coordinator %s while ranks still run; cannot restart it: %s\n", what,
            strerror(errno));
    return;
  }
  j->coord_pid = pid;
  j->coord_started_at = now;
  j->coord_restarts++;
  fprintf(stderr, "weftrun: the coordinator %s; restarted it on port %d (restart %d): the ranks reconnect to it\n",
          what, j->o.port, j->coord_restarts);
}

static void reap(job_t *j, double now) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    for (size_t i = 0; i < j->n_streams; i++)
      if (j->streams[i]->owner == pid) j->streams[i]->cut_at = now + PIPE_LINGER_S;
    if (pid == j->coord_pid) {
      j->coord_pid = 0;
      if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && j->running > 0) on_coordinator_exit(j, st, now);
      continue;
    }
    for (int r = 0; r < j->o.n; r++)
      if (j->ranks[r].pid == pid) on_rank_exit(j, r, st);
  }
}

static void on_signals(job_t *j, double now) {
  struct signalfd_siginfo si;
  while (read(j->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGCHLD) {
      reap(j, now);
      continue;
    }
    if (!j->stopping) {
      j->stopping = true; /* no more restarts */
      signal_ranks(j, (int)si.ssi_signo);
      if (j->o.verbose)
        fprintf(stderr, "weftrun: forwarded signal %u to the ranks\n", si.ssi_signo);
    } else {
      signal_ranks(j, SIGKILL);
    }
  }
  reap(j, now); /* SIGCHLDs coalesce: reap whatever exited */
}

static double now_s(void) { return weft__now(); }

/* pfd covers the first npfd streams: those started since (a restart) wait for the next poll. */
static void pump_streams(job_t *j, const struct pollfd *pfd, size_t npfd, double now) {
  size_t k = 0;
  for (size_t i = 0; i < j->n_streams; i++) {
    stream_t *s = j->streams[i];
    bool alive = true;
    if (i < npfd && pfd[i].revents) alive = weft__out_pump(&s->out);
    if (alive && s->cut_at > 0 && now >= s->cut_at) alive = false; /* orphans hold the pipe */
    if (!alive) {
      weft__out_finish(&s->out);
      free(s);
      continue;
    }
    j->streams[k++] = s;
  }
  j->n_streams = k;
}

static void run_loop(job_t *j) {
  double deadline = j->o.timeout > 0 ? now_s() + j->o.timeout : 0;
  while (j->running > 0 || j->n_streams > 0) {
    size_t n = j->n_streams;
    struct pollfd *pfd = calloc(n + 1, sizeof *pfd);
    if (pfd == NULL) { sleep(1); continue; }
    for (size_t i = 0; i < n; i++)
      pfd[i] = (struct pollfd){.fd = j->streams[i]->out.fd, .events = POLLIN};
    pfd[n] = (struct pollfd){.fd = j->sfd, .events = POLLIN};
    int r = poll(pfd, n + 1, 200); /* deadlines below are checked at least this often */
    double now = now_s();
    if (r > 0 && pfd[n].revents) on_signals(j, now);
    if (r > 0 || n > 0) pump_streams(j, pfd, n, now);
    free(pfd);
    if (deadline > 0 && now >= deadline && !j->timed_out && j->running > 0) {
      fprintf(stderr, "weftrun: timeout after %g s; terminating the ranks\n", j->o.timeout);
      j->timed_out = j->stopping = true;
      j->kill_at = now + KILL_GRACE_S;
      signal_ranks(j, SIGTERM);
    }
    if (j->kill_at > 0 && now >= j->kill_at) {
      signal_ranks(j, SIGKILL);
      j->kill_at = 0;
    }
  }
}

/* --- setup and teardown -------------------------------------------------------------------- */

static int read_port_file(const char *path) {
  FILE *f = fopen(path, "r");
  int port = 0;
  if (f == NULL) return 0;
  if (fscanf(f, "%d", &port) != 1) port = 0;
  fclose(f);
  return port;
}

/* Bounded wait for the coordinator's port file; 0 if it died or never wrote it. */
static int wait_port(job_t *j, const char *path) {
  double until = now_s() + PORT_FILE_WAIT_S;
  while (now_s() < until) {
    int port = read_port_file(path);
    if (port > 0) return port;
    int st;
    if (waitpid(j->coord_pid, &st, WNOHANG) == j->coord_pid) {
      j->coord_pid = 0;
      fprintf(stderr, "weftrun: the coordinator failed to start\n");
      return 0;
    }
    struct signalfd_siginfo si;
    if (poll(&(struct pollfd){.fd = j->sfd, .events = POLLIN}, 1, 20) > 0 &&
        read(j->sfd, &si, sizeof si) == (ssize_t)sizeof si && si.ssi_signo != SIGCHLD)
      return 0; /* interrupted before anything started */
  }
  fprintf(stderr, "weftrun: the coordinator did not report its port within %.0f s\n",
          PORT_FILE_WAIT_S);
  return 0;
}

static void stop_coordinator(job_t *j) {
  if (j->coord_pid <= 0) return;
  kill(j->coord_pid, SIGTERM);
  for (double until = now_s() + COORD_STOP_S; now_s() < until;) {
    if (waitpid(j->coord_pid, NULL, WNOHANG) == j->coord_pid) return;
    usleep(10000);
  }
  kill(j->coord_pid, SIGKILL);
  waitpid(j->coord_pid, NULL, 0);
}

/* Processes the ranks left behind were re-parented to us (subreaper): kill and reap them. Bounded:
 * their own children surface one generation per round. */
static void sweep_orphans(job_t *j) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)getpid());
  for (int round = 0; round < 50; round++) {
    FILE *f = fopen(path, "r");
    long pid;
    int found = 0;
    while (f != NULL && fscanf(f, "%ld", &pid) == 1) {
      if ((pid_t)pid == j->coord_pid) continue;
      kill((pid_t)pid, SIGKILL);
      found++;
    }
    if (f != NULL) fclose(f);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (found == 0) return;
    if (j->o.verbose)
      fprintf(stderr, "weftrun: killed %d process(es) the ranks left behind\n", found);
    usleep(20000);
  }
}

static bool set_token(void) {
  const char *t = getenv("WEFT_JOB_TOKEN");
  if (t && *t) return true;
  uint8_t raw[32];
  char hex[65];
  weft__auth_random(raw, sizeof raw);
  for (size_t i = 0; i < sizeof raw; i++) snprintf(hex + 2 * i, 3, "%02x", raw[i]);
  return setenv("WEFT_JOB_TOKEN", hex, 1) == 0;
}

static void format_coord_addr(job_t *j, int port) {
  const char *host = j->o.bind;
  if (host == NULL || !strcmp(host, "0.0.0.0")) host = "127.0.0.1";
  else if (!strcmp(host, "::")) host = "::1";
  snprintf(j->coord_addr, sizeof j->coord_addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
           port);
}

/* MASTER_ADDR/MASTER_PORT for torch's env:// rendezvous: the coordinator's host, and a port the
 * kernel just handed out (bound and released: another process could take it meanwhile, which is
 * how torchrun picks one too). Left alone when the user set them. */
static void export_torch_rendezvous(const job_t *j) {
  char host[64];
  const char *colon = strrchr(j->coord_addr, ':');
  size_t n = colon ? (size_t)(colon - j->coord_addr) : 0;
  if (n == 0 || n >= sizeof host) return;
  memcpy(host, j->coord_addr, n);
  host[n] = '\0';
  if (host[0] == '[') { /* [v6] */
    memmove(host, host + 1, n);
    host[strcspn(host, "]")] = '\0';
  }
  if (!getenv("MASTER_ADDR")) setenv("MASTER_ADDR", host, 1);
  if (getenv("MASTER_PORT")) return;
  char err[128];
  int fd = -1, port = 0;
  if (weft__sock_listen(j->o.bind, 0, &fd, &port, err, sizeof err) != WEFT_SUCCESS) return;
  close(fd);
  char v[16];
  snprintf(v, sizeof v, "%d", port);
  setenv("MASTER_PORT", v, 1);
}

int main(int argc, char **argv) {
  job_t j = {.sfd = -1};
  char dir[] = "/tmp/weftrun.XXXXXX", port_file[64] = "";
  int rc = 2;
  if (!parse_args(argc, argv, &j.o)) {
    usage(stderr);
    return 2;
  }
  j.ranks = calloc((size_t)j.o.n, sizeof *j.ranks);
  if (j.ranks == NULL || !set_token()) {
    fprintf(stderr, "weftrun: out of memory\n");
    goto out;
  }
  rc = 1;
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN); /* our stdout closing must not kill the launcher */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, &j.orig_mask);
  j.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (j.sfd < 0 || mkdtemp(dir) == NULL) {
    fprintf(stderr, "weftrun: setup: %s\n", strerror(errno));
    goto out;
  }
  snprintf(port_file, sizeof port_file, "%s/port", dir);
  j.coord_pid = start_coordinator(&j, port_file);
  if (j.coord_pid < 0) {
    fprintf(stderr, "weftrun: fork: %s\n", strerror(errno));
    goto out;
  }
  j.coord_started_at = now_s();
  j.port_file = port_file;
  int port = wait_port(&j, port_file);
  if (port == 0) goto out;
  j.o.port = port; /* a restarted coordinator listens where the ranks look for it */
  format_coord_addr(&j, port);
  export_torch_rendezvous(&j);
  if (j.o.verbose) fprintf(stderr, "weftrun: coordinator at %s\n", j.coord_addr);
  for (int r = 0; r < j.o.n; r++) {
    if (!start_rank(&j, r)) {
      j.ranks[r].done = true;
      if (j.exit_code == 0) j.exit_code = 1;
    }
  }
  run_loop(&j);
  rc = j.timed_out ? 124 : j.exit_code;
out:
  stop_coordinator(&j);
  j.coord_pid = 0;
  sweep_orphans(&j);
  if (port_file[0]) unlink(port_file);
  if (port_file[0]) rmdir(dir);
  if (j.sfd >= 0) close(j.sfd);
  for (size_t i = 0; i < j.n_streams; i++) free(j.streams[i]);
  free(j.streams);
  free(j.ranks);
  return rc;
}
