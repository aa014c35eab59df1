"""A lossy, slow link between the test's network namespace and the hub's,
in user space: this kernel has no netem (no sch_netem, no tc actions).

Instead of a veth pair, each side gets a TUN device (point-to-point, the
same addresses as HubLink), and a forwarder process copies every IP packet
from one to the other: it drops each with probability `loss` and delays
every other one by `delay` seconds (both directions, every protocol: the
WebRTC media, the agent's HTTP and WebSocket alike, as on a bad village
uplink). The forwarder runs in a process of its own, so that it neither
slows the agent's event loop in the test process nor is slowed by it.

    link = LossyLink(loss=0.10, delay=0.100)
    link.up()          # namespaces, TUN devices, forwarder
    ... hub in link.ns at link.hub_ip, agent talks to it ...
    link.heal()        # no more loss or delay
    link.down()

`python -m tests.e2e.lossylink` is the forwarder itself (started by up()).
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import os
import random
import secrets
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.netfabric import free_net, run_ip

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
# Opens a TUN device inside the namespace it runs in and hands its fd back over a socket.
_OPEN_IN_NS = (
    "import fcntl, os, socket, struct, sys\n"
    "fd = os.open('/dev/net/tun', os.O_RDWR)\n"
    f"fcntl.ioctl(fd, {TUNSETIFF}, struct.pack('16sH', sys.argv[1].encode(), {IFF_TUN | IFF_NO_PI}))\n"
    "socket.send_fds(socket.socket(fileno=int(sys.argv[2])), [b'tun'], [fd])\n"
)



def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def open_tun_in(ns: str, name: str) -> int:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", _OPEN_IN_NS, name,
                        str(theirs.fileno())], check=True, timeout=20, pass_fds=(theirs.fileno(),))
        _, fds, _, _ = socket.recv_fds(ours, 16, 1)
    return fds[0]


def forward(a: int, b: int, loss: float, delay: float, seed: int) -> None:
    """Copy packets a <-> b until killed, dropping and delaying them (until SIGUSR1: then clean)."""
    rng = random.Random(seed)
    fault = [loss, delay]

    def heal(*_: object) -> None:
        fault[:] = [0.0, 0.0]

    signal.signal(signal.SIGUSR1, heal)
    queue: collections.deque[tuple[float, int, bytes]] = collections.deque()
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, b)
    sel.register(b, selectors.EVENT_READ, a)
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
        for key, _ in sel.select(timeout):
            try:
                packet = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if rng.random() >= fault[0]:
                queue.append((time.monotonic() + fault[1], key.data, packet))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, dst, packet = queue.popleft()
            try:
                os.write(dst, packet)
            except OSError:
                pass  # the other side is gone or full: a lost packet


class LossyLink:
    """HubLink's interface (ns, edge_ip, hub_ip, up, down) over a lossy, slow forwarder."""

    def __init__(self, *, loss: float, delay: float) -> None:
        tag = secrets.token_hex(3)
        self.ns, self.edge_if, self.hub_if = f"blhub{tag}", f"blte{tag}", f"blth{tag}"
        net = free_net("10.201")
        self.edge_ip, self.hub_ip = f"10.201.{net}.1", f"10.201.{net}.2"
        self.loss, self.delay = loss, delay
        self.proc: subprocess.Popen[bytes] | None = None

    def up(self) -> None:
        run_ip("netns", "add", self.ns)
        run_ip("tuntap", "add", "dev", self.edge_if, "mode", "tun")
        run_ip("-n", self.ns, "tuntap", "add", "dev", self.hub_if, "mode", "tun")
        run_ip("addr", "add", self.edge_ip, "peer", f"{self.hub_ip}/32", "dev", self.edge_if)
        run_ip("-n", self.ns, "addr", "add", self.hub_ip, "peer", f"{self.edge_ip}/32", "dev", self.hub_if)
        run_ip("link", "set", self.edge_if, "up")
        run_ip("-n", self.ns, "link", "set", self.hub_if, "up")
        run_ip("-n", self.ns, "link", "set", "lo", "up")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.lossylink", self.edge_if, self.ns, self.hub_if,
             str(self.loss), str(self.delay)], cwd=Path(__file__).resolve().parents[2])

    def heal(self) -> None:
        """From now on the link forwards everything at once (the fault is over)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)

    def down(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
        subprocess.run(["ip", "tuntap", "del", "dev", self.edge_if, "mode", "tun"],
                       capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=20)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("edge_if")
    p.add_argument("ns")
    p.add_argument("hub_if")
    p.add_argument("loss", type=float)
    p.add_argument("delay", type=float)
    args = p.parse_args()
    forward(open_tun(args.edge_if), open_tun_in(args.ns, args.hub_if), args.loss, args.delay,
            secrets.randbits(32))


if __name__ == "__main__":
    main()
