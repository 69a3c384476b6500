"""sbx's own data files, read as package data: the in-container launcher, the policy profiles, the
default image's Containerfile, the model build programs and the planner's worked examples.

The launcher, the profiles and the Containerfile live at the top of the repository (`runtime/`,
`profiles/`, `Containerfile`: the layout asks for them there); `sandbox/_data/` holds links to them,
so the wheel carries copies (pyproject.toml's package-data) and an editable install reads the
repository's own files through the same names. Nothing here knows where a checkout is: every file is
found through `importlib.resources`, relative to the installed `sandbox` package.

It imports nothing of sbx but the error tree, so every room may import it.
"""

from __future__ import annotations

import functools
import importlib.util
import marshal
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from sandbox.errors import SbxError

_DATA = "_data"


def _data(*parts: str) -> Traversable:
    node = resources.files("sandbox").joinpath(_DATA)
    for part in parts:
        node = node.joinpath(part)
    return node


def _read(*parts: str) -> str:
    node = _data(*parts)
    try:
        return node.read_text(encoding="utf-8")
    except OSError as exc:
        raise SbxError(f"sbx's package data is incomplete: cannot read {'/'.join(parts)} ({exc.strerror})",
                       hint="reinstall sbx (pip install --force-reinstall)", code="sbx.incomplete_install") from None


@functools.cache
def launcher_source() -> str:
    """The launcher as mounted into every container: read once per process, not once per action."""
    return _read("runtime", "sbx_launcher.py")


@functools.cache
def launcher_bytecode() -> bytes:
    """The launcher compiled by this interpreter, as a .pyc file (magic number, 12 bytes of flags
    and source stamp, marshalled code): a container whose python has the same magic number runs it
    without compiling (~6-14 ms a start); any other compiles the source (LAUNCHER_STUB in app.py)."""
    code = compile(launcher_source(), LAUNCHER_PATH, "exec", dont_inherit=True)
    return importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code)


LAUNCHER_PATH = "/sbx/launcher.py"  # where containers see the launcher's source; its bytecode is beside it


def containerfile_text() -> str:
    """The default tool image's Containerfile (`sbx image build`; `sbx doctor` compares its digest)."""
    return _read("Containerfile")


def profiles_dir() -> Path:
    """The folder of the shipped profiles (the default of `Settings.profiles_dir`, which
    `SBX_PROFILES` overrides). Profiles are loaded as a folder, so the package must be installed as
    files (any pip install), not zipped."""
    node = _data("profiles")
    if not isinstance(node, Path) or not node.is_dir():
        raise SbxError("sbx's profiles are not a folder on disk: install sbx with pip (not as a zip)",
                       hint="set SBX_PROFILES to a folder of profiles", code="sbx.incomplete_install")
    return node


def build_program(module: str) -> str:
    """The source of a model build program, a module of sbx that runs as a script in the model-build
    venv (where sbx itself is not installed): e.g. `build_program("sandbox.planner.buildtools.hub_download")`."""
    package, _, name = module.rpartition(".")
    if not module.startswith("sandbox.") or not name:
        raise ValueError(f"not a module of sbx: {module}")
    try:
        return resources.files(package).joinpath(f"{name}.py").read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError) as exc:
        raise SbxError(f"sbx's package data is incomplete: cannot read the build program {module} ({exc})",
                       hint="reinstall sbx (pip install --force-reinstall)", code="sbx.incomplete_install") from None


def planner_data(name: str) -> str:
    """A data file of the planner (`sandbox/planner/data/NAME`: its example bank and cheat sheet)."""
    try:
        return resources.files("sandbox.planner").joinpath("data", name).read_text(encoding="utf-8")
    except OSError as exc:
        raise SbxError(f"sbx's package data is incomplete: cannot read the planner's {name} ({exc.strerror})",
                       hint="reinstall sbx (pip install --force-reinstall)", code="sbx.incomplete_install") from None
