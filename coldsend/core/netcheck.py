"""Which hosts the service may connect to (API.md §7, "Where it connects").

One rule for SMTP and IMAP hosts, at creation and again at connect time, after DNS resolution:
a loopback, private, link-local, reserved, multicast or unspecified address is refused unless
the setting SMTP_ALLOW_PRIVATE_HOSTS is true."""

import ipaddress
import socket

from django.conf import settings


class HostRefused(Exception):
    """The host is not a public address (or does not resolve). The message is safe to show."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that one (mapped, 6to4, Teredo's
        # client): both must be public.
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if any(v4 is not None and not is_public(str(v4)) for v4 in embedded):
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def allow_private_hosts() -> bool:
    return bool(settings.SMTP_ALLOW_PRIVATE_HOSTS)


def resolve(host: str, port: int) -> list[tuple]:
    """The addresses to connect to (getaddrinfo tuples); HostRefused when the name does not
    resolve or any address it resolves to is not public (unless private hosts are allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise HostRefused(f"The host {host!r} does not resolve.") from None
    if not infos:
        raise HostRefused(f"The host {host!r} does not resolve.")
    if not allow_private_hosts():
        for *_, sockaddr in infos:
            if not is_public(sockaddr[0]):
                raise HostRefused(
                    f"The host {host!r} is not a public address "
                    "(loopback, private, link-local or reserved)."
                )
    return infos


def connect(host: str, port: int, timeout: float, checked: bool = True) -> socket.socket:
    """A socket connected to `host` at an address the rule allows: resolved and checked once,
    and the checked address is the one connected to (a second lookup could answer otherwise:
    DNS rebinding). `checked` is off for the operator's own relay (EMAIL_URL)."""
    if not checked:
        return socket.create_connection((host, port), timeout)
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in resolve(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError("no address")


def check_host(host: str, port: int = 25) -> None:
    """For creation-time validation: HostRefused unless `host` may be connected to."""
    resolve(host, port)
