"""Egress never reaches this machine or private networks: the rule (`sandbox.destinations`) and the
compiler's refusal of such URLs before anything runs (`policy.forbidden_destination`)."""

from __future__ import annotations

import ipaddress
import random
import shutil
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.authoring import check
from sandbox.config import Settings
from sandbox.destinations import literal_address, parse_inet_aton, refusal, static_refusal
from sandbox.errors import PolicyError
from sandbox.policy.compile import compile_call
from sandbox.policy.profiles import load_profiles

ROOT = Path(__file__).resolve().parents[3]
ANY = "0.0.0.0"  # noqa: S104 -- a destination under test; nothing binds it
FULLWIDTH = "\uff11\uff12\uff17.\uff10.\uff10.\uff11"  # what IDNA's NFKC makes 127.0.0.1 of

# every spelling of a destination on this machine or a network around it
FORBIDDEN = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0X7F000001", "0177.0.0.1", "0177.1",
    "0x7f.1", "0x7f.0.0.0x1", "127.000.000.001", "017700000001", "127.255.255.254", "127.0.0.1.",
    "0", ANY, "0x0", "00", "0.0.0.1",
    "localhost", "LOCALHOST", "localhost.", "Localhost.Localdomain", "api.localhost", "ip6-localhost",
    "[::1]", "::1", "[0:0:0:0:0:0:0:1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:8.8.8.8]",
    "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "[fe80::1%25eth0]", "fe80::1%eth0",
    "169.254.169.254", "2852039166", "0xa9fea9fe", "[fe80::a9fe:a9fe]",
    "10.0.0.1", "10.1", "167772161", "172.16.0.1", "172.31.255.255", "192.168.1.9", "[fd00::1]", "[fc00::2]",
    "100.64.0.1", "100.127.255.254", "224.0.0.1", "239.255.255.250", "[ff02::1]", "255.255.255.255",
    "4294967295", "240.0.0.1",
    "127.0.0.%31", FULLWIDTH, "127\u30020\u30020\u30021",
]
# public addresses in odd spellings, public names, and ranges that are no host's services
ALLOWED = [
    "example.org", "deb.debian.org", "8.8.8.8", "134744072", "0x8080808", "010.010.010.010", "1.1",
    "[2606:4700:4700::1111]", "[64:ff9b::808:808]", "172.32.0.1", "100.128.0.1", "192.0.2.7", "203.0.113.80",
    "localhost.example.org", "mylocalhost",
]


@pytest.mark.parametrize("host", FORBIDDEN)
def test_forbidden_destinations_are_refused_in_every_spelling(host: str) -> None:
    assert static_refusal(host) is not None


@pytest.mark.parametrize("host", ALLOWED)
def test_public_destinations_are_not(host: str) -> None:
    assert static_refusal(host) is None


def test_the_reason_names_the_range_and_the_address() -> None:
    assert static_refusal("0x7f000001") == "0x7f000001 is a loopback address (127.0.0.1)"
    assert "link-local" in (static_refusal("169.254.169.254") or "")
    assert "CGNAT" in (static_refusal("100.64.0.1") or "")
    assert "IPv4-mapped" in (static_refusal("[::ffff:127.0.0.1]") or "")
    assert static_refusal("localhost") == "localhost always names this machine"


def test_numeric_spellings_are_read_as_the_resolver_reads_them() -> None:
    """The parser agrees with the C library's inet_aton, which getaddrinfo uses for numeric hosts."""
    rng = random.Random(12)  # noqa: S311 -- reproducible samples, not secrets
    samples = ["127.1", "0x7f000001", "0177.0.0.1", "2130706433", "0", "0x", "08", "1.2.3.4.5", "4294967296",
               "1.16777215", "1.16777216", "1.2.65536", "256.1", "127..1", ".1", "1."]
    samples += ["".join(rng.choice("0123456789xXaf.") for _ in range(rng.randint(1, 14))) for _ in range(20000)]
    for text in samples:
        try:
            expected: ipaddress.IPv4Address | None = ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            expected = None
        assert parse_inet_aton(text) == expected, text


def test_resolved_addresses_are_judged_by_range() -> None:
    assert refusal(ipaddress.ip_address("127.0.0.1")) == "a loopback address"
    assert refusal(ipaddress.ip_address("::ffff:10.0.0.1")) == "an IPv4-mapped IPv6 address"
    assert refusal(ipaddress.ip_address("93.184.215.14")) is None
    assert literal_address("example.org") is None
    assert literal_address("[::1]") == ipaddress.ip_address("::1")


def _profiles(tmp_path: Path, *, opt_in: bool, extra: str = "") -> Path:
    folder = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", folder)
    if opt_in:
        text = (folder / "http_get.toml").read_text()
        network = '[network]\nmode = "proxy"\n'
        assert network in text
        (folder / "http_get.toml").write_text(text.replace(network, network + "allow_private_destinations = true\n"))
    if extra:
        (folder / "probe.toml").write_text(extra)
    return folder


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "0177.0.0.1", "127.1",
                                  ANY, "0", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.1"])
def test_the_compiler_refuses_such_urls_before_anything_runs(tmp_path: Path, host: str) -> None:
    profile = load_profiles(_profiles(tmp_path, opt_in=False)).get("http_get")
    with pytest.raises(PolicyError) as caught:
        compile_call(profile, {"url": f"http://{host}:8765/secret"})
    assert caught.value.code == "policy.forbidden_destination"
    assert "allow_private_destinations" in (caught.value.hint or "")


def test_with_the_opt_in_the_call_compiles_and_says_so(tmp_path: Path) -> None:
    profile = load_profiles(_profiles(tmp_path, opt_in=True)).get("http_get")
    call = compile_call(profile, {"url": "http://127.1:8765/secret"})
    assert call.proxy_hosts == ("127.1:8765",)
    assert call.private_destinations is True
    assert call.to_json()["network"]["private_destinations"] is True
    assert "private destinations allowed" in call.summary()
    public = compile_call(load_profiles(_profiles(tmp_path / "b", opt_in=False)).get("http_get"),
                          {"url": "https://example.org/"})
    assert public.private_destinations is False


PROBE = """name = "probe"
description = "egress to a fixed host"
argv = ["/bin/true"]
[network]
mode = "proxy"
hosts = [{hosts}]
{opt_in}
"""


def test_a_profile_listing_a_local_host_is_refused_at_load(tmp_path: Path) -> None:
    folder = _profiles(tmp_path, opt_in=False, extra=PROBE.format(hosts='"deb.debian.org", "[::1]:8080"', opt_in=""))
    with pytest.raises(PolicyError) as caught:
        load_profiles(folder)
    assert caught.value.code == "policy.forbidden_destination"
    assert "probe.toml:6: [network] hosts: ::1 is a loopback address" in caught.value.message


def test_profile_check_warns_about_the_opt_in(tmp_path: Path) -> None:
    folder = _profiles(tmp_path, opt_in=False,
                       extra=PROBE.format(hosts='"localhost:8080"', opt_in="allow_private_destinations = true"))
    result, text = check(replace(Settings.from_env(), profiles_dir=folder), [])
    assert result["ok"], result["errors"]
    assert any("probe.toml" in w and "allow_private_destinations" in w for w in result["warnings"])
    assert "warning:" in text
    assert not any("http_get" in w and "allow_private" in w for w in result["warnings"])
