"""The parts of a planning prompt: the workspace in a line, the image's tools, the shell rules,
the repair hints.

Prefill is what planning costs (every prompt token ~10 ms on the 0.5B model, ~40 ms on the 1.5B,
on 2 cores), so each part is as short as it can be while still helping: measured on the accuracy
set (bench/planner.py), not guessed. Nothing here reads file contents.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# What the default image (Containerfile) has, for the model. One line: every token is prefill.
# Commands of the default image a model is likely to reach for (the Containerfile's packages)
IMAGE_COMMANDS = (
    "awk", "basename", "bc", "cat", "chmod", "cp", "cut", "date", "df", "diff", "dirname", "du", "echo", "find",
    "gawk", "git", "grep", "gunzip", "gzip", "head", "jq", "ln", "ls", "md5sum", "mkdir", "mv", "nl", "paste",
    "printf", "python3", "readlink", "realpath", "rev", "rm", "sed", "seq", "sha256sum", "sort", "split", "stat",
    "tac", "tail", "tar", "tee", "touch", "tr", "uniq", "unzip", "wc", "xargs", "zcat",
)
_NOT_FOUND = re.compile(r"(?:^|\s)([\w.+-]+): (?:command )?not found")
# Commands a model often reaches for that the default image lacks, and how to do the same there
# (a spelling neighbour would mislead: "zip" is one letter from "gzip", which makes no zip file).
SUBSTITUTES = {
    "zip": "python3 -m zipfile -c OUT.zip FILE_OR_FOLDER...",
    "unrar": "nothing: rar archives cannot be opened here",
    "tree": "find .",
    "more": "cat",
    "nano": "sed -i", "vi": "sed -i", "vim": "sed -i",
    "dos2unix": "sed -i 's/\\r$//' FILE",
    "xxd": "od -A x -t x1z FILE",
    "rename": "mv, one file at a time",
    "curl": "nothing: there is no network here", "wget": "nothing: there is no network here",
}


def missing_command_hint(stderr: str) -> str:
    """For a shell's "X: not found": that X is missing, and the nearest command there is."""
    import difflib

    found = _NOT_FOUND.search(stderr)
    if found is None:
        return ""
    missing = found.group(1)
    if missing in SUBSTITUTES:
        return f"{missing} is not installed here; use {SUBSTITUTES[missing]} instead."
    near = difflib.get_close_matches(missing, IMAGE_COMMANDS, n=1, cutoff=0.85)
    if near:
        return f"{missing} is not installed here; use {near[0]} instead."
    return f"{missing} is not installed here and cannot be installed; use the commands there are."


_NOT_EXECUTABLE = re.compile(r"(?:^|\s)(\S+): (?:Permission denied|cannot execute)")


def not_executable_hint(stderr: str) -> str:
    """For a shell's "./x: Permission denied" (exit 126): the sandbox executes only the image's
    programs, never a file of the folder, so a script runs through its interpreter."""
    found = _NOT_EXECUTABLE.search(stderr)
    if found is None:
        return ""
    script = found.group(1).removeprefix("./")
    runner = "python3" if script.endswith(".py") else "sh"
    return f"Files in the folder cannot be executed directly here; run it with its interpreter: {runner} {script}."


# Errors whose fix a small model misses: it "repairs" GNU tools' folder errors by narrowing the
# command to what cannot fail (find -empty -delete, which deletes nothing), not by the option that
# does the job, and jq's by guessing another path into a JSON whose shape the error already says.
_FOLDER_ERRORS = (
    (re.compile(r"Directory not empty"),
     "rmdir and find -delete remove only empty folders; to remove folders with everything in them use "
     "rm -rf (with find: -exec rm -rf {} +)."),
    (re.compile(r"rm: cannot remove .*: Is a directory"), "rm removes a folder only with -r (rm -r)."),
    (re.compile(r"cp: -r not specified; omitting directory"), "cp copies a folder only with -r (cp -r)."),
    (re.compile(r"mkdir: cannot create directory .*: File exists"), "mkdir -p does not fail on a folder that exists."),
    # jq's errors say what the JSON is, not how to reach into it (from jq's manual)
    (re.compile(r"jq: error.*Cannot index array with"),
     "The JSON there is an array, not an object with that key: reach its items with .[] (.[].name), count "
     "them with length."),
    (re.compile(r"jq: error.*Cannot index object with number"),
     "The JSON there is an object, not an array: reach its values by key (.items), or with .[] for all of them."),
    (re.compile(r"jq: error.*Cannot iterate over null"),
     "That key is not in the JSON (null): look at the file's keys with jq keys, or .[] | keys for a list."),
    (re.compile(r"jq: error.*(?:not valid in a csv row|cannot be (?:csv|tsv)-formatted)"),
     "@csv and @tsv take one array per row: .items[] | [.a, .b] | @csv (with jq -r)."),
)


