"""Policy: derive each call's confinement and compile it into artefacts the engine carries.

* `seccomp.compile_seccomp(groups)` -> an OCI seccomp profile (allowlist from named syscall groups in
  `syscall_groups`, names checked with libseccomp; `syscalls` is the only importer of pyseccomp).
* `landlock.build_policy(LandlockSpec(...))` -> the launcher's versioned JSON document
  (`runtime/policy-v1.schema.json`), with write roots narrowed by the call's path arguments.

Everything here is pure (no container, no filesystem access) and may import only the standard
library, `sandbox.types`, `sandbox.errors` and (in `syscalls` alone) `pyseccomp`.
See docs/confinement.md.
"""

from __future__ import annotations

from sandbox.policy.landlock import LandlockSpec, build_policy, policy_json, workspace_path
from sandbox.policy.seccomp import SeccompProfile, check_syscall_names, compile_seccomp

__all__ = [
    "LandlockSpec",
    "SeccompProfile",
    "build_policy",
    "check_syscall_names",
    "compile_seccomp",
    "policy_json",
    "workspace_path",
]
