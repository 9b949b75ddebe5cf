"""The soak's fault injector: every so often it picks a failure class at random (by weight) and
injects it into the running job (soak_job.SoakJob).

  class        what                                              expected verdict
  kill         SIGKILL a rank                                    evicted (CRASH/REPORTED), restarted
  stop_long    SIGSTOP a rank past WEFT_HEARTBEAT_TIMEOUT, SIGCONT evicted (HUNG); exits 75, restarted
  stop_short   SIGSTOP a rank for under half the smaller timeout  nothing: no eviction
  hang         its main thread sleeps in user code (hang file),  evicted (STALLED); exits 75 from the
               the progress thread lives on                      progress thread, restarted
  slow         the same for under half the stall timeout         nothing: no eviction
  partition    host A drops everything from and to host B        one side evicted (PARTITIONED)
  oneway       host A drops what comes from host B               one side evicted (PARTITIONED)
  loss         host A drops N % (5-20) of what comes from B      either: slower, or a side evicted
  coord_stop_short  SIGSTOP the coordinator under half the heartbeat timeout   nothing
  coord_stop_long   SIGSTOP it past the heartbeat timeout  (--coord-faults)   nothing (issue #18 item 4)
  coord_kill        SIGKILL it; weftrun must restart it   (--coord-faults)   nothing (issue #18 item 4)

Pacing keeps the job alive and the measurements attributable: a rank fault picks a rank that is
healthy (its current process is a member of the newest epoch) and not the victim of an open
fault, at most --max-inflight rank faults are open at once, and the ranks that open faults may
evict (a rank each, the larger host of a network fault) never bring the job below WEFT_MIN_SIZE.
Coordinator faults, partitions and one-way cuts run alone: they wait until every rank is
healthy and no fault is open. Loss runs between two hosts none of whose ranks is the victim of
an open fault; rank faults meanwhile go to the third host only. A fault stays open until its victims
are healthy again (an evicted one: its restarted process admitted) and its grace has passed."""
import os
import signal
import subprocess
import threading
import time

RANK_CLASSES = ("kill", "stop_long", "stop_short", "hang", "slow")
NET_CLASSES = ("partition", "oneway", "loss")
COORD_CLASSES = ("coord_stop_short", "coord_stop_long", "coord_kill")
ALL_CLASSES = RANK_CLASSES + NET_CLASSES + COORD_CLASSES
# True: must evict its victim; False: must not; None: either is right (loss).
EXPECT_EVICT = {"kill": True, "stop_long": True, "stop_short": False, "hang": True, "slow": False,
                "partition": True, "oneway": True, "loss": None,
                "coord_stop_short": False, "coord_stop_long": False, "coord_kill": False}
# Faults that run alone. A cut link while the survivors of another fault form their next epoch's
# mesh is not resolved by a reachability round today: the formation waits for WEFT_TIMEOUT
# (README.md, "What the soak found"); --overlap-cuts lets them overlap to show it.
EXCLUSIVE = COORD_CLASSES + ("partition", "oneway")
OPEN_LIMIT_S = 120.0   # a fault whose victims are not back by then is closed as "not recovered"
FEASIBLE_WAIT_S = 30.0  # how long a picked class waits for its preconditions


class Fault:
    def __init__(self, fid, cls, t0, victims, **params):
        self.fid, self.cls, self.t0 = fid, cls, t0
        self.victims = victims          # [(rank, inc, pid)]
        self.params = params
        self.expect_evict = EXPECT_EVICT[cls]
        self.t_end = t0                 # when the fault was lifted (SIGCONT, rule deleted)
        self.lifted = cls in ("kill", "hang", "slow")
        self.closed, self.t_closed, self.note = False, None, ""

    def ranks(self):
        return {r for r, _, _ in self.victims}


