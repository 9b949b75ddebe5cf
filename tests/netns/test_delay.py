#!/usr/bin/env python3
"""Packet delay must slow weft down, not fail it (issue #10).

  test_delay.py WEFTRUN COLL_CHECK LOOP_RANK [DELAY_MS] [HB_DELAY_MS]

Two test hosts (network namespaces joined by veth to a bridge in the root namespace, where
weftrun's coordinator listens), four ranks placed round robin, so every ring neighbour and every
coordinator connection crosses hosts.

How the delay is made: this kernel has no tc netem, so each host runs tests/netns/delay_relay.py,
a transparent TCP relay. An nftables nat/output rule in the host redirects every TCP connection
the host opens to another address of the test subnet (peers on the other host, the coordinator
on the bridge) to the relay on 127.0.0.1; the relay reads the original destination with
SO_ORIGINAL_DST, connects there (its own socket carries a fwmark the rule skips) and forwards
bytes both ways, each chunk held for DELAY_MS in a time-stamped queue, so the stream is shifted
in time but not throttled. FIN and RST are delayed and passed on too. Connections inside one
host are not touched. Why not NFQUEUE: it needs libnetfilter-queue and per-packet handling of
every segment; the relay needs nothing but nftables and Python, and its effect (one-way delay
D, round trip +2D for the connection's bytes) is what a slow link does to a TCP stream. What it
does not model: the TCP connections on either side of the relay see a short round trip, so their
congestion control never sees the delay (the relay's queue, up to 32 MiB per direction, stands in
for the data in flight), and there is no per-packet jitter or reordering.

1. sweep: coll_check --quick --no-big (WEFT_ALGO auto), run three times in this process: direct,
   through the relays with 0 ms (the relay's own cost), and through the relays with DELAY_MS
   (default 50). All must pass; the times are printed, and the delayed one must be slower by at
   least the delay it crossed (a check that the relay really was in the path).
2. heartbeat: loop_rank (4 ranks, 256 KiB ring allreduces) runs for 15 s with HB_DELAY_MS
   (default 200) of delay and WEFT_HEARTBEAT_TIMEOUT=2 s (as in test_netns.py; below the 5 s default
   so the margin is smaller, above 1 s so that CPU starvation on a loaded 2-core machine is not
   mistaken for a detector fault): the delay is below the timeout, so the failure detector must
   not fire (the job must still be running, no rank reporting an error).
   Then rank 3 is SIGKILLed: the survivors must still notice it through the delayed link, with
   an error naming rank 3, and nothing may hang (a detector silenced by the relay would pass
   the first half).
Exits 77 (skipped) when not root or namespaces/nftables NAT are unavailable."""
import os, re, subprocess, sys, time

WEFTRUN, COLL_CHECK, LOOP_RANK = sys.argv[1:4]
DELAY_MS = float(sys.argv[4]) if len(sys.argv) > 4 else 50.0
HB_DELAY_MS = float(sys.argv[5]) if len(sys.argv) > 5 else 200.0
RELAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delay_relay.py")
HOSTS, RANKS = 2, 4
RELAY_PORT, MARK = 7411, 0x77
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from testnet import TestNet, sh  # noqa: E402

NETW = TestNet("wd", 78, HOSTS)  # namespaces wd<tag>h0..1 on 10.78.x.0/24, apart from test_netns.py's
PREFIX, NET, GW = NETW.prefix, NETW.net, NETW.gw
relays = {}


def redirect_on():
    """nat/output in every host: TCP to another address of the subnet goes to the relay."""
    for k in range(HOSTS):
        ns, me = f"{PREFIX}{k}", f"{NET}.{11 + k}"
        sh("ip", "netns", "exec", ns, "nft", "add", "table", "ip", "weftdelay")
        sh("ip", "netns", "exec", ns, "nft",
           "add chain ip weftdelay out { type nat hook output priority -100; }")
        sh("ip", "netns", "exec", ns, "nft",
           f"add rule ip weftdelay out meta mark != {MARK} ip daddr {NET}.0/24 ip daddr != {me} "
           f"meta l4proto tcp redirect to :{RELAY_PORT}")


