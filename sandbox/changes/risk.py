"""Risk flags: changes a reviewer should look at twice before approving.

A flag marks a change that would let the action's effect run again later, on the host, outside
any sandbox (a git hook, a shell start-up file, CI configuration, an executable bit...), or that
writes something that looks like a credential. Flags are short stable strings (`risk.*`), kept on
`Change.risks`, shown in the review and the JSON; a terminal asks for an explicit confirmation
when a changeset has any.

They are a review aid, not a barrier: a change that is not flagged is not thereby safe (the review
is), and nothing here refuses anything. Path rules look at every path component, so a nested
repository or a home folder used as a workspace is covered too.

Content is read the way its consumer reads it, and whole: git configuration through a parser
that follows git's own (`gitconfig.py`: continuation lines, a byte-order mark, quotes, comments,
case rules), `package.json` through a JSON parser. A file too large to read whole within the
limits below is flagged `risk.too_large_to_inspect` instead of being judged on its start.
Permissions that open a file or folder to other users' writes, a sticky bit removed, and links
that point outside the workspace are flagged too.

`assess(change, old=..., new=...)` is the whole API: it looks at the change (path, kind, types,
modes) and, only where a rule needs it, at content through lazy readers (`file_reader`). The
layer reader calls it once per change at finalize, so flags are computed once, from the bytes
that will be committed, and stored with the changeset.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable

from sandbox.changes import gitconfig
from sandbox.types import Change, ChangeKind, EntryType

GIT_HOOK = "risk.git_hook"
GIT_CONFIG = "risk.git_config"
SHELL_STARTUP = "risk.shell_startup"
AUTOSTART = "risk.autostart"
SSH = "risk.ssh"
CI_CONFIG = "risk.ci_config"
TASK_CONFIG = "risk.task_config"
PACKAGE_SCRIPTS = "risk.package_scripts"
EXEC_BIT = "risk.exec_bit"
CREDENTIALS = "risk.credentials"
WEAK_PERMISSIONS = "risk.weakened_permissions"
OUTWARD_LINK = "risk.outward_link"
TOO_LARGE = "risk.too_large_to_inspect"

# The closed set, in the order flags are listed on a change, with what each means.
RISKS: dict[str, str] = {
    GIT_HOOK: "a git hook: git runs it on the host (commit, checkout, push...)",
    GIT_CONFIG: "git configuration that makes git run a command (hooksPath, aliases with !, filters, ...)",
    SHELL_STARTUP: "a shell start-up file: every new shell on the host runs it",
    AUTOSTART: "runs at login or when a program starts (systemd user unit, XDG autostart, Python .pth)",
    SSH: "ssh configuration or authorized keys: remote access or commands run by ssh",
    CI_CONFIG: "CI configuration: runs on the CI machines with their secrets",
    TASK_CONFIG: "editor or task-runner configuration that runs commands (VS Code tasks, devcontainer...)",
    PACKAGE_SCRIPTS: "package manager scripts (npm/composer install hooks) changed",
    EXEC_BIT: "a file becomes executable",
    CREDENTIALS: "content that looks like a credential (private key, token, password) or a secrets file",
    WEAK_PERMISSIONS: "permissions opened to other users' writes (or a secret's reads), or a sticky bit removed",
    OUTWARD_LINK: "a symbolic link pointing outside the workspace (absolute, or escaping it with ..)",
    TOO_LARGE: "too large to read whole for the checks above (git settings, package scripts, credentials)",
}

# Whole files are read up to these sizes; a larger one is flagged TOO_LARGE. Measured on this
# machine: credentials ~30 MB/s, git config 2-16 MB/s (worst: millions of tiny settings or
# continuation lines), JSON ~100 MB/s.
SCAN_LIMIT = 32 * 1024 * 1024  # searched for credentials
CONFIG_LIMIT = 4 * 1024 * 1024  # git configuration
JSON_LIMIT = 64 * 1024 * 1024  # package.json, composer.json

Reader = Callable[[int], bytes | None]  # up to N bytes of a side's content; None when unreadable


def assess(change: Change, *, old: Reader | None = None, new: Reader | None = None) -> tuple[str, ...]:
    """The risk flags of one change, in `RISKS` order. `old` and `new` read the content of each
    side when it is a regular file (None otherwise); they are called only when a rule needs it."""
    if change.refused is not None or change.kind == ChangeKind.DELETED or change.new_type is None:
        return ()
    parts = tuple(change.path.split("/"))
    flags = _permission_flags(change, parts)
    if change.new_type == EntryType.DIR:
        return _ordered(flags)  # what a folder holds is flagged entry by entry
    if _gains_exec(change):
        flags.add(EXEC_BIT)
    if change.kind == ChangeKind.MODE:
        if flags:  # say what the newly executable or writable file is
            flags.update(_path_flags(parts))
        return _ordered(flags)  # a mode change that grants nothing is not a risk
    flags.update(_path_flags(parts))
    if change.new_type == EntryType.SYMLINK:
        flags.update(_link_flags(parts, change.new_target))  # content behind a link is not read
    elif change.new_type == EntryType.FILE:
        flags.update(_content_flags(parts, old, new))
    return _ordered(flags)


def _ordered(flags: set[str]) -> tuple[str, ...]:
    return tuple(flag for flag in RISKS if flag in flags)


def file_reader(real_path: str) -> Reader:
    """A reader of a regular file that does not follow a final symlink."""

    def read(limit: int) -> bytes | None:
        try:
            fd = os.open(real_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            chunks, left = [], limit
            while left > 0 and (chunk := os.read(fd, min(left, 1024 * 1024))):
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)

    return read


# -- exec bit --------------------------------------------------------------------------------------
def _gains_exec(change: Change) -> bool:
    if change.new_type != EntryType.FILE or not (change.new_mode or 0) & 0o111:
        return False
    return change.old_type != EntryType.FILE or not (change.old_mode or 0) & 0o111


# -- permissions -----------------------------------------------------------------------------------
_GROUP_OTHER_WRITE = 0o022
_GROUP_OTHER_READ = 0o044
# Folders whose entries decide what runs or who logs in: opening them to others' writes lets
# anyone on the host replace what is inside.
_SENSITIVE_DIRS = frozenset({
    ".git", ".ssh", ".gnupg", ".husky", ".config", ".github", ".gitea", ".forgejo", ".vscode", ".devcontainer",
    ".circleci", ".buildkite", ".aws", ".docker", ".kube", ".local", "autostart",
})


def _permission_flags(change: Change, parts: tuple[str, ...]) -> set[str]:
    """Write access for others on anything, for the group on a sensitive path, read access on a
    secret, or a directory's sticky bit removed (anyone may then delete others' entries)."""
    new = change.new_mode
    if new is None or change.new_type not in (EntryType.FILE, EntryType.DIR):
        return set()
    old = change.old_mode if change.old_type == change.new_type else None
    gained = new & ~(old or 0)
    is_dir = change.new_type == EntryType.DIR
    if is_dir and old is not None and old & stat.S_ISVTX and not new & stat.S_ISVTX:
        return {WEAK_PERMISSIONS}
    if gained & 0o002 and not (is_dir and new & stat.S_ISVTX):  # a sticky world-writable folder is /tmp's way
        return {WEAK_PERMISSIONS}
    if gained & _GROUP_OTHER_WRITE and _sensitive(parts, is_dir=is_dir):
        return {WEAK_PERMISSIONS}
    secret = not is_dir and (_secret_file(parts) or ".ssh" in parts[:-1])
    if old is not None and gained & _GROUP_OTHER_READ and secret:  # a new secret is flagged as one already
        return {WEAK_PERMISSIONS}
    return set()


def _sensitive(parts: tuple[str, ...], *, is_dir: bool) -> bool:
    if any(p in _SENSITIVE_DIRS for p in parts) or _git_dir_index((*parts, "")) is not None:
        return True
    if is_dir:  # a folder where a new entry would be flagged (hooks, workflows, conf.d...)
        return bool(_path_flags((*parts, "x")))
    return bool(_path_flags(parts)) or _is_git_config(parts) or parts[-1] in _PACKAGE_FILES


# -- paths -----------------------------------------------------------------------------------------
_SHELL_FILES = frozenset({
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".bash_aliases", ".profile",
    ".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".cshrc", ".tcshrc", ".login",
    ".logout", ".kshrc", ".mkshrc", ".envrc", ".xprofile", ".xinitrc", ".xsession",
    ".xsessionrc", ".pam_environment",
})
_SHELL_DIRS = (("bashrc.d",), (".bashrc.d",), (".profile.d",), ("fish", "conf.d"), ("fish", "functions"))
_SSH_FILES = frozenset({"authorized_keys", "authorized_keys2", "config", "environment", "rc"})
_AUTOSTART_DIRS = (("autostart",), ("systemd", "user"), ("environment.d",))
_PYTHON_STARTUP = frozenset({"sitecustomize.py", "usercustomize.py"})
_CI_FILES = frozenset({
    ".gitlab-ci.yml", ".travis.yml", "azure-pipelines.yml", "azure-pipelines.yaml", ".drone.yml",
    "bitbucket-pipelines.yml", "appveyor.yml", ".appveyor.yml", ".woodpecker.yml", "cloudbuild.yaml",
    "cloudbuild.yml", ".cirrus.yml", "codemagic.yaml", "wercker.yml", ".gitpod.yml",
})
_CI_DIRS = (
    (".github", "workflows"), (".github", "actions"), (".gitea", "workflows"), (".forgejo", "workflows"),
    (".circleci",), (".buildkite",), (".woodpecker",), (".semaphore",), (".tekton",), (".ci",),
    (".gitlab", "ci"), (".azure-pipelines",),
)
_TASK_FILES = frozenset({".exrc", ".nvimrc", ".nvim.lua", ".devcontainer.json"})
_TASK_DIRS = ((".devcontainer",), (".idea", "runConfigurations"))
_VSCODE_FILES = frozenset({"tasks.json", "launch.json", "settings.json"})
_SECRET_FILES = frozenset({
    ".netrc", "_netrc", ".pgpass", ".git-credentials", ".my.cnf", ".pypirc", "id_rsa", "id_dsa",
    "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk",
})
_SECRET_PAIRS = frozenset({(".aws", "credentials"), (".docker", "config.json"), (".kube", "config")})
_SECRET_SUFFIXES = (".p12", ".pfx", ".jks", ".keystore")
_PACKAGE_FILES = frozenset({"package.json", "composer.json"})
_ENV_TEMPLATES = (".example", ".sample", ".template", ".tpl", ".dist", ".defaults")


def _path_flags(parts: tuple[str, ...]) -> set[str]:
    name = parts[-1]
    flags: set[str] = set()
    if not _may_matter(parts):
        return flags
    if _is_git_hook(parts) or ".husky" in parts[:-1]:
        flags.add(GIT_HOOK)
    if name in _SHELL_FILES or _under(parts, _SHELL_DIRS) or parts[-2:] == ("fish", "config.fish"):
        flags.add(SHELL_STARTUP)
    if len(parts) >= 2 and parts[-2] == ".ssh" and name in _SSH_FILES:
        flags.add(SSH)
    if _autostart(parts):
        flags.add(AUTOSTART)
    if name in _CI_FILES or name.startswith("Jenkinsfile") or _under(parts, _CI_DIRS):
        flags.add(CI_CONFIG)
    vscode = len(parts) >= 2 and parts[-2] == ".vscode" and name in _VSCODE_FILES
    idea = len(parts) >= 2 and parts[-2] == ".idea" and name == "workspace.xml"
    if vscode or idea or name in _TASK_FILES or name.endswith(".code-workspace") or _under(parts, _TASK_DIRS):
        flags.add(TASK_CONFIG)
    if _secret_file(parts):
        flags.add(CREDENTIALS)
    return flags


# Every folder name a path rule looks for, and what a file name must look like for one to apply:
# most paths of a change have none of them and skip the rules.
_RULE_DIRS = frozenset(
    {".git", ".husky", ".ssh", ".config", "share", ".vscode", "site-packages", "dist-packages", ".aws",
     ".docker", ".kube"}
    | {d[0] for group in (_SHELL_DIRS, _AUTOSTART_DIRS, _CI_DIRS, _TASK_DIRS) for d in group}
)
_RULE_NAMES = (
    _SHELL_FILES | _PYTHON_STARTUP | _CI_FILES | _TASK_FILES | _SECRET_FILES | {".git", ".gitconfig"}
)
_RULE_PREFIXES = (".env", "Jenkinsfile")
_RULE_SUFFIXES = (".git", ".env", ".pth", ".code-workspace", *_SECRET_SUFFIXES)


def _may_matter(parts: tuple[str, ...]) -> bool:
    name = parts[-1]
    if name in _RULE_NAMES or name.startswith(_RULE_PREFIXES) or name.endswith(_RULE_SUFFIXES):
        return True
    return any(p in _RULE_DIRS or p.endswith(".git") for p in parts[:-1])


def _git_dir_index(parts: tuple[str, ...]) -> int | None:
    """Where a git directory (`.git`, or a bare `NAME.git`) is among the parents, if anywhere."""
    return next((i for i, p in enumerate(parts[:-1]) if p == ".git" or (p.endswith(".git") and len(p) > 4)), None)


def _is_git_hook(parts: tuple[str, ...]) -> bool:
    """`.git/hooks/NAME`, a submodule's `.git/modules/SUB/hooks/NAME`, or `hooks` itself replaced
    (by a link, say); `*.sample` files are never run by git."""
    git = _git_dir_index(parts)
    if git is None or parts[-1].endswith(".sample"):
        return False
    rest = parts[git + 1 :]
    if rest[0] == "hooks":
        return True
    return rest[0] == "modules" and "hooks" in rest[2:]


def _link_flags(parts: tuple[str, ...], target: str | None) -> set[str]:
    """A link at a config path stands for that config; a link elsewhere is judged by where it
    points: outside the workspace, or at a path that is itself flagged (writing through
    `notes -> .git/hooks/pre-commit` writes the hook)."""
    flags: set[str] = set()
    if _is_git_config(parts):
        flags.add(GIT_CONFIG)
    if parts[-1] in ("package.json", "composer.json"):
        flags.add(PACKAGE_SCRIPTS)
    if target is None:
        return flags
    resolved = _resolve_inside(parts[:-1], target)
    if resolved is None:
        flags.add(OUTWARD_LINK)
    elif resolved:
        flags.update(_path_flags(resolved) - {CREDENTIALS} | ({GIT_CONFIG} if _is_git_config(resolved) else set()))
        if ".ssh" in resolved:
            flags.add(SSH)
    return flags


def _resolve_inside(parent: tuple[str, ...], target: str) -> tuple[str, ...] | None:
    """Where a link in `parent` pointing at `target` leads, as workspace path components, or
    None when it leads outside: an absolute target, `..` above the workspace, or `..` after a
    component of the target itself (which may be another link, so only the kernel can tell)."""
    if target.startswith("/"):
        return None
    where = list(parent)
    walked = False  # has the target named a component that could be a link?
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if walked or not where:
                return None
            where.pop()
        else:
            where.append(part)
            walked = True
    return tuple(where)


def _under(parts: tuple[str, ...], dirs: tuple[tuple[str, ...], ...]) -> bool:
    """Is the path strictly inside a folder ending with one of `dirs` (e.g. `.github/workflows`)?"""
    parents = parts[:-1]
    for d in dirs:
        n = len(d)
        if any(parents[i : i + n] == d for i in range(len(parents) - n + 1)):
            return True
    return False


def _autostart(parts: tuple[str, ...]) -> bool:
    name = parts[-1]
    if name in _PYTHON_STARTUP:  # imported by every Python that has this folder on its path
        return True
    if name.endswith(".pth") and ("site-packages" in parts or "dist-packages" in parts):
        return True  # a .pth line starting with "import" runs at every start of that Python
    in_config = ".config" in parts and _under(parts, _AUTOSTART_DIRS)
    return in_config or _under(parts, (("share", "systemd", "user"),))


def _secret_file(parts: tuple[str, ...]) -> bool:
    name = parts[-1]
    if name in _SECRET_FILES or name.endswith(_SECRET_SUFFIXES):
        return True
    if name == ".env" or (name.startswith(".env.") and not name.endswith(_ENV_TEMPLATES)):
        return True
    if name.endswith(".env") and len(name) > 4 and not name.startswith("."):
        return True
    return len(parts) >= 2 and (parts[-2], name) in _SECRET_PAIRS


# -- content ---------------------------------------------------------------------------------------
def _content_flags(parts: tuple[str, ...], old: Reader | None, new: Reader | None) -> set[str]:
    name = parts[-1]
    flags: set[str] = set()
    if new is None:
        return flags
    if _is_git_config(parts):
        flags.update(_git_config_flags(parts, old, new))
    if name in ("package.json", "composer.json"):
        flags.update(_scripts_flags(old, new))
    flags.update(_credential_flags(old, new))
    return flags


class _TooLarge:
    """A side larger than the limit it was read with."""


_TOO_LARGE = _TooLarge()


def _whole(reader: Reader | None, limit: int) -> bytes | _TooLarge | None:
    """A side's whole content; None when absent or unreadable."""
    if reader is None:
        return None
    data = reader(limit + 1)
    return _TOO_LARGE if data is not None and len(data) > limit else data


