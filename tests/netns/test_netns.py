#!/usr/bin/env python3
"""Multi-host tests on one machine: test hosts are network namespaces joined by veth pairs to a
bridge in the root namespace, where weftrun's coordinator listens.

  test_netns.py WEFTRUN COLL_CHECK LOOP_RANK

Ranks are placed on the hosts by weftrun itself: --hosts netns:A,netns:B,netns:C (round robin).

1. sweep: coll_check with 6 ranks spread over 3 hosts (two per host), both algorithms.
2. loss: 5% of the packets entering host 1 are dropped at random (nftables numgen); the sweep
   must still pass — TCP retransmits, weft slows down but must not fail.
3. slow: host 2's link is limited to 50 Mbit/s (tc tbf); the sweep must still pass.
4. partition: loop_rank with 6 ranks over 3 hosts; host 2's link is taken down; every rank must
   report an error within WEFT_HEARTBEAT_TIMEOUT + margin, the survivors naming a rank of host 2
   (the coordinator evicted them), the cut-off ranks within WEFT_STALL_TIMEOUT + margin (their
   collective stalled while the coordinator was unreachable), and nothing may hang.
Exits 77 (skipped) when not root or namespaces are unavailable."""
import os, re, subprocess, sys, threading, time

WEFTRUN, COLL_CHECK, LOOP_RANK = sys.argv[1:4]
HOSTS = 3
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from testnet import TestNet, sh  # noqa: E402

NETW = TestNet("wt", 77, HOSTS)   # namespaces wt<tag>h0..2 on 10.77.x.0/24
PREFIX, GW = NETW.prefix, NETW.gw
setup, teardown = NETW.setup, NETW.teardown


def run_job(n, prog_args, env_extra, timeout):
    env = dict(os.environ, **env_extra)
    hosts = ",".join(f"netns:{PREFIX}{k}" for k in range(HOSTS))
    cmd = [WEFTRUN, "-n", str(n), "--hosts", hosts, "--bind", GW, "--timeout", str(timeout)] + prog_args
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_sweep():
    for algo in ("ring", "tree"):
        t0 = time.time()
        p = run_job(6, [COLL_CHECK, "--no-big"], {"WEFT_ALGO": algo, "WEFT_TIMEOUT": "60"}, 240)
        out, _ = p.communicate(timeout=300)
        ok = [l for l in out.splitlines() if "0 wrong" in l]
        print(f"sweep {algo}: exit {p.returncode}, {len(ok)}/6 ranks all right, {time.time() - t0:.1f} s")
        if p.returncode != 0 or len(ok) != 6:
            print(out[-4000:])
            return False
    return True


def sweep_once(label, env_extra=None):
    t0 = time.time()
    env = {"WEFT_ALGO": "ring", "WEFT_TIMEOUT": "120"}
    env.update(env_extra or {})
    p = run_job(6, [COLL_CHECK, "--no-big"], env, 400)
    out, _ = p.communicate(timeout=450)
    ok = [l for l in out.splitlines() if "0 wrong" in l]
    print(f"{label}: exit {p.returncode}, {len(ok)}/6 ranks all right, {time.time() - t0:.1f} s")
    if p.returncode != 0 or len(ok) != 6:
        print(out[-4000:])
        return False
    return True


def test_loss():
    ns = f"{PREFIX}1"
    sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "weftloss")
    sh("ip", "netns", "exec", ns, "nft", "add chain inet weftloss in { type filter hook input priority 0; }")
    sh("ip", "netns", "exec", ns, "nft", "add rule inet weftloss in numgen random mod 100 < 5 drop")
    try:
        return sweep_once("loss 5% into host 1")
    finally:
        sh("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "weftloss", check=False)


def test_slow():
    ns = f"{PREFIX}2"
    sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "50mbit",
       "burst", "64kb", "latency", "100ms")
    try:
        return sweep_once("host 2 limited to 50 Mbit/s")
    finally:
        sh("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)


def test_partition():
    hb_timeout = 2.0
    # The cut-off ranks lose the coordinator too, which evicts nobody by itself: their stalled
    # collective gives up at WEFT_STALL_TIMEOUT since no one can tell them who is at fault.
    env = {"WEFT_HEARTBEAT_TIMEOUT": str(hb_timeout), "WEFT_HEARTBEAT_INTERVAL": "0.2", "WEFT_TIMEOUT": "60",
           "WEFT_STALL_TIMEOUT": str(hb_timeout)}
    p = run_job(6, [LOOP_RANK, "0"], env, 120)
    lines, start = [], time.time()
    reader = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in p.stdout), daemon=True)
    reader.start()

    def pump():
        pass  # the reader thread appends lines as they come

    # Wait until every rank has done some iterations.
    while time.time() - start < 60:
        pump()
        if len({m.group(1) for l in lines if (m := re.search(r"rank (\d+): iteration 50 ok", l))}) == 6:
            break
        time.sleep(0.1)
    else:
        p.kill()
        print("partition: job never got going:\n" + "\n".join(lines[-40:]))
        return False
    cut = time.time()
    sh("ip", "-n", f"{PREFIX}2", "link", "set", "eth0", "down")   # host 2 (ranks 2 and 5) is cut off
    try:
        p.wait(timeout=hb_timeout * 4 + 20)
    except subprocess.TimeoutExpired:
        pump()
        os.killpg(p.pid, 9)
        print("partition: HANG: ranks still running long after the cut:\n" + "\n".join(lines[-40:]))
        return False
    reader.join(timeout=10)
    elapsed = time.time() - cut
    errors = {int(m.group(1)): l for l in lines if (m := re.search(r"\] rank (\d+): ERROR", l))}
    print(f"partition: job ended {elapsed:.1f} s after the cut; errors from ranks {sorted(errors)}")
    for r, l in sorted(errors.items()):
        print("  " + l)
    ok = sorted(errors) == list(range(6))
    for r in (0, 1, 3, 4):   # survivors must name a rank of the cut host
        if r in errors and not re.search(r"rank [25]\b", errors[r]):
            print(f"partition: rank {r}'s error does not name rank 2 or 5")
            ok = False
    if elapsed > hb_timeout * 4 + 15:
        ok = False
    if any("WRONG" in l for l in lines):
        ok = False
    return ok


def main():
    if os.geteuid() != 0 or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        print("skipped: needs root and iproute2 network namespaces")
        return 77
    try:
        setup()
    except Exception as e:   # e.g. no bridge or veth support in this kernel
        teardown()
        print(f"skipped: cannot create test hosts: {e}")
        return 77
    try:
        results = {"sweep": test_sweep(), "loss": test_loss(), "slow": test_slow(),
                   "partition": test_partition()}
    finally:
        teardown()
    print(" ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
