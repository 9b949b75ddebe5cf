"""The soak's job: `weftrun --restart --verbose ... chaos_worker CTL_DIR` in its own session,
its output read on a thread and turned into state the injector and the watchdog ask about.

Three kinds of lines arrive, each stamped with its arrival time:
  [R] {json}                  an event of launcher rank R's current process (tests/chaos/
                              chaos_worker.c lists them; "t" is the worker's CLOCK_REALTIME)
  [stamp] weft-coordinator: ...  the membership service's log (weftrun --verbose): its verdicts
                              name the evicted process by pid and give the reason
  weftrun: rank R ...         a rank's process ended (status or signal), restarted or not
The coordinator's per-step lines (every member's recover, "no change") are dropped unread: at
8 ranks they are most of the output. What is kept goes to LOG_FILE for the post-mortem.

State is guarded by one condition variable (cv); every reader takes it."""
import json
import os
import re
import signal
import subprocess
import threading
import time

from weftjob import alive, children, comm_of  # noqa: F401  (soak.py takes alive, comm_of from here)

RANK_LINE = re.compile(r"^\[(\d+)\] (.*)$")
COORD_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3})\] weft-coordinator: (.*)$")
REVOKED = re.compile(r"^epoch (\d+) revoked: rank (\d+) \(member \d+, host \S+ pid (\d+)\) failed \((\w+)\): (.*)$")
DROPPED = re.compile(r"^joiner member \d+ \(rank hint (-?\d+), host \S+ pid (\d+)\) dropped before joining an "
                     r"epoch \((\w+)\): (.*)$")
FORMED = re.compile(r"^epoch (\d+) formed: (\d+) members")
LISTENING = re.compile(r"^listening on ")
RANK_ENDED = re.compile(r"^weftrun: rank (\d+) (exited with status (\d+)|killed by signal (\d+))(; restarting)?")
COORD_DIED = re.compile(r"^weftrun: the coordinator (.*) while ranks still run")
NOISE = (" ready (", ": no change", "published a new card")


class Incarnation:
    """One process of a launcher rank (rank, inc), from its init line to its end."""

    def __init__(self, rank, inc, pid, t):
        self.rank, self.inc, self.pid = rank, inc, pid
        self.t_init = t
        self.t_start = None       # init returned (admitted)
        self.late = None
        self.step = -1            # last step reported
        self.t_advance = t        # when `step` last grew (or the process started)
        self.ok = 0               # results it checked exact
        self.ended = None         # weftrun's words: "exited with status 75", "killed by signal 9"
        self.t_ended = None
        self.exit_status = None   # the worker's own "exit" event
        self.done = None          # its "done" event
        self.frozen_until = 0.0   # the injector stopped it or made it hang: no progress expected
        self.t_hang = None        # its hung-caller sleep began (the worker's own stamp)