# git ---------------------------------------------------------------------------------------------
# (section, name) whose value runs a command or points git at something that does, whatever the
# subsection (`diff.<driver>.textconv`, `credential.<url>.helper`, `gpg.<format>.program`...)
_GIT_KEYS = frozenset({
    ("core", "hookspath"), ("core", "fsmonitor"), ("core", "sshcommand"), ("core", "pager"),
    ("core", "editor"), ("core", "askpass"), ("core", "gitproxy"), ("core", "worktree"),
    ("core", "alternaterefscommand"), ("sequence", "editor"), ("diff", "external"), ("diff", "textconv"),
    ("diff", "command"), ("merge", "driver"), ("filter", "clean"), ("filter", "smudge"), ("filter", "process"),
    ("credential", "helper"), ("include", "path"), ("includeif", "path"), ("gpg", "program"),
    ("uploadpack", "packobjectshook"), ("web", "browser"), ("browser", "cmd"), ("browser", "path"),
    ("man", "cmd"), ("man", "path"), ("difftool", "cmd"), ("difftool", "path"), ("mergetool", "cmd"),
    ("mergetool", "path"), ("remote", "uploadpack"), ("remote", "receivepack"), ("protocol", "allow"),
    ("init", "templatedir"), ("interactive", "difffilter"), ("instaweb", "httpd"), ("guitool", "cmd"),
})
# A name ending like these names a program in any section (sendemail.sendmailcmd,
# gpg.ssh.defaultkeycommand, gc.recentobjectshook...).
_GIT_COMMAND_SUFFIXES = ("cmd", "command", "program", "helper", "editor", "pager", "hook", "askpass", "driver",
                         "textconv")


