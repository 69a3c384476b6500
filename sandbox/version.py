"""sbx's version, from the installed package's metadata: one answer for `sbx --version` and the
MCP server's handshake."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "sandbox"  # [project] name in pyproject.toml


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        # installed under another distribution name: the one that ships the `sandbox` package
        for name in metadata.packages_distributions().get("sandbox", []):
            return metadata.version(name)
    return "0+unknown"  # run from a source tree that was never installed
