"""sbx: every tool call in a throwaway, least-privilege container; effects reviewed, then committed.

`from sandbox import Sandbox` is the Python API (sandbox/api.py). It is loaded on first use so that
the CLI, which imports this package too, does not pay for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

# Quiet by default, for the API as for the CLI: without a handler of the program's own, Python would
# print sbx's warnings to stderr. The CLI adds one for -v/SBX_LOG.
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from sandbox.api import Sandbox, ToolInfo

__all__ = ["Sandbox", "ToolInfo"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sandbox import api

        return getattr(api, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
