"""Worked examples for few-shot prompting, and retrieval of the ones nearest an intent.

A small model answers far better after an example of the same kind (edit in place instead of
deleting the file, `jq` for JSON, `find ... -delete` for "all X files", saying no), but every
example costs prefill. So the bank is a cheat sheet of everyday requests, and the prompt gets only
the few nearest the intent (word overlap weighted by rarity, a few microseconds), plus a refusal.

The bank is generic: a cheat sheet of everyday shell tasks, none of them a request of the accuracy
set (bench/intents). It holds examples of the same *kind* as some of the set's tuning ("dev") cases,
but none of the kind of any held-out case (no rename, checksum, tail, archive extraction, case
conversion, deduplication, ...): the held-out figure measures what the examples do not teach.

The cheat sheet (cheatsheet.py, 160-odd entries) came later, from an author who saw neither the
accuracy set nor this bank and verified every command in the real container. Like any everyday
cheat sheet it covers kinds the held-out cases also ask for (renames, checksums, archives): with a
design that retrieves from it (`cheatsheet=True`), the held-out figure measures what an independent
cheat sheet teaches, no longer what nothing taught. No entry is a request of the accuracy set
(tests/unit/planner/test_examples.py checks).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sandbox.planner.cheatsheet import CHEATSHEET


@dataclass(frozen=True)
class Example:
    intent: str
    answer: str  # what the model should answer: a fenced bash block, or one sentence saying no

    @property
    def refusal(self) -> bool:
        return not self.answer.startswith("```")


def _sh(command: str) -> str:
    return f"```bash\n{command}\n```"


BANK: tuple[Example, ...] = (
    # finding and listing
    Example("find the shell scripts changed in the last 3 days", _sh("find . -name '*.sh' -mtime -3")),
    Example("list the markdown files in all subfolders", _sh("find . -name '*.md'")),
    Example("find files bigger than 500 KB", _sh("find . -type f -size +500k")),
    Example("find directories named build", _sh("find . -type d -name build")),
    Example("list files by modification time, newest first", _sh("ls -lt")),
    Example("show the 3 biggest files here", _sh("ls -S | head -n 3")),
    Example("show the size of each file in logs", _sh("du -ah logs")),
    Example("show the total size of the assets folder", _sh("du -sh assets")),
    Example("show what is in the config directory", _sh("ls -la config")),
    # deleting, moving, copying
    Example("remove all .tmp files", _sh("find . -name '*.tmp' -delete")),
    Example("delete the folder cache and everything in it", _sh("rm -rf cache")),
    Example("move the csv files into a new folder data", _sh("mkdir -p data && mv *.csv data/")),
    Example("copy report.pdf to the archive folder", _sh("mkdir -p archive && cp report.pdf archive/")),
    Example("create the folders build and dist", _sh("mkdir -p build dist")),
    Example("make all scripts in bin executable", _sh("chmod +x bin/*")),
    # archives
    Example("pack the src folder into src.tar.gz", _sh("tar -czf src.tar.gz src")),
    Example("list what is inside backup.tar.gz", _sh("tar -tzf backup.tar.gz")),
    Example("extract photos.zip", _sh("unzip photos.zip")),
    Example("zip the logs folder into logs.zip", _sh("python3 -m zipfile -c logs.zip logs")),
    # editing text
    Example("change every http: to https: in links.md", _sh("sed -i 's/http:/https:/g' links.md")),
    Example("remove the comment lines from settings.conf", _sh("sed -i '/^#/d' settings.conf")),
    Example("append 'export PATH=$PATH:~/bin' to profile.sh", _sh("echo 'export PATH=$PATH:~/bin' >> profile.sh")),
    Example("replace the word cat with dog in every .txt file", _sh("sed -i 's/\\bcat\\b/dog/g' *.txt")),
    Example("strip the blank lines from list.txt", _sh("sed -i '/^$/d' list.txt")),
    Example("save the lines of log.txt that mention timeout to timeouts.txt",
            _sh("grep timeout log.txt > timeouts.txt")),
    Example("create greet.sh that prints hi", _sh("printf '#!/bin/sh\\necho hi\\n' > greet.sh")),
    Example("write 'hello' into a new file hello.txt", _sh("echo 'hello' > hello.txt")),
    Example("create a python script add.py that prints 2+3", _sh("echo 'print(2 + 3)' > add.py")),
    # reading and counting
    Example("show the first 10 lines of access.log", _sh("head -n 10 access.log")),
    Example("how many lines does main.c have?", _sh("wc -l main.c")),
    Example("count the characters in essay.md", _sh("wc -m essay.md")),
    Example("count the lines containing WARN in run.log", _sh("grep -c WARN run.log")),
    Example("search the code for FIXME", _sh("grep -rn FIXME .")),
    Example("print the third column of table.tsv", _sh("cut -f3 table.tsv")),
    Example("print the email column of users.csv, without the header line", _sh("tail -n +2 users.csv | cut -d, -f2")),
    Example("what is the total of the second column in costs.csv?", _sh("awk -F, '{s += $2} END {print s}' costs.csv")),
    Example("what is the average of the numbers in scores.txt?", _sh("awk '{s += $1} END {print s / NR}' scores.txt")),
    Example("show the name field of app.json", _sh("jq -r .name app.json")),
    Example("how many users are listed in db.json?", _sh("jq '.users | length' db.json")),
    Example("compare old.txt and new.txt", _sh("diff old.txt new.txt")),
    Example("what day is it today?", _sh("date")),
    Example("which version of git is installed?", _sh("git --version")),
    # git
    Example("show the last 5 commits", _sh("git log --oneline -5")),
    Example("show the author of the latest commit", _sh("git log -1 --format=%an")),
    Example("what changed in the working tree?", _sh("git status --short")),
    # refusals: what commands in a folder cannot do
    Example("call my mother", "Sorry, calling someone is not something commands in this folder can do."),
    Example("buy two tickets for the concert",
            "Sorry, buying tickets needs a shop on the internet, which these tools lack."),
    Example("water the plants in my garden",
            "Sorry, that needs hands in the physical world, not commands in a folder."),
)


def _cheatsheet() -> tuple[Example, ...]:
    known = {example.intent for example in BANK}
    return tuple(Example(intent, _sh(command)) for intent, command in CHEATSHEET if intent not in known)


# The bank and the cheat sheet: what designs with `cheatsheet` retrieve from.
LIBRARY: tuple[Example, ...] = (*BANK, *_cheatsheet())

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset((
    "a", "an", "the", "of", "in", "on", "at", "to", "into", "from", "for", "with", "and", "or", "all", "every",
    "each", "this", "that", "these", "those", "here", "there", "it", "its", "my", "me", "i", "is", "are", "be",
    "do", "does", "how", "what", "which", "show", "print", "list", "give", "get", "called", "named", "new",
    "file", "files",
))


# Words that ask for the same operation.
_SAME = {
    "delete": "remove", "erase": "remove", "strip": "remove", "drop": "remove",
    "duplicate": "copy", "bigger": "big", "biggest": "big", "larger": "big", "largest": "big", "large": "big",
    "smaller": "small", "smallest": "small", "sorted": "sort", "order": "sort",
    "sum": "total", "add": "total", "search": "find", "locate": "find", "contain": "mention",
    "create": "make", "folder": "directory", "dir": "directory", "pack": "archive", "compress": "archive",
    "modified": "changed", "edited": "changed", "last": "recent", "latest": "recent", "newest": "recent",
}


def _stem(word: str) -> str:
    word = _SAME.get(word, word)
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return _SAME.get(word[: -len(suffix)], word[: -len(suffix)])
    return word


def words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP}


class Retriever:
    """The bank's examples nearest an intent: shared words, each weighted by how rare it is in the bank."""

    def __init__(self, bank: Sequence[Example] = BANK) -> None:
        self.bank = tuple(bank)
        self._words = [words(example.intent) for example in self.bank]
        counts = Counter(word for found in self._words for word in found)
        self._idf = {word: math.log((1 + len(self.bank)) / (1 + count)) + 1 for word, count in counts.items()}

    def score(self, intent: str, index: int) -> float:
        shared = words(intent) & self._words[index]
        return sum(self._idf.get(word, 0.0) for word in shared)

    def nearest(self, intent: str, k: int, *, refusals: int = 1,
                exclude: Collection[Example] = ()) -> tuple[Example, ...]:
        """The `k` nearest task examples, then the `refusals` nearest refusals (nearest last: small
        models follow the most recent example most); none of `exclude` (already in the prompt)."""
        ranked = sorted((i for i in range(len(self.bank)) if self.bank[i] not in exclude),
                        key=lambda i: (-self.score(intent, i), i))
        tasks = [self.bank[i] for i in ranked if not self.bank[i].refusal][:k]
        nays = [self.bank[i] for i in ranked if self.bank[i].refusal][:refusals]
        return (*nays, *reversed(tasks))