def _is_git_config(parts: tuple[str, ...]) -> bool:
    name = parts[-1]
    if name == ".git":  # a `.git` file: "gitdir: <path>" sends git to another repository (and its hooks)
        return True
    if name == ".gitconfig" or parts[-3:] == (".config", "git", "config"):
        return True
    return _git_dir_index(parts) is not None and name in ("config", "config.worktree")


def _git_config_flags(parts: tuple[str, ...], old: Reader | None, new: Reader) -> set[str]:
    if parts[-1] == ".git":
        return {GIT_CONFIG}  # a gitdir file: any new or changed one points git somewhere else
    new_data = _whole(new, CONFIG_LIMIT)
    if isinstance(new_data, _TooLarge):
        return {GIT_CONFIG, TOO_LARGE}
    if new_data is None:
        return {GIT_CONFIG}
    old_data = _whole(old, CONFIG_LIMIT)
    try:
        added = git_commands(new_data)
    except gitconfig.GitConfigError:
        # git refuses such a file (every git command fails); flagged all the same when it changed,
        # as a parser disagreement must never hide a setting
        return set() if old_data == new_data else {GIT_CONFIG}
    if isinstance(old_data, bytes):
        with contextlib.suppress(gitconfig.GitConfigError):  # an old file git refused ran nothing
            added -= git_commands(old_data)
    return {GIT_CONFIG} if added else set()


