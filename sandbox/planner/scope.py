"""What a request asks of the sandbox itself, and why a request cannot be done there (pure, no model).

Two kinds of request fall outside "commands on the files of this folder", and a small model's
yes/no gate judges both badly:

* **Questions about the sandbox**: the date, the environment, the tools it has, its disk, memory,
  CPUs, processes, kernel. Commands answer them (`date`, `env`, `jq --version`, `df -h .`, `ps`),
  but what they print describes the container the command ran in, which a person may take for
  their own computer. `sandbox_topic` recognizes them; the design then plans without asking the
  gate, and `note` says what the answer describes.
* **Questions about the folder's git repository**: its commits, authors, branches, tags, history.
  `git` reads them offline; the gate, asked about "the files of a folder", judges them badly (it
  refused the first commit's message as needing the network, for its word "message").
  `about_repository` recognizes them; the design then plans without asking the gate. Work with a
  remote (push, pull, fetch from origin or GitHub) needs the network and is refused.
* **Requests that need what the sandbox never has**: a network (mail, the web), devices (a
  printer, a camera, the speakers), a person or a shop. `refusal_reason` names which, so that a
  refusal says why instead of "this does not look like something commands can do".

Both read words only; they never decide confinement (the tool's profile does, whatever is asked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.planner.names import names_a_file

__all__ = ["Topic", "about_repository", "impossible_here", "note", "refusal_reason", "sandbox_topic"]


@dataclass(frozen=True)
class Topic:
    """A kind of fact about the sandbox, and what an answer about it describes."""

    name: str
    describes: str


_ASKING = re.compile(
    r"^\s*(?:what|what's|whats|which|when|how|is|are|does|do|show|list|tell|print|give|display|check|"
    r"report|find out|get|can you tell|who|where)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z][a-z0-9+_-]*")

# Requests that change files or name files to act on are not questions about the sandbox
# ("delete the files older than today", "rename the files to their date").
_ACTING = frozenset({
    "delete", "remove", "rename", "move", "copy", "create", "write", "save", "replace", "add", "append", "edit",
    "change", "convert", "compress", "extract", "sort", "merge", "split", "backup", "archive", "make", "touch",
    "chmod", "set", "into", "file", "files", "folder", "folders", "directory", "directories", "csv", "json",
})

# In order: the first topic whose words a question has is its topic ("which kernel is running" is
# about the system, "is nginx running" about processes).
_TOPICS: tuple[tuple[Topic, frozenset[str], tuple[str, ...]], ...] = (
    (Topic("clock", "the sandbox's clock: the host's time, in the sandbox's time zone, which may not be yours"),
     frozenset({"date", "today", "weekday", "clock", "timezone"}),
     ("day of the week", "day is it", "time zone", "what day", "what time", "time is it", "current time",
      "what year is it", "what month is it")),
    (Topic("environment", "the sandbox's environment variables, not those of your shell"),
     frozenset({"environment", "env", "path", "home", "shell", "locale", "variable", "variables", "hostname",
                "whoami", "user", "username"}),
     ("environment variable", "which user", "what user", "logged in")),
    (Topic("tools", "the programs installed in the sandbox's image, not those of your computer"),
     frozenset({"installed", "tools", "programs", "utilities"}),
     ("version of", "versions of", "do you have", "which python", "what python", "which commands",
      "what commands", "is available", "are available")),
    (Topic("disk", "the filesystems the sandbox sees: the folder's disk and the container's own"),
     frozenset({"disk", "disks", "storage", "filesystem", "filesystems", "partition", "partitions", "mounted",
                "mounts"}),
     ("space left", "free space", "space is left", "space available")),
    (Topic("memory", "the host's memory as the sandbox sees it (a command here may use at most its own limit)"),
     frozenset({"memory", "ram", "swap"}), ()),
    (Topic("cpu", "the host's processors as the sandbox sees them"),
     frozenset({"cpu", "cpus", "cores", "core", "processor", "processors"}), ()),
    (Topic("system", "the host's kernel and the sandbox's own Debian system, as the sandbox sees them"),
     frozenset({"kernel", "uname", "os", "distribution", "distro", "debian", "linux", "uptime", "architecture",
                "arch"}),
     ("operating system", "which system")),
    (Topic("processes", "the processes inside the sandbox only: your computer's are not visible there"),
     frozenset({"processes", "process", "running", "ps", "pid", "pids"}), ()),
)


def sandbox_topic(intent: str) -> Topic | None:
    """The sandbox fact a request asks about, or None when it is not such a question (it acts on
    files, names a file, or asks about something else)."""
    text = intent.strip().lower()
    if not _ASKING.match(text) or "/" in text or refusal_reason(text) is not None:
        return None
    words = set(_WORD.findall(text))
    if words & _ACTING or names_a_file(text):
        return None  # acts on files, or names one (`notes.txt`): not a question about the sandbox
    for topic, keys, phrases in _TOPICS:
        if words & keys or any(p in text for p in phrases):
            return topic
    return None


def note(intent: str) -> str:
    """What the answer to `intent` describes, when it asks about the sandbox; "" otherwise."""
    topic = sandbox_topic(intent)
    if topic is None:
        return ""
    return (f"the answer describes the sandbox the command runs in, not necessarily your computer: "
            f"{topic.describes}")


# Words that put a request in a git repository's history: a commit's message or author is not mail.
# Words only git uses so ("branch", "tag", "head" and "merge" are everyday words too).
_REPOSITORY = re.compile(
    r"\b(?:git|commits?|committed|committer|repo|repository|stash(?:es)?|blame|rebase|reflog|shortlog)\b")
# Git work with another machine: the sandbox has no network.
_REMOTE = re.compile(
    r"\bgit (?:push|pull|fetch|clone|ls-remote)\b|\b(?:push|pull|fetch|sync)\b.{0,40}\b(?:origin|remote|upstream|"
    r"github|gitlab|bitbucket|server)\b|\bpush (?:my |the |these |those |all |our )?(?:commits?|changes|branch(?:es)?"
    r"|tags?)\b|\bopen (?:a )?(?:pull|merge) request\b")


def about_repository(intent: str) -> bool:
    """Whether `intent` asks about or acts on the folder's git repository (offline: its commits,
    authors, branches, tags, diffs), not about another machine's."""
    text = intent.strip().lower()
    return _REPOSITORY.search(text) is not None and _REMOTE.search(text) is None


