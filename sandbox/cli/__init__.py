"""`sbx`, the command line: `main` is the console script (pyproject.toml: `sandbox.cli:main`).

main.py holds the parser and the one error boundary; each command family has its module (actions:
exec and run; changes: diff, apply, discard, undo, list, rebase; log; profile; models; host: doctor,
image, serve); dialogue.py is the one approval dialogue, ticker.py the terminal's progress line.
"""

from __future__ import annotations

from sandbox.cli.main import main

__all__ = ["main"]