# A request that asks whether something holds ("is data.json valid JSON?", "does the log mention
# ERROR?"). Its check (grep -q, test, cmp, jq) fails when the answer is no, and a small model then
# "repairs" a right command into one that cannot fail and no longer answers.
_WHETHER = re.compile(
    r"^\s*(?:is|are|does|do|did|has|have|can|was|were)\b|^\s*(?:check|test|verify|see|find out|tell me)\s+"
    r"(?:whether|if)\b|\bwhether\b", re.IGNORECASE)
# Errors of the command itself, not a "no" from its check.
_BROKEN_COMMAND = re.compile(r"syntax error|invalid option|unrecognized option|unknown option|[Uu]sage:|"
                             r"not found|unterminated|unexpected")


def repair_hint(exit_code: int | None, stderr: str, intent: str = "") -> str:
    """What a shell's error means in this sandbox, when the error alone would mislead the model."""
    if exit_code == 127:
        return missing_command_hint(stderr)
    if exit_code == 126:
        return not_executable_hint(stderr)
    if exit_code:
        found = next((hint for pattern, hint in _FOLDER_ERRORS if pattern.search(stderr)), "")
        if found or not _WHETHER.search(intent) or _BROKEN_COMMAND.search(stderr):
            return found
        return ("The request asks whether something holds, and a check that fails may be its answer (no): "
                "print the answer instead of failing, as in CHECK && echo yes || echo no.")
    return ""


# Habits of a careful shell user that a small model lacks, said once in the system prompt (the
# same tokens for every intent: a long-lived planner computes them once, onnx.PrefixCache).
SHELL_RULES = (
    "Rules: one ```bash block that does the whole task. Print answers to the terminal; create or change files "
    "only when the task asks. Change a file in place with sed -i, or with a filter written to a temporary file "
    "then moved over it (tr a-z A-Z < f > f.tmp && mv f.tmp f); never redirect a file into itself. "
    "find -size needs a unit (+10M, +500k). Several file types need several patterns (*.png *.jpg). "
    "python3, not python."
)

IMAGE_FACTS = (
    "They run with sh in a Debian container, in the folder, without network; it has coreutils, findutils, "
    "grep, sed, gawk, git, python3, jq, tar, gzip, unzip, bc (no zip, curl, wget)."
)


def _count_files(root: Path, budget: int) -> tuple[int, bool]:
    """Regular files (and links) below `root`, without following links; stops after `budget` entries."""
    count = 0
    seen = 0
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if seen > budget:
                        return count, True
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    else:
                        count += 1
        except OSError:
            continue
    return count, False


def summarize_workspace(path: Path, *, max_entries: int = 12, walk_budget: int = 5000) -> str:
    """The workspace's top level in one line: `README.md, notes.txt, src/ (3 files), .git/`.

    Directories first, then files, each sorted; a directory shows how many files it holds (counted
    without following links, up to `walk_budget` entries); `.git` is named, not counted. No contents.
    """
    try:
        with os.scandir(path) as listing:
            entries = sorted(listing, key=lambda e: (not e.is_dir(follow_symlinks=False), e.name))
    except OSError:
        return "(unreadable)"
    if not entries:
        return "(empty)"
    parts: list[str] = []
    for entry in entries[:max_entries]:
        if entry.is_symlink():
            parts.append(f"{entry.name}@")
        elif entry.is_dir(follow_symlinks=False):
            if entry.name == ".git":
                parts.append(".git/")
                continue
            count, more = _count_files(Path(entry.path), walk_budget)
            plural = "" if count == 1 and not more else "s"
            parts.append(f"{entry.name}/ ({count}{'+' if more else ''} file{plural})")
        else:
            parts.append(entry.name)
    if len(entries) > max_entries:
        parts.append(f"and {len(entries) - max_entries} more")
    return ", ".join(parts)


def clip(text: str, limit: int) -> str:
    """The end of `text` (where errors usually are), at most `limit` characters."""
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]