_NEEDS: tuple[tuple[str, frozenset[str], tuple[str, ...]], ...] = (
    ("it needs the network, and the sandbox has none (commands run offline)",
     frozenset({"email", "e-mail", "mail", "emails", "internet", "web", "website", "online", "download", "upload",
                "url", "http", "https", "browse", "browser", "google", "tweet", "twitter", "slack", "weather",
                "news", "stock", "stocks", "ip", "ping", "api", "github", "message", "sms", "whatsapp", "facebook",
                "youtube", "stream", "forecast"}),
     ("send it to", "look up", "search the web", "exchange rate")),
    ("it needs a device, and the sandbox reaches none (no printer, camera, sound, screen, USB or wireless)",
     frozenset({"printer", "print-out", "printout", "bluetooth", "wifi", "wi-fi", "usb", "webcam", "camera",
                "microphone", "speaker", "speakers", "volume", "brightness", "screen", "monitor", "battery",
                "scanner", "headphones", "keyboard", "mouse", "photo", "selfie", "sound", "music", "play",
                "shutdown", "reboot", "restart"}),
     ("turn on", "turn off", "take a picture", "print it on paper", "on paper")),
    ("it needs a person, a shop or a service outside this computer, which commands cannot reach",
     frozenset({"buy", "order", "purchase", "pay", "book", "booking", "reserve", "call", "phone", "shop",
                "ticket", "tickets", "flight", "pizza", "taxi", "appointment", "remind", "reminder"}),
     ()),
)


def refusal_reason(intent: str) -> str | None:
    """Why the sandbox cannot do `intent`, when its words say (the network, a device, a person or
    shop); None when they do not (then the design's general refusal stands)."""
    text = intent.strip().lower()
    if _REMOTE.search(text):
        return _NEEDS[0][0]
    words = set(_WORD.findall(text))
    if about_repository(text):  # a commit's message, the repository's tags: words of git, not of mail
        words -= {"message", "messages", "mail", "email", "e-mail", "github", "api"}
    for reason, keys, phrases in _NEEDS:
        if words & keys or any(p in text for p in phrases):
            return reason
    return None


# Phrases that cannot mean a task on files, whatever the model's gate says: sending a message,
# fetching from the web, live facts of the world, devices. Checked only on requests that name no
# path ("extract the e-mail addresses from contacts.txt" is a task on a file).
_IMPOSSIBLE: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\b(?:send|forward|reply)\b.{0,40}\b(?:e-?mails?|mails?|messages?|sms|texts?)\b|"
                r"\b(?:e-?mail|mail|text|message)\s+(?:it|this|that|them|him|her|me|my|the)\b"), 0),
    (re.compile(r"\b(?:download|fetch|upload)\b.{0,40}\b(?:from|to|off)\b.{0,30}"
                r"\b(?:internet|web|website|site|url|server|github|cloud|online)\b|\b(?:search|look up|google)\b"
                r".{0,40}\b(?:web|internet|online|google)\b|\bweather\b|\b(?:stock|share) prices?\b|"
                r"\bexchange rates?\b|\blatest news\b"), 0),
    (re.compile(r"\b(?:printer|webcam|bluetooth|wi-?fi|scanner)\b|\bscreen brightness\b|"
                r"\b(?:turn|crank|raise|lower|increase|decrease|mute|unmute)\b.{0,30}\b(?:volume|speakers?|sound)\b|"
                r"\b(?:volume|speakers?|sound)\b.{0,20}\b(?:up|down|louder|quieter)\b"), 1),
)


# A file sent to a device: a device whatever file it names ("print report.pdf on the printer").
_TO_DEVICE = re.compile(r"\b(?:on|to|with|from|via) (?:the |my |a |our )?(?:\w+ )?"
                        r"(?:printer|webcam|camera|scanner|speakers?|projector)\b")


def impossible_here(intent: str) -> str | None:
    """Why a request certainly cannot be done offline by commands (its phrases need the network or
    a device, and it names no path; or it sends a file to a device), or None. The design refuses
    these whatever its gate says."""
    text = intent.strip().lower()
    if _TO_DEVICE.search(text):
        return _NEEDS[1][0]
    if "/" in text.replace("://", "") or names_a_file(text):
        return None
    if _REMOTE.search(text):
        return _NEEDS[0][0]
    for pattern, need in _IMPOSSIBLE:
        if pattern.search(text):
            return _NEEDS[need][0]
    return None