class SoakJob:
    def __init__(self, argv, env, log_path, n):
        self.n = n
        self.cv = threading.Condition()
        self.incs = {}            # (rank, inc) -> Incarnation
        self.current = {}         # rank -> its latest Incarnation
        self.members = {}         # epoch -> {id: (inc, installed t)} from the members' own lines
        self.latest_epoch = 0
        self.verdicts = []        # (t, epoch, rank, pid, reason, why) from the coordinator
        self.drops = []           # (t, rank hint, pid, reason, why): joiners dropped
        self.formed = {}          # epoch -> t (coordinator)
        self.coord_starts = []    # t of each "listening on" (a coordinator process started)
        self.coord_deaths = []    # (t, how): weftrun saw its coordinator end while ranks ran
        self.fails = []           # (t, rank, inc, event)
        self.wrong = []           # (rank, inc, event)
        self.evicted_msgs = []    # (t, rank, text): a process's own "evicted ... exiting 75"
        self.max_step, self.t_max_step = -1, time.time()
        self.t_any_step = time.time()  # the last time any process's step grew
        self.lines_seen = 0
        self.log = open(log_path, "w", buffering=1)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    # --- reading ---------------------------------------------------------------------------

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if any(s in line for s in NOISE):
                continue
            now = time.time()
            self.log.write("%.3f %s\n" % (now, line))
            with self.cv:
                self.lines_seen += 1
                try:
                    self._parse(line, now)
                except Exception as e:  # a line cut by a kill, say: note it, keep reading
                    self.log.write("soak: unparsed (%r): %s\n" % (e, line))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def _parse(self, line, now):
        m = COORD_LINE.match(line)
        if m:
            t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000.0
            self._coordinator(m.group(3), t)
            return
        m = RANK_LINE.match(line)
        if m:
            rank, text = int(m.group(1)), m.group(2)
            if text.startswith("{"):
                self._event(rank, json.loads(text), now)
            elif "was evicted from the job" in text:
                self.evicted_msgs.append((now, rank, text))
            return
        m = COORD_DIED.match(line)
        if m:
            self.coord_deaths.append((now, m.group(1)))
            return
        m = RANK_ENDED.match(line)
        if m:
            inc = self.current.get(int(m.group(1)))
            if inc is not None and inc.ended is None:
                inc.ended, inc.t_ended = m.group(2), now

    def _coordinator(self, text, t):
        m = REVOKED.match(text)
        if m:
            self.verdicts.append((t, int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)))
            return
        m = DROPPED.match(text)
        if m:
            self.drops.append((t, int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)))
            return
        m = FORMED.match(text)
        if m:
            self.formed[int(m.group(1))] = t
            return
        if LISTENING.match(text):
            self.coord_starts.append(t)

    def _event(self, rank, ev, now):
        kind = ev["ev"]
        if kind == "init":
            inc = Incarnation(rank, ev["inc"], ev["pid"], ev["t"])
            self.incs[(rank, inc.inc)] = inc
            self.current[rank] = inc
            return
        inc = self.current.get(rank)
        if inc is None:
            return
        if kind == "start":
            inc.t_start, inc.late = ev["t"], ev["late"]
            inc.t_advance = now
        elif kind in ("progress", "done"):
            if ev["step"] > inc.step:
                inc.step, inc.t_advance = ev["step"], now
                self.t_any_step = now  # a job restarted from step 0 (no state left) progresses too
            inc.ok = max(inc.ok, ev["ok"])
            if ev["step"] > self.max_step:
                self.max_step, self.t_max_step = ev["step"], now
            if kind == "done":
                inc.done = ev
        elif kind == "members":
            # Each member's own line gives its install time; the others it lists are known
            # members whose time comes with their own line (if they print it before dying).
            e = ev["epoch"]
            entry = self.members.setdefault(e, {})
            for i, c in zip(ev["ids"], ev["incs"]):
                if i == rank:
                    entry[i] = (c, ev["installed"])
                elif i not in entry:
                    entry[i] = (c, None)
            self.latest_epoch = max(self.latest_epoch, e)
            inc.t_advance = now
        elif kind == "fail":
            self.fails.append((ev["t"], rank, inc.inc, ev))
        elif kind == "wrong":
            self.wrong.append((rank, inc.inc, ev))
        elif kind == "hang":
            inc.t_hang = ev["t"]
        elif kind == "exit":
            inc.exit_status = ev["status"]

    # --- questions (call with cv held) -----------------------------------------------------

    def latest_members(self):
        """{rank: inc} of the newest epoch any member printed."""
        return {i: c for i, (c, _) in self.members.get(self.latest_epoch, {}).items()}

    def healthy(self):
        """Ranks whose current process is alive and a member of the newest epoch."""
        mem = self.latest_members()
        return [r for r, inc in self.current.items()
                if inc.ended is None and inc.t_start is not None and mem.get(r) == inc.inc]

    def all_synced(self):
        return len(self.healthy()) == self.n

    def coordinator_pid(self):
        for pid in children(self.proc.pid):
            if comm_of(pid).startswith("weft-coordinat"):
                return pid
        return None

    def stop(self):
        """SIGKILL to the whole session (weftrun, coordinator, ranks)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


# --- /proc -------------------------------------------------------------------------------------

def exe_of(pid):
    try:
        return os.path.realpath("/proc/%d/exe" % pid)
    except OSError:
        return ""


def dump_process(pid, out):
    """Who was stuck: each thread's kernel stack and wait channel, then gdb's backtraces when
    gdb is there (bounded: 30 s)."""
    out.write("==== pid %d (%s) ====\n" % (pid, comm_of(pid)))
    try:
        for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
            base = "/proc/%d/task/%s" % (pid, tid)
            for name in ("comm", "wchan", "stack"):
                try:
                    with open(base + "/" + name) as f:
                        out.write("-- thread %s %s: %s\n" % (tid, name, f.read().strip()))
                except OSError:
                    pass
    except OSError as e:
        out.write("cannot read /proc: %s\n" % e)
    try:
        r = subprocess.run(["gdb", "-batch", "-p", str(pid), "-ex", "thread apply all bt"],
                           capture_output=True, text=True, timeout=30)
        out.write(r.stdout[-20000:])
    except (OSError, subprocess.TimeoutExpired) as e:
        out.write("gdb: %s\n" % e)
    out.flush()