def relays_start(delay_ms):
    relays_stop()
    for k in range(HOSTS):
        p = subprocess.Popen(["ip", "netns", "exec", f"{PREFIX}{k}", sys.executable, RELAY, "--port",
                              str(RELAY_PORT), "--delay-ms", str(delay_ms), "--mark", str(MARK)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.stdout.readline().strip() != "ready":
            p.kill()
            raise RuntimeError(f"relay in host {k} did not start: {p.communicate(timeout=10)[0]}")
        relays[k] = p


def relays_stop():
    """Stop the relays; returns the total number of connections they relayed."""
    total = 0
    for k, p in list(relays.items()):
        p.terminate()
        try:
            out = p.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0]
        print(f"  host {k} {out.strip()}")
        m = re.search(r"(\d+) connections", out)
        total += int(m.group(1)) if m else 0
        del relays[k]
    return total


def teardown():
    relays_stop()
    NETW.teardown()


def run_job(prog_args, env_extra, timeout):
    env = dict(os.environ, **env_extra)
    hosts = NETW.hosts_arg()
    cmd = [WEFTRUN, "-n", str(RANKS), "--hosts", hosts, "--bind", GW, "--timeout", str(timeout)] + prog_args
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, _ = p.communicate()
        out += "\nHANG: killed by the test\n"
    return p.returncode, out


def sweep(label, timeout):
    t0 = time.time()
    rc, out = run_job([COLL_CHECK, "--quick", "--no-big"], {"WEFT_TIMEOUT": "120"}, timeout)
    elapsed = time.time() - t0
    ok = [l for l in out.splitlines() if "0 wrong" in l]
    print(f"sweep {label}: exit {rc}, {len(ok)}/{RANKS} ranks all right, {elapsed:.1f} s", flush=True)
    if rc != 0 or len(ok) != RANKS:
        print(out[-4000:])
        return None
    return elapsed


def test_sweep():
    direct = sweep("direct", 240)
    redirect_on()
    relays_start(0)
    relayed = sweep("relay 0 ms", 240)
    n0 = relays_stop()
    relays_start(DELAY_MS)
    delayed = sweep(f"relay {DELAY_MS:g} ms", 600)
    nd = relays_stop()
    if None in (direct, relayed, delayed):
        return False
    # The quick sweep is ~450 collectives, most of them at least one host crossing deep: with the
    # relay in the path the delay adds far more than 100 delays (a deliberately loose bound).
    print(f"sweep: direct {direct:.1f} s, relay 0 ms {relayed:.1f} s, relay {DELAY_MS:g} ms "
          f"{delayed:.1f} s ({delayed / direct:.1f}x direct); relayed connections {n0}, {nd}")
    if n0 < RANKS or nd < RANKS:
        print("sweep: the relays saw fewer connections than there are ranks: not in the path?")
        return False
    if delayed - relayed < 100 * DELAY_MS / 1000:
        print("sweep: the delayed sweep is not slower by the delay: was the relay in the path?")
        return False
    return True


def rank_pid(rank):
    """The pid of the given rank's process (it runs in host rank % HOSTS)."""
    ns = f"{PREFIX}{rank % HOSTS}"
    for pid in sh("ip", "netns", "pids", ns).stdout.split():
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if comm == os.path.basename(LOOP_RANK)[:15] and f"WEFT_RANK={rank}".encode() in env:
            return int(pid)
    return None


def test_heartbeat():
    """No false positive for run_s under the delay; then a real crash is still noticed."""
    hb_timeout, run_s = 2.0, 15.0
    relays_start(HB_DELAY_MS)
    env = dict(os.environ, WEFT_HEARTBEAT_TIMEOUT=str(hb_timeout), WEFT_TIMEOUT="60")
    hosts = ",".join(f"netns:{PREFIX}{k}" for k in range(HOSTS))
    p = subprocess.Popen([WEFTRUN, "-n", str(RANKS), "--hosts", hosts, "--bind", GW, "--timeout", "120",
                          LOOP_RANK, "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    ok, killed_at, out = True, None, ""
    try:
        time.sleep(run_s)
        victim = rank_pid(RANKS - 1)
        if p.poll() is not None or victim is None:
            print(f"heartbeat: the job ended (exit {p.poll()}) within {run_s:g} s under "
                  f"{HB_DELAY_MS:g} ms delay: a false positive?")
            ok = False
        else:
            os.kill(victim, 9)
            killed_at = time.time()
        out, _ = p.communicate(timeout=hb_timeout * 4 + 20)
    except subprocess.TimeoutExpired:
        print("heartbeat: HANG: ranks still running long after the kill")
        ok = False
    finally:
        if p.poll() is None:
            os.killpg(p.pid, 9)
            out += p.communicate()[0]
    quiet_before_kill = ok
    ended = time.time()
    relays_stop()
    errors = {int(m.group(1)): l for l in out.splitlines() if (m := re.search(r"\] rank (\d+): ERROR", l))}
    iters = {int(m.group(1)) for l in out.splitlines() if (m := re.search(r"rank (\d+): iteration 0 ok", l))}
    print(f"heartbeat: {RANKS} ranks looping 256 KiB allreduces for {run_s:g} s with {HB_DELAY_MS:g} ms "
          f"one-way delay, WEFT_HEARTBEAT_TIMEOUT={hb_timeout:g} s: "
          f"{'no error before the kill' if quiet_before_kill else 'FAILED before the kill'}")
    if killed_at:
        print(f"heartbeat: SIGKILL of rank {RANKS - 1}: job ended {ended - killed_at:.2f} s later; "
              f"errors from ranks {sorted(errors)}")
    for r, l in sorted(errors.items()):
        print("  " + l)
    survivors = set(range(RANKS - 1))
    if ok and (not survivors <= set(errors) or iters != set(range(RANKS))):
        print(out[-4000:])
        ok = False
    for r in survivors & set(errors):
        if not re.search(rf"rank {RANKS - 1}\b", errors[r]):
            print(f"heartbeat: rank {r}'s error does not name rank {RANKS - 1}")
            ok = False
    return ok and "WRONG" not in out


def main():
    if os.geteuid() != 0 or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        print("skipped: needs root and iproute2 network namespaces")
        return 77
    try:
        NETW.setup()
        probe = ["ip", "netns", "exec", f"{PREFIX}0", "nft"]   # is nftables NAT available?
        sh(*probe, "add", "table", "ip", "weftprobe")
        sh(*probe, "add chain ip weftprobe out { type nat hook output priority -100; }")
        sh(*probe, "delete", "table", "ip", "weftprobe")
    except Exception as e:   # no bridge/veth, or no nftables NAT in this kernel
        teardown()
        print(f"skipped: cannot create delayed test hosts: {e}")
        return 77
    try:
        results = {"sweep": test_sweep(), "heartbeat": test_heartbeat()}
    finally:
        teardown()
    print(" ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
