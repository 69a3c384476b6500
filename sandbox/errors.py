"""One error tree for sbx.

Every failure that reaches a user is an `SbxError` with a stable dotted `code` (listed in the
README) and a one-line `message`; `hint` says how to fix it where sbx knows. Third-party exceptions
are translated into this tree at the module that imports the library, never further up.
"""

from __future__ import annotations


class SbxError(Exception):
    """Base of every error sbx reports. `code` is stable and machine-readable."""

    code = "sbx.error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class UsageError(SbxError):
    """The user asked for something malformed: bad flags, bad arguments."""

    code = "usage.invalid"
    exit_code = 2


class WorkspaceError(SbxError):
    """The workspace folder is missing, not a folder, or unusable."""

    code = "workspace.invalid"


class ChangesetError(SbxError):
    """A changeset is unknown, in the wrong state, or its hash does not match."""

    code = "changeset.invalid"


class ConflictError(ChangesetError):
    """The host changed since the action ran; nothing was overwritten."""

    code = "changeset.conflict"

    def __init__(self, message: str, paths: tuple[str, ...], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.paths = paths


class UnsafeChangeError(ChangesetError):
    """A change would escape the workspace or create something the host must never get."""

    code = "changeset.unsafe"


class StateError(SbxError):
    """sbx's own state (journal, metadata) is corrupt or locked."""

    code = "state.invalid"


class UnreviewableEffectError(SbxError):
    """The action ran, but its effect could not become a changeset (a layer too deep, a path past
    PATH_MAX, an overlay feature sbx never mounts): nothing reached the workspace. The error keeps
    the cause's code, message and hint, and carries the steps that ran (their JSON form), so the
    tool's output is still reported with it."""

    def __init__(self, cause: SbxError, steps: tuple[dict[str, object], ...]) -> None:
        super().__init__(cause.message, hint=cause.hint, code=cause.code)
        self.steps = steps


class UnsafeDirError(StateError):
    """A folder sbx keeps things in could be taken over by another user: owned by another uid, a
    symlink, writable by others, or below a folder others may write to. `paths` names it."""

    code = "state.unsafe_dir"

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.paths = (path,)


class EngineError(SbxError):
    """The container engine is missing, unreachable, or failed."""

    code = "engine.error"


class EngineUnavailableError(EngineError):
    code = "engine.unavailable"


class ImageNotFoundError(EngineError):
    code = "engine.image_not_found"


class CommandNotRunnableError(EngineError):
    """The container started but the command could not be executed (not found, not executable)."""

    code = "engine.command_not_runnable"


class ImageBuildError(EngineError):
    code = "image.build_failed"


class PolicyError(SbxError):
    """A policy (profile, syscall group, path, port) is invalid or cannot be compiled.

    Sub-codes used by `sandbox.policy`: `policy.unknown_syscall`, `policy.unknown_syscall_group`,
    `policy.path_outside_workspace`, `policy.invalid_path`, `policy.invalid_port`,
    `policy.unsupported_arch`, `policy.libseccomp_unavailable`, `policy.contradiction`.
    """

    code = "policy.invalid"


class ModelError(SbxError):
    """A model is unknown, missing, fails its checksum, or cannot be built or loaded.

    Sub-codes used by `sandbox.planner`: `model.not_found`, `model.checksum_mismatch`,
    `model.source_unavailable`, `model.build_failed`, `model.load_failed`,
    `model.provider_unavailable`.
    """

    code = "model.error"


class PlannerError(SbxError):
    """Planning failed: generation error, or output that does not parse as its guidance says."""

    code = "planner.error"