class Injector:
    def __init__(self, job, net, cfg, rng, log):
        self.job, self.net, self.cfg, self.rng, self.log = job, net, cfg, rng, log
        self.faults = []
        self.skipped = {}                # class -> times it could not be injected
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()     # guards faults against the timers that lift them
        self.hb, self.stall = cfg.heartbeat_timeout, cfg.stall_timeout

    # --- pacing ------------------------------------------------------------------------------

    def open_faults(self):
        with self.lock:
            return [f for f in self.faults if not f.closed]

    def close_finished(self):
        """Closes the faults whose victims are back and whose grace has passed."""
        now = time.time()
        with self.job.cv:
            healthy = set(self.job.healthy())
            current = {r: inc.inc for r, inc in self.job.current.items()}
        for f in self.open_faults():
            if not f.lifted:
                continue
            back = all(r in healthy for r in self._watched_ranks(f))
            if f.expect_evict and f.cls in RANK_CLASSES:
                back = back and all(current.get(r, -1) > inc for r, inc, _ in f.victims)
            if back and now >= self._quiet_after(f):
                f.closed, f.t_closed = True, now
            elif now - f.t0 > OPEN_LIMIT_S:
                f.closed, f.t_closed, f.note = True, now, "victims not back within %.0f s" % OPEN_LIMIT_S

    def _quiet_after(self, f):
        """When a verdict can no longer be this fault's: a stopped process (or coordinator) is
        judged on the heartbeats it missed since it stopped, a slow caller by a stall probe."""
        if f.expect_evict:
            return f.t_end + 0.5
        if f.cls in ("stop_short", "coord_stop_short"):
            return max(f.t_end, f.t0 + self.hb) + 1.0
        if f.cls == "slow":
            return max(f.t_end, f.t0 + self.stall) + 1.0
        return f.t_end + 1.0

    def _watched_ranks(self, f):
        return range(self.job.n) if f.cls in COORD_CLASSES else f.ranks()

    def _host(self, rank):
        return rank % self.net.hosts if self.net else 0

    def _worst_loss(self, f):
        """How many members fault f may evict: its rank, or the larger of its two hosts."""
        if f.cls in RANK_CLASSES:
            return 1
        if f.cls in NET_CLASSES:
            return max(sum(1 for r in range(self.job.n) if self._host(r) == h) for h in f.params["hosts"])
        return 0

    def _feasible(self, cls):
        """Victims for cls now, or None: [(rank, inc, pid)], or [] for a coordinator fault.
        A network fault's victims are every rank of its two hosts; rank faults meanwhile go only
        to the third host, so every verdict has one fault to answer for it."""
        opened = self.open_faults()
        with self.job.cv:
            healthy = set(self.job.healthy())
            current = dict(self.job.current)
        exclusive = COORD_CLASSES if self.cfg.overlap_cuts else EXCLUSIVE
        if any(f.cls in exclusive for f in opened):
            return None
        if cls in exclusive:
            if opened or len(healthy) < self.job.n:
                return None
            if cls in COORD_CLASSES:
                return []
        busy = set().union(*(f.ranks() for f in opened)) if opened else set()
        worst = sum(self._worst_loss(f) for f in opened)
        if cls in NET_CLASSES:
            if any(f.cls in NET_CLASSES for f in opened):
                return None
            busy_hosts = {self._host(r) for r in busy}
            pairs = [(a, b) for a in range(self.net.hosts) for b in range(self.net.hosts)
                     if a != b and a not in busy_hosts and b not in busy_hosts]
            if not pairs:
                return None
            a, b = self.rng.choice(pairs)
            ranks = [r for r in range(self.job.n) if self._host(r) in (a, b)]
            loss = max(sum(1 for r in ranks if self._host(r) == h) for h in (a, b))
            if not all(r in healthy for r in ranks) or self.job.n - worst - loss < self.cfg.min_size:
                return None
            self._pair = (a, b)
            return [(r, current[r].inc, current[r].pid) for r in ranks]
        if sum(f.cls in RANK_CLASSES for f in opened) >= self.cfg.max_inflight:
            return None
        # Worst case every open fault evicts all it may: the job must stay at the minimum.
        if self.job.n - worst - 1 < self.cfg.min_size:
            return None
        net_hosts = {h for f in opened if f.cls in NET_CLASSES for h in f.params["hosts"]}
        free = [r for r in healthy if r not in busy and self._host(r) not in net_hosts]
        if not free:
            return None
        r = 0 if 0 in free and self.rng.random() < 0.2 else self.rng.choice(sorted(free))
        return [(r, current[r].inc, current[r].pid)]

    # --- the loop ----------------------------------------------------------------------------

    def run(self, until):
        classes = [c for c in ALL_CLASSES if self.cfg.weights.get(c, 0) > 0]
        weights = [self.cfg.weights[c] for c in classes]
        while not self.stop_flag.is_set() and time.time() < until:
            self.close_finished()
            cls = self.rng.choices(classes, weights)[0]
            victims, give_up = None, time.time() + FEASIBLE_WAIT_S
            while victims is None and time.time() < min(give_up, until) and not self.stop_flag.is_set():
                victims = self._feasible(cls)
                if victims is None:
                    time.sleep(0.1)
                    self.close_finished()
            if victims is None:
                self.skipped[cls] = self.skipped.get(cls, 0) + 1
                continue
            self.inject(cls, victims)
            self.stop_flag.wait(self.rng.uniform(0.5, 1.5) * self.cfg.interval)
        # stop_flag is for aborting: a cut injected just before the end still runs its course
        # (the 40-minute run's last cut was lifted after 2 s by the end and counted as MISSED).

    def drain(self, timeout):
        """After the last injection: waits for every open fault to be lifted and closed."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.open_faults():
            self.close_finished()
            time.sleep(0.2)
        for f in self.open_faults():
            f.closed, f.t_closed, f.note = True, time.time(), "still open at the end"

    def inject(self, cls, victims):
        fid = len(self.faults)
        f = getattr(self, "_" + cls)(fid, victims)
        if f is None:
            return
        with self.lock:
            self.faults.append(f)
        self.log.write("%.3f inject #%d %s victims %s %s\n" % (f.t0, fid, cls, f.victims, f.params))
        self.log.flush()

    def _later(self, delay, fn):
        t = threading.Timer(delay, fn)
        t.daemon = True
        t.start()

    def _freeze(self, victims, until):
        with self.job.cv:
            for r, inc, _ in victims:
                cur = self.job.current.get(r)
                if cur is not None and cur.inc == inc:
                    cur.frozen_until = until

    # --- rank faults -------------------------------------------------------------------------

    def _signal(self, pid, sig):
        try:
            os.kill(pid, sig)
            return True
        except ProcessLookupError:
            return False

    def _kill(self, fid, victims):
        t0 = time.time()
        if not self._signal(victims[0][2], signal.SIGKILL):
            return None
        return Fault(fid, "kill", t0, victims)

    def _stop(self, fid, victims, cls, seconds):
        t0 = time.time()
        self._freeze(victims, t0 + seconds + 2 * self.hb + 5)
        if not self._signal(victims[0][2], signal.SIGSTOP):
            return None
        f = Fault(fid, cls, t0, victims, seconds=round(seconds, 3))

        def cont():
            self._signal(victims[0][2], signal.SIGCONT)
            with self.lock:
                f.t_end, f.lifted = time.time(), True
        self._later(seconds, cont)
        return f

    def _stop_long(self, fid, victims):
        return self._stop(fid, victims, "stop_long", self.hb * self.rng.uniform(1.25, 1.75))

    def _stop_short(self, fid, victims):
        return self._stop(fid, victims, "stop_short", min(self.hb, self.stall) * self.rng.uniform(0.2, 0.45))

    def _hang_file(self, victims, ms):
        r, inc, _ = victims[0]
        path = os.path.join(self.cfg.ctl_dir, "hang.%d.%d" % (r, inc))
        with open(path + ".tmp", "w") as fh:
            fh.write("%d\n" % ms)
        os.rename(path + ".tmp", path)  # the worker never reads half a number

    def _hang(self, fid, victims):
        # "For ever": it must be evicted after the stall timeout and exit from its progress thread.
        t0 = time.time()
        self._freeze(victims, t0 + self.stall + 20)
        self._hang_file(victims, 600000)
        return Fault(fid, "hang", t0, victims, seconds="until evicted")

    def _slow(self, fid, victims):
        seconds = self.stall * self.rng.uniform(0.2, 0.45)
        t0 = time.time()
        self._freeze(victims, t0 + seconds + 5)
        self._hang_file(victims, int(seconds * 1000))
        f = Fault(fid, "slow", t0, victims, seconds=round(seconds, 3))
        f.t_end = t0 + seconds
        return f

    # --- network faults (namespace hosts) ----------------------------------------------------

    def _nft(self, host, *rules):
        ns = self.net.ns(host)
        cmds = ["add table inet weftchaos",
                "add chain inet weftchaos in { type filter hook input priority 0; }",
                "add chain inet weftchaos out { type filter hook output priority 0; }"] + list(rules)
        for c in cmds:
            subprocess.run(["ip", "netns", "exec", ns, "nft"] + c.split(), check=True, capture_output=True,
                           timeout=10)

    def _lift(self, host):
        subprocess.run(["ip", "netns", "exec", self.net.ns(host), "nft", "delete", "table", "inet", "weftchaos"],
                       capture_output=True, timeout=10)

    def _net(self, fid, victims, cls):
        a, b = self._pair
        peer = self.net.addr(b)
        params = {"hosts": [a, b]}
        rules = ["add rule inet weftchaos in ip saddr %s drop" % peer]
        if cls == "partition":
            rules.append("add rule inet weftchaos out ip daddr %s drop" % peer)
        if cls == "loss":
            pct = self.rng.randint(5, 20)
            rules = ["add rule inet weftchaos in ip saddr %s numgen random mod 100 < %d drop" % (peer, pct)]
            params["percent"] = pct
        hold = self.rng.uniform(2.0, 4.0) if cls == "loss" else self.stall + 2.0 + 1.0 + 6.0
        t0 = time.time()
        self._nft(a, *rules)
        f = Fault(fid, cls, t0, victims, **params)
        pids = {p for _, _, p in victims}

        def watch():
            # A cut is lifted soon after its verdict (restarted ranks must be able to join),
            # a loss after its time.
            deadline = t0 + hold
            while time.time() < deadline and not self.stop_flag.is_set():
                with self.job.cv:
                    hit = [v for v in self.job.verdicts if v[0] >= t0 - 0.05 and v[3] in pids]
                if hit and cls != "loss":
                    time.sleep(0.3)
                    break
                time.sleep(0.05)
            self._lift(a)
            with self.lock:
                f.t_end, f.lifted = time.time(), True
        threading.Thread(target=watch, daemon=True).start()
        return f

    def _partition(self, fid, victims):
        return self._net(fid, victims, "partition")

    def _oneway(self, fid, victims):
        return self._net(fid, victims, "oneway")

    def _loss(self, fid, victims):
        return self._net(fid, victims, "loss")

    # --- coordinator faults ------------------------------------------------------------------

    def _all_victims(self):
        with self.job.cv:
            return [(r, inc.inc, inc.pid) for r, inc in sorted(self.job.current.items())]

    def _coord_stop(self, fid, cls, seconds):
        pid = self.job.coordinator_pid()
        if pid is None:
            return None
        t0 = time.time()
        if not self._signal(pid, signal.SIGSTOP):
            return None
        f = Fault(fid, cls, t0, self._all_victims(), coordinator=pid, seconds=round(seconds, 3))
        with self.job.cv:  # nobody steps while recover cannot get an answer
            for inc in self.job.current.values():
                inc.frozen_until = t0 + seconds + 5

        def cont():
            self._signal(pid, signal.SIGCONT)
            with self.lock:
                f.t_end, f.lifted = time.time(), True
        self._later(seconds, cont)
        return f

    def _coord_stop_short(self, fid, victims):
        return self._coord_stop(fid, "coord_stop_short", self.hb * self.rng.uniform(0.2, 0.45))

    def _coord_stop_long(self, fid, victims):
        return self._coord_stop(fid, "coord_stop_long", self.hb * self.rng.uniform(1.5, 2.5))

    def _coord_kill(self, fid, victims):
        pid = self.job.coordinator_pid()
        if pid is None:
            return None
        t0 = time.time()
        if not self._signal(pid, signal.SIGKILL):
            return None
        f = Fault(fid, "coord_kill", t0, self._all_victims(), coordinator=pid)
        f.lifted = True
        return f
