"""ICE configuration for the edge: explicit servers, and which host addresses to offer.

- aiortc falls back to a public Google STUN server when given no ICE
  servers; county networks have no internet, so we always pass an explicit
  list (empty by default).
- aioice never offers 127.0.0.1 as a host candidate (it skips it in
  `aioice.ice.get_host_addresses`), so two peers on loopback never connect.
  aioice has no setting for this; `restrict_host_addresses()` replaces that
  module function, process-wide, with one that returns a configured list.
  Tests use ["127.0.0.1"]; a hall PC with several NICs can use it to offer
  only the address on the county network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_ORIGINAL: Callable[..., list[str]] = aioice.ice.get_host_addresses


def rtc_configuration(servers: Sequence[tuple[str, str | None, str | None]] = ()) -> RTCConfiguration:
    """RTCConfiguration from (url, username, credential) triples; empty means host candidates only."""
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=url, username=user, credential=cred) for url, user, cred in servers]
    )


def restrict_host_addresses(addresses: Sequence[str] | None) -> None:
    """Offer exactly these host addresses (None: aioice's own discovery again)."""
    if addresses is None:
        aioice.ice.get_host_addresses = _ORIGINAL
        return
    fixed = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