def git_commands(data: bytes) -> set[tuple[bytes, bytes | None]]:
    """The settings of a git config file that make git run something, as (key, value) as git
    reads them. Raises GitConfigError where git would refuse the file."""
    return {(key, value) for key, value in gitconfig.parse(data) if _runs_command(key, value)}


def _runs_command(key: bytes, value: bytes | None) -> bool:
    section, subsection, name = gitconfig.split_key(key)
    text = "" if value is None else value.decode("utf-8", "surrogateescape").strip()
    if section == "pager" or (section, name) in _GIT_KEYS or name.endswith(_GIT_COMMAND_SUFFIXES):
        return True
    if section == "alias":
        return text.startswith(("!", "-"))  # a shell command, or git options (-c core.pager=...) before it
    if (section, name) == ("submodule", "update"):
        return text.startswith("!")
    if section == "protocol" and name == "allow":
        return True
    if (section, name) in (("remote", "url"), ("remote", "pushurl"), ("submodule", "url")):
        return text.startswith("ext::")  # ext:: runs its "URL" as a command
    return section == "url" and subsection.startswith("ext::")


# package scripts ---------------------------------------------------------------------------------
_PACKAGE_KEYS = ("scripts", "gypfile")  # npm runs scripts (install hooks included) and node-gyp builds


