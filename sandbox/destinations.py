"""Which network destinations a tool call may never reach (unless its profile opts in): the host's
own services and the networks around it.

sbx's egress proxy runs on the host and connects from the host's network, so without this a call
granted `http://127.0.0.1:8765/` (or `localhost`, `2130706433`, `[::ffff:127.0.0.1]`, cloud
metadata at 169.254.169.254, a printer on 192.168.1.9) would reach it. Two callers share the rule:

- the policy compiler refuses a URL whose host is a forbidden address in any spelling, or a name
  that always means this machine (`localhost`), before anything runs;
- the proxy resolves every other name on the host, refuses it when any of its addresses is
  forbidden, and connects to exactly the addresses it checked (no second lookup to rebind).

The ranges are listed explicitly rather than taken from `ipaddress`'s `is_global`: that also
excludes documentation and benchmarking ranges (192.0.2.0/24, 198.18.0.0/15, ...), which are no
host's services, and which some resolvers (test networks, fake-IP DNS) hand out for public names.
Pure stdlib, imports nothing from sandbox: both the policy room and the engine room use it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import unquote

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# (network, what it is) -- checked in order, the first match names the refusal
FORBIDDEN_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified ('this host') address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address (cloud metadata lives here)"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("100.64.0.0/10"), "a shared (CGNAT) address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("255.255.255.255/32"), "the broadcast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)
FORBIDDEN_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "an unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("::ffff:0:0/96"), "an IPv4-mapped IPv6 address"),
    (_V6("::ffff:0:0:0/96"), "an IPv4-translated IPv6 address"),
    (_V6("::/96"), "an IPv4-compatible IPv6 address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("fc00::/7"), "a private (unique local) address"),
    (_V6("ff00::/8"), "a multicast address"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
)
# IPv6 prefixes that carry an IPv4 address the packet ends up at: judged by that address
_NAT64 = _V6("64:ff9b::/96")

# Names that mean this machine whatever a resolver says (RFC 6761 and Debian's /etc/hosts).
_LOCAL_NAMES = frozenset({
    "localhost", "localhost.localdomain", "localhost4", "localhost4.localdomain4", "localhost6",
    "localhost6.localdomain6", "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-allnodes",
    "ip6-allrouters", "ip6-mcastprefix",
})

# One part of an inet_aton spelling: hex (0x..), octal (leading 0) or decimal
_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def parse_inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address `text` spells the way inet_aton(3) (and so the host's resolver) reads it:
    1 to 4 dot-separated parts, each decimal, octal (`0177`) or hex (`0x7f`), the last filling the
    remaining bytes (`127.1`, `2130706433`); None when it is not such a spelling."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_PART.fullmatch(part) for part in parts):
        return None
    values = [int(part, 16) if part[:2].lower() == "0x" else int(part, 8) if part.startswith("0") else int(part)
              for part in parts]
    *head, last = values
    if any(value > 0xFF for value in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> Address | None:
    """The address a URL host spells literally (IPv6 with or without brackets and zone, IPv4 in
    every inet_aton form), or None when it is a name."""
    text = host.strip().removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    # inet_aton(3) stops at whitespace and ignores what follows it
    words = text.split(maxsplit=1)
    return parse_inet_aton(words[0].removesuffix(".")) if words else None


def refusal(address: Address) -> str | None:
    """Why no call may reach `address` (e.g. "a loopback address"), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(address.packed)  # the zone (%eth0) does not change the range
        for network, what in FORBIDDEN_V6:
            if address in network:
                return what
        embedded = _embedded_v4(address)
        if embedded is not None:
            inner = refusal(embedded)
            return f"{inner} inside an IPv6 address ({embedded})" if inner else None
        return None
    for v4_network, what in FORBIDDEN_V4:
        if address in v4_network:
            return what
    return None


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64, 6to4 or Teredo address delivers to, if any."""
    if address in _NAT64:
        return ipaddress.IPv4Address(address.packed[-4:])
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        server, client = address.teredo
        return client if refusal(client) else server if refusal(server) else None
    return None


def _spellings(host: str) -> list[str]:
    """`host` as written, percent-decoded, and NFKC-normalised (what IDNA encoding makes of
    full-width digits and dots), lower-case, without a trailing dot."""
    forms = [host, unquote(host)]
    forms += [unicodedata.normalize("NFKC", form).replace("\u3002", ".") for form in forms]
    return list(dict.fromkeys(form.strip().lower().removesuffix(".") for form in forms))


def static_refusal(host: str) -> str | None:
    """Why `host` (a URL's host, an allowlist entry's host) is refused without resolving anything:
    a forbidden address in any spelling, or a name that always means this machine. None when only
    resolving it can tell (the proxy does, at connect time)."""
    for form in _spellings(host):
        address = literal_address(form)
        if address is not None:
            why = refusal(address)
            if why:
                return f"{host} is {why}" + ("" if form == str(address) else f" ({address})")
        elif form in _LOCAL_NAMES or form.endswith(".localhost"):
            return f"{host} always names this machine"
    return None
