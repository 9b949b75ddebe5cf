#!/usr/bin/env python3
"""Resource and name-service limits at init, with real processes.

    test_limits.py WEFT_COORDINATOR_BIN DEMO

nofile-raised  4 ranks x 16 sockets per peer (48 descriptors of mesh) started with a soft RLIMIT_NOFILE of 32 (hard 4096):
               init raises the soft limit to the hard one and the job runs.
nofile-named   the same with the hard limit also 32: init fails fast (well inside
               WEFT_INIT_TIMEOUT) and the error names RLIMIT_NOFILE.
dns-bounded    (root + unshare) a name service that never answers (a UDP socket on 127.0.0.1:53
               that reads nothing, as /etc/resolv.conf's only server in a private mount
               namespace): a rank whose coordinator is a name fails within WEFT_CONNECT_TIMEOUT
               plus a margin, naming the host and the bound, not after resolv.conf's 10 s."""
import os, resource, secrets, shutil, socket, subprocess, sys, tempfile, time

COORD, DEMO = sys.argv[1:3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job(n, nofile, extra=None, timeout=60):
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEFT_")}
    env.update(WEFT_JOB_TOKEN=token, WEFT_TCP_NSOCKS="16", WEFT_INIT_TIMEOUT="40")
    coord = subprocess.Popen([COORD, "--world-size", str(n), "--port", str(port), "--exit-when-done"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    lim = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
    procs, outs, t0 = [], [], time.monotonic()
    try:
        for r in range(n):
            e = dict(env, WEFT_RANK=str(r), WEFT_WORLD_SIZE=str(n), WEFT_COORDINATOR=f"127.0.0.1:{port}", **(extra or {}))
            procs.append(subprocess.Popen([DEMO, "4096"], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True, preexec_fn=lim, start_new_session=True))
        for p in procs:
            try:
                outs.append((p.communicate(timeout=timeout)[0], p.returncode))
            except subprocess.TimeoutExpired:
                p.kill()
                outs.append(("HANG", -1))
        return outs, time.monotonic() - t0
    finally:
        for p in procs + [coord]:
            if p.poll() is None:
                p.kill()
        coord.wait()


def dns_bounded():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("nameserver 127.0.0.1\noptions timeout:5 attempts:2\n")
    script = ('import socket,subprocess,sys,time,os\n'
              's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",53))\n'
              'e=dict(os.environ,WEFT_RANK="0",WEFT_WORLD_SIZE="1",WEFT_JOB_TOKEN="x"*32,\n'
              '       WEFT_COORDINATOR="weft-no-such-host.invalid-tld:1234",WEFT_CONNECT_TIMEOUT="1",WEFT_INIT_TIMEOUT="30")\n'
              't=time.monotonic(); p=subprocess.run([sys.argv[1],"16"],env=e,capture_output=True,text=True,timeout=60)\n'
              'print("took=%.2f rc=%d %s" % (time.monotonic()-t, p.returncode, (p.stdout+p.stderr).strip()[:300]))\n')
    try:
        r = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', f.name,
                            sys.executable, "-c", script, DEMO], capture_output=True, text=True, timeout=90)
    finally:
        os.unlink(f.name)
    print("  dns:", r.stdout.strip(), r.stderr.strip()[-300:])
    if "took=" not in r.stdout:
        return False
    took = float(r.stdout.split("took=")[1].split()[0])
    return took < 4.0 and "rc=0" not in r.stdout and "weft-no-such-host.invalid-tld" in r.stdout \
        and "WEFT_CONNECT_TIMEOUT" in r.stdout


def main():
    results = {}
    outs, _ = job(4, (32, 4096))
    for o, rc in outs:
        print("  nofile-raised:", rc, o.strip()[:200])
    results["nofile-raised"] = all(rc == 0 and ", 0 wrong" in o for o, rc in outs)
    outs, took = job(4, (32, 32))
    for o, rc in outs:
        print("  nofile-named:", rc, o.strip()[:300])
    results["nofile-named"] = took < 30 and all(rc != 0 for o, rc in outs) and any("RLIMIT_NOFILE" in o for o, _ in outs)
    dns = dns_bounded()
    if dns is None:
        print("  dns-bounded: skipped (needs root and unshare)")
    else:
        results["dns-bounded"] = dns
    print(" ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