def _scripts_flags(old: Reader | None, new: Reader) -> set[str]:
    new_data = _whole(new, JSON_LIMIT)
    if isinstance(new_data, _TooLarge):
        return {PACKAGE_SCRIPTS, TOO_LARGE}
    old_data = _whole(old, JSON_LIMIT)
    new_scripts = _scripts(new_data)
    if new_scripts is None:  # unparsable: npm refuses it; flagged all the same when it changed
        return set() if old_data == new_data else {PACKAGE_SCRIPTS}
    old_scripts = _scripts(old_data) if isinstance(old_data, bytes) else {}
    return {PACKAGE_SCRIPTS} if new_scripts != old_scripts else set()


def _scripts(data: bytes | None) -> dict[str, object] | None:
    """The package's script-running keys, or None when it is not JSON."""
    if data is None:
        return {}
    try:
        document = json.loads(data)  # bytes: a UTF-8 byte-order mark is skipped, as npm does
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return {}
    return {key: document[key] for key in _PACKAGE_KEYS if key in document}


# credentials ---------------------------------------------------------------------------------------
# Each pattern starts with a literal: Python's re scans for it at memory speed (one alternation of
# them all runs at a few MB/s), and it runs only when the literal is there. About 10 ms per MiB.
_TOKENS: tuple[tuple[bytes, re.Pattern[bytes]], ...] = tuple(
    (literal, re.compile(pattern))  # the literal every match starts with, and the pattern
    for literal, pattern in (
        (b"-----BEGIN ", rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),  # PEM, OpenSSH, PGP
        (b"AKIA", rb"AKIA[A-Z0-9]{16}(?![A-Za-z0-9])"),  # AWS access key ids
        (b"ASIA", rb"ASIA[A-Z0-9]{16}(?![A-Za-z0-9])"),
        (b"gh", rb"gh[pousr]_[A-Za-z0-9]{36,255}"),  # GitHub tokens
        (b"github_pat_", rb"github_pat_[A-Za-z0-9_]{22,255}"),
        (b"glpat-", rb"glpat-[A-Za-z0-9_-]{20,}"),  # GitLab
        (b"xox", rb"xox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
        (b"sk-", rb"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{32,}"),  # OpenAI, Anthropic
        (b"AIza", rb"AIza[0-9A-Za-z_-]{35}"),  # Google API keys
        (b"k_live_", rb"[rs]k_live_[0-9A-Za-z]{20,}"),  # Stripe
        (b"npm_", rb"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),  # npm
        (b"pypi-AgE", rb"pypi-AgE[A-Za-z0-9_-]{50,}"),  # PyPI
    )
)
_URL_CREDENTIALS = re.compile(rb"://[^\s:/@\"'<>]{1,64}:([^\s:/@\"'<>]{3,128})@")  # scheme://user:password@
# `NAME = VALUE` / `"NAME": "VALUE"` / `NAME: VALUE` where NAME says it is a secret; run on the
# lowered data, values taken from the original bytes.
_ASSIGNMENT_TAIL = (
    rb"[a-z0-9_.-]{0,40}[\"']?[ \t]*[:=][ \t]*"
    rb"(?:\"([^\"\s]{12,256})\"|'([^'\s]{12,256})'|([^\s\"'`,;(){}\[\]<>]{12,256}))"
)
_ASSIGNMENTS: tuple[tuple[bytes, re.Pattern[bytes]], ...] = tuple(
    (literal, re.compile(head + _ASSIGNMENT_TAIL))
    for literal, head in (
        (b"pass", rb"pass(?:word|wd|phrase)"),
        (b"secret", rb"secret"),
        (b"token", rb"token"),
        (b"key", rb"key"),  # only as api_key, access-key, privatekey...: see _KEY_PREFIXES
    )
)
_KEY_PREFIXES = (b"api", b"access", b"auth", b"private", b"secret", b"signing", b"encryption", b"master")
_PLACEHOLDERS = (b"example", b"placeholder", b"changeme", b"change_me", b"your", b"xxxx", b"redacted",
                 b"dummy", b"sample", b"test", b"fake", b"secret", b"password", b"token")
_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _credential_flags(old: Reader | None, new: Reader) -> set[str]:
    data = _whole(new, SCAN_LIMIT)
    if isinstance(data, _TooLarge):
        return {TOO_LARGE}
    if not data:
        return set()
    found = _credentials(data)
    if not found:
        return set()
    old_data = _whole(old, SCAN_LIMIT)
    if isinstance(old_data, bytes) and old_data:
        found -= _credentials(old_data)
    return {CREDENTIALS} if found else set()


def _credentials(data: bytes) -> set[bytes]:
    """What looks like a credential in `data`: the matched secrets themselves, so that a file
    that already held them is not flagged again for an unrelated edit."""
    found: set[bytes] = set()
    for literal, pattern in _TOKENS:
        if literal in data:  # much cheaper than starting a scan, on small files
            found.update(m.group(0) for m in pattern.finditer(data) if _token(data, m.start(), m.group(0)))
    if b"://" in data:
        for m in _URL_CREDENTIALS.finditer(data):
            if m.start() and data[m.start() - 1] in _WORD and _looks_secret(m.group(1), quoted=True):
                found.add(m.group(0))
    lowered = data.lower()
    for literal, pattern in _ASSIGNMENTS:
        if literal not in lowered:
            continue
        for m in pattern.finditer(lowered):
            if literal == b"key" and not lowered[max(0, m.start() - 12) : m.start()].rstrip(b"_-").endswith(
                _KEY_PREFIXES
            ):
                continue
            group = next(g for g in (1, 2, 3) if m.group(g) is not None)
            value = data[m.start(group) : m.end(group)]
            if _looks_secret(value, quoted=group != 3):
                found.add(value)
    return found


def _token(data: bytes, start: int, token: bytes) -> bool:
    """A token starts a word, and is not a documentation example (AKIAIOSFODNN7EXAMPLE)."""
    glued = start > 0 and token[0] in _WORD and data[start - 1] in _WORD
    return not glued and not token.endswith(b"EXAMPLE")


def _looks_secret(value: bytes, *, quoted: bool) -> bool:
    lowered = value.lower()
    if value[:1] in b"$%{<@/.~" or b"://" in value or any(p in lowered for p in _PLACEHOLDERS):
        return False  # a variable, a template, a path, a URL, or an obvious placeholder
    if len(set(value)) < 6:
        return False
    classes = sum(
        (
            any(65 <= c <= 90 for c in value),  # upper
            any(97 <= c <= 122 for c in value),  # lower
            any(48 <= c <= 57 for c in value),  # digit
            any(not chr(c).isalnum() and c not in b"_-." for c in value),  # symbol
        )
    )
    # a quoted value only needs to look unlike an identifier; a bare one must contain a digit
    has_digit = any(48 <= c <= 57 for c in value)
    return classes >= 2 and (quoted or has_digit)
