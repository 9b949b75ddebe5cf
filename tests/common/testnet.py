"""Test hosts on one machine: network namespaces whose eth0 is one end of a veth pair, the other
end on a bridge in the root namespace (where weftrun's coordinator listens, on the bridge's
address). Used by tests/netns/ and bench/netns_bench.py.

    net = TestNet("wt", octet=77, hosts=3)   # namespaces wt<tag>h0..2, 10.77.<x>.0/24
    net.setup(); ...; net.teardown()          # teardown is safe to call after a failed setup

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
