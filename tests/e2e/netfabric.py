"""Machines on one LAN, on one host: a bridge in the test's namespace and one
network namespace per machine, each joined to the bridge by a veth pair.

The test's own namespace (publishers, browser, NATS, PostgreSQL) holds the
bridge address `host_ip`; machine i answers on `ip_of(name)`. A machine
reaches PostgreSQL through its Unix socket (a namespace isolates networks,
not files), and NATS on `host_ip`.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from dataclasses import dataclass, field


def run_ip(*args: str) -> None:
    """`ip ARGS...`, failing loudly (the namespace tests' one way to shape the network)."""
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


_handed_out: set[str] = set()


def free_net(prefix: str) -> int:
    """A third octet for `prefix` (e.g. "10.200") that no address on this host
    uses and this process has not handed out: links built side by side (three
    halls at once) never share a subnet."""
    shown = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, timeout=20).stdout
    used = {int(m) for m in re.findall(re.escape(prefix) + r"\.(\d+)\.", shown)}
    free = [n for n in range(1, 251) if n not in used and f"{prefix}.{n}" not in _handed_out]
    net = free[secrets.randbelow(len(free))]
    _handed_out.add(f"{prefix}.{net}")
    return net


@dataclass
class Fabric:
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    net: int = field(default_factory=lambda: free_net("10.201"))
    machines: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # name -> (netns, host veth, ip)

    @property
    def bridge(self) -> str:
        return f"blbr{self.tag}"

    @property
    def host_ip(self) -> str:
        return f"10.201.{self.net}.1"

    def up(self) -> Fabric:
        run_ip("link", "add", self.bridge, "type", "bridge")
        run_ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        run_ip("link", "set", self.bridge, "up")
        return self

    def add(self, name: str) -> str:
        """A machine joined to the bridge; returns its address."""
        i = len(self.machines)
        ns, outer, inner = f"blm{self.tag}{i}", f"blv{self.tag}{i}", f"blw{self.tag}{i}"
        address = f"10.201.{self.net}.{10 + i}"
        run_ip("netns", "add", ns)
        self.machines[name] = (ns, outer, address)
        run_ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        run_ip("link", "set", inner, "netns", ns)
        run_ip("link", "set", outer, "master", self.bridge)
        run_ip("link", "set", outer, "up")
        run_ip("-n", ns, "addr", "add", f"{address}/24", "dev", inner)
        run_ip("-n", ns, "link", "set", inner, "up")
        run_ip("-n", ns, "link", "set", "lo", "up")
        return address

    def ns_of(self, name: str) -> str:
        return self.machines[name][0]

    def ip_of(self, name: str) -> str:
        return self.machines[name][2]

    def down(self) -> None:
        for ns, outer, _ in self.machines.values():
            subprocess.run(["ip", "link", "del", outer], capture_output=True, timeout=20)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=20)
        self.machines.clear()
