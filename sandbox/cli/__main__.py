"""`python -m sandbox.cli`, as the `sbx` console script."""

from __future__ import annotations

import sys

from sandbox.cli.main import main

sys.exit(main())
