"""Outbound HTTP of the engine (audio_url downloads, webhooks), guarded against SSRF.

Every connection goes through :class:`GuardedBackend`: the host is resolved once, EVERY
resolved address must be allowed, and the connection is made to one of those checked
addresses (no second lookup, so DNS rebinding cannot swap in another one). TLS still
verifies the URL's host name. Refused by default: loopback, private (RFC 1918, ULA,
100.64/10), link-local (cloud metadata), multicast, unspecified, reserved and every other
non-global address, IPv4 embedded in IPv6 included. ``allow_private`` lets loopback and
private ranges through (never link-local, multicast or unspecified); ``allowed_networks``
lets the given CIDRs through whatever they are.

Redirects are followed by hand (bounded), each hop through the same guard; env proxies
are ignored (a proxy would connect on our behalf, past the guard).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

log = logging.getLogger("callmine.engine.outbound")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "::1/128", "fc00::/7",
))
REDIRECTS = (301, 302, 303, 307, 308)


class BlockedDestination(httpcore.ConnectError):
    """The URL's host resolves to an address the policy refuses."""


class AddressPolicy:
    def __init__(self, allow_private: bool = False, allowed_networks: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)

    def allows(self, address: IPAddress) -> bool:
        if any(address.version == net.version and address in net for net in self.allowed):
            return True
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return self.allows(embedded)
        if address.is_multicast or address.is_unspecified or address.is_link_local:
            return False
        if address.is_global and not address.is_reserved:
            return True
        return self.allow_private and any(address in net for net in _PRIVATE_RANGES if net.version == address.version)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"could not resolve: {type(exc).__name__}") from None
        addresses: list[IPAddress] = []
        for info in infos:
            raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
            address = ipaddress.ip_address(raw)
            if address not in addresses:
                addresses.append(address)
        return addresses

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        if not addresses:
            raise httpcore.ConnectError("no address")
        refused = [a for a in addresses if not self.policy.allows(a)]
        if refused:  # every resolved address must be allowed, not just the one we would use
            raise BlockedDestination(f"refused address {refused[0]}")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool's network backend replaced by the guard."""

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=GuardedBackend(policy),
            max_connections=50, max_keepalive_connections=10,
        )


def guarded_client(policy: AddressPolicy) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=GuardedTransport(policy), follow_redirects=False, trust_env=False)


class FetchFailed(Exception):
    """Any failure of an outbound GET; ``reason`` is for the operator's log only, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def open_following_redirects(client: httpx.AsyncClient, url: str, *, max_redirects: int,
                                   timeout: httpx.Timeout) -> httpx.Response:
    """A streamed GET whose final (non-redirect) response is 2xx; the caller closes it.

    Each hop is checked by the guard on connect; http(s) only; at most ``max_redirects`` hops.
    """
    current = httpx.URL(url)
    for _ in range(max_redirects + 1):
        if current.scheme not in ("http", "https"):
            raise FetchFailed(f"scheme {current.scheme!r} not allowed")
        try:
            response = await client.send(client.build_request("GET", current, timeout=timeout), stream=True)
        except BlockedDestination as exc:  # raised unwrapped only if httpx stops mapping it
            raise FetchFailed(f"blocked: {exc}") from None
        except httpx.HTTPError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, BlockedDestination):
                raise FetchFailed(f"blocked: {cause}") from None
            raise FetchFailed(f"{type(exc).__name__}: {exc}") from None
        if response.status_code in REDIRECTS and "location" in response.headers:
            await response.aclose()
            try:
                current = current.join(response.headers["location"])
            except (httpx.InvalidURL, ValueError):
                raise FetchFailed("malformed redirect") from None
            continue
        if not response.is_success:
            await response.aclose()
            raise FetchFailed(f"HTTP {response.status_code}")
        return response
    raise FetchFailed(f"more than {max_redirects} redirects")
