#!/usr/bin/env python3
"""Ranks start with no code change under other launchers' environments.

    test_launchers.py WEFT_COORDINATOR_BIN DEMO

For each launcher style, a coordinator is started the way a user would start it beside that
launcher, then N processes of the demo (a checked 4 MiB allreduce) are started with only that
launcher's variables in their environment:
  torchrun  RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (coordinator at MASTER_PORT+1),
            TORCHELASTIC_RUN_ID (the job token is derived from it when WEFT_JOB_TOKEN is unset)
  slurm     SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_STEP_NODELIST (first host),
            WEFT_COORDINATOR_PORT, SLURM_JOB_ID/SLURM_STEP_ID (derived token)
  openmpi   OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK, WEFT_COORDINATOR, WEFT_JOB_TOKEN
(MPICH's PMI_RANK/PMI_SIZE are exercised for real under mpiexec by tests/mpi.)

The Slurm style runs a second time with stock Debian 12's /etc/hosts, where `localhost` is both
::1 and 127.0.0.1 (a job on node `localhost` used to hang at init there): in a private mount
namespace (unshare -m, as root) with that file bind-mounted over /etc/hosts. Without root or
unshare that run is reported as skipped."""
import os, secrets, shutil, socket, subprocess, sys, tempfile, time

COORD, DEMO = sys.argv[1:3]
DEBIAN_HOSTS = ("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
                "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n")
N = 3


def free_port_pair():
    # Two consecutive free ports (torchrun's MASTER_PORT and the coordinator's MASTER_PORT + 1).
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p < 65000:
            try:
                with socket.socket() as s2:
                    s2.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port pair")


def clean_env():
    drop = ("WEFT_", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_", "SLURM_", "PMI_", "OMPI_", "TORCHELASTIC")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_style(name, coord_port, coord_token, rank_env):
    env = clean_env()
    env["WEFT_JOB_TOKEN"] = coord_token
    coord = subprocess.Popen([COORD, "--world-size", str(N), "--port", str(coord_port), "--exit-when-done"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    procs = []
    try:
        for r in range(N):
            e = clean_env()
            e.update(rank_env(r))
            procs.append(subprocess.Popen([DEMO, "65536"], env=e, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, start_new_session=True))
        ok, any_ok = True, False
        for r, p in enumerate(procs):
            try:
                out, _ = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, ok = "HANG (killed after 60 s)", False
            good = p.returncode == 0 and f"rank {r} of {N}" in out and ", 0 wrong" in out
            ok &= good
            any_ok |= good
            print(f"  {name} rank {r}: {'joined' if good else 'did not join'}: {out.strip()[:300]}")
        return ok, any_ok
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        try:
            coord.wait(timeout=10)
        except subprocess.TimeoutExpired:
            coord.kill()


def slurm(port):
    job = str(1000 + secrets.randbelow(9000))
    return run_style("slurm", port, f"derived:slurm:{job}.0", lambda r: {
        "SLURM_PROCID": str(r), "SLURM_NTASKS": str(N), "SLURM_LOCALID": str(r),
        "SLURM_STEP_NODELIST": "localhost", "SLURM_NODELIST": "localhost", "WEFT_COORDINATOR_PORT": str(port),
        "SLURM_JOB_ID": job, "SLURM_STEP_ID": "0"})[0]


def slurm_debian_hosts():
    """None when this machine cannot build the namespace, else whether the job ran."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".hosts", delete=False) as f:
        f.write(DEBIAN_HOSTS)
    try:
        r = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', f.name,
                            sys.executable, __file__, COORD, DEMO, "--in-debian-hosts"], timeout=150)
        return None if r.returncode == 77 else r.returncode == 0
    finally:
        os.unlink(f.name)


def in_debian_hosts():
    families = {a[0] for a in socket.getaddrinfo("localhost", 1, type=socket.SOCK_STREAM)}
    if families != {socket.AF_INET, socket.AF_INET6}:
        print(f"  localhost resolves to {families} here, not both families: skipped")
        return 77
    print("  localhost is ::1 and 127.0.0.1 (Debian's /etc/hosts):")
    return 0 if slurm(free_port_pair()) else 1


def main():
    if sys.argv[3:] == ["--in-debian-hosts"]:
        return in_debian_hosts()
    results = {}
    master = free_port_pair()
    run_id = "job-" + secrets.token_hex(4)
    results["torchrun"], _ = run_style("torchrun", master + 1, f"derived:torchrun:{run_id}", lambda r: {
        "RANK": str(r), "WORLD_SIZE": str(N), "LOCAL_RANK": str(r), "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(master), "TORCHELASTIC_RUN_ID": run_id})

    results["slurm"] = slurm(free_port_pair())
    debian = slurm_debian_hosts()
    if debian is None:
        print("  slurm with Debian's /etc/hosts: skipped (needs root and unshare)")
    else:
        results["slurm-debian-hosts"] = debian

    port = free_port_pair()
    token = secrets.token_hex(16)
    results["openmpi"], _ = run_style("openmpi", port, token, lambda r: {
        "OMPI_COMM_WORLD_RANK": str(r), "OMPI_COMM_WORLD_SIZE": str(N), "OMPI_COMM_WORLD_LOCAL_RANK": str(r),
        "WEFT_COORDINATOR": f"127.0.0.1:{port}", "WEFT_JOB_TOKEN": token})

    # A rank with the wrong secret must be refused, not admitted.
    port = free_port_pair()
    _, any_joined = run_style("wrong-token", port, secrets.token_hex(16), lambda r: {
        "WEFT_RANK": str(r), "WEFT_WORLD_SIZE": str(N), "WEFT_COORDINATOR": f"127.0.0.1:{port}",
        "WEFT_JOB_TOKEN": "not-the-secret", "WEFT_INIT_TIMEOUT": "5"})
    results["wrong-token refused"] = not any_joined
    print(" ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
