"""Test hosts on one machine: network namespaces whose eth0 is one end of a veth pair, the other
end on a bridge in the root namespace (where weftrun's coordinator listens, on the bridge's
address). Used by tests/netns/ and bench/netns_bench.py.

    net = TestNet("wt", octet=77, hosts=3)   # namespaces wt<tag>h0..2, 10.77.<x>.0/24
    net.setup(); ...; net.teardown()          # teardown is safe to call after a failed setup
    sys.exit(on_test_hosts("wt", 77, 3, body)) # body(net) -> exit status; 77 (skip) without root

Names carry a random tag, and the /24 is derived from it, so concurrent runs do not collide."""
import secrets
import subprocess


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


class TestNet:
    def __init__(self, letters, octet, hosts, mtu=1500):
        self.tag = secrets.token_hex(2)
        self.letters, self.hosts, self.mtu = letters, hosts, mtu
        self.prefix = f"{letters}{self.tag}h"                       # namespaces <prefix>0..
        self.bridge = f"{letters}br{self.tag}"
        self.net = f"10.{octet}.{10 + int(self.tag, 16) % 200}"    # private /24 for this run
        self.gw = f"{self.net}.1"

    def ns(self, k):
        return f"{self.prefix}{k}"

    def addr(self, k):
        return f"{self.net}.{11 + k}"

    def veth(self, k):
        return f"{self.letters}v{self.tag}{k}"

    def hosts_arg(self):
        """weftrun's --hosts value: every namespace, ranks placed round robin."""
        return ",".join(f"netns:{self.ns(k)}" for k in range(self.hosts))

    def setup(self):
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gw}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for k in range(self.hosts):
            ns = self.ns(k)
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", self.veth(k), "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", self.veth(k), "master", self.bridge, "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.addr(k)}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        if self.mtu != 1500:  # the bridge follows its ports' smallest MTU
            for k in range(self.hosts):
                sh("ip", "link", "set", self.veth(k), "mtu", str(self.mtu))
                sh("ip", "-n", self.ns(k), "link", "set", "eth0", "mtu", str(self.mtu))
            sh("ip", "link", "set", self.bridge, "mtu", str(self.mtu))

    def teardown(self):
        for k in range(self.hosts):
            sh("ip", "netns", "del", self.ns(k), check=False)
        sh("ip", "link", "del", self.bridge, check=False)


def on_test_hosts(letters, octet, hosts, body):
    """Runs body(net) on fresh test hosts and removes them whatever happens; returns its exit
    status, or 77 (meson's "skipped") when this is not root, has no network namespaces, or the
    kernel cannot make the hosts."""
    import os
    if os.geteuid() != 0 or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        print("skipped: needs root and iproute2 network namespaces")
        return 77
    net = TestNet(letters, octet, hosts)
    try:
        net.setup()
    except Exception as e:  # e.g. no bridge or veth support in this kernel
        net.teardown()
        print(f"skipped: cannot create test hosts: {e}")
        return 77
    try:
        return body(net)
    finally:
        net.teardown()


def spawn(cmd, env):
    """Starts a job (weftrun ...) in its own session, its output collected line by line on a
    thread: returns (process, lines, reader thread)."""
    import threading
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in p.stdout), daemon=True)
    reader.start()
    return p, lines, reader
