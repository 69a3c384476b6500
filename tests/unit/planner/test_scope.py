"""Questions about the sandbox itself, and the reasons of refusals (sandbox/planner/scope.py)."""

from __future__ import annotations

import pytest

from sandbox.planner.design import PRODUCTION, gate_refusal
from sandbox.planner.scope import about_repository, impossible_here, note, refusal_reason, sandbox_topic


@pytest.mark.parametrize(("intent", "topic"), [
    ("what is the date?", "clock"),
    ("What time is it right now", "clock"),
    ("show me the environment variables", "environment"),
    ("what is in the PATH variable", "environment"),
    ("is git installed here?", "tools"),
    ("which version of python3 is there", "tools"),
    ("how much free space is there", "disk"),
    ("how much memory does this machine have", "memory"),
    ("how many CPU cores are there?", "cpu"),
    ("list the running processes", "processes"),
    ("what operating system is this", "system"),
    ("which Linux kernel version is running?", "system"),
    ("is nginx running", "processes"),
])
def test_questions_about_the_sandbox_are_recognized(intent: str, topic: str) -> None:
    found = sandbox_topic(intent)
    assert found is not None and found.name == topic
    assert note(intent).startswith("the answer describes the sandbox the command runs in")


@pytest.mark.parametrize("intent", [
    "delete the files older than today",  # acts on files
    "how many lines does notes.txt have",  # names a file
    "what is the date in the first line of log/app.log",  # names a path
    "rename every file to its date",
    "what is the weather today",  # needs the web: refused, not a question about the sandbox
    "count the words in the README",
    "which month had the most sales",
])
def test_tasks_and_other_questions_are_not_about_the_sandbox(intent: str) -> None:
    assert sandbox_topic(intent) is None
    assert note(intent) == ""


@pytest.mark.parametrize(("intent", "needs"), [
    ("send this report by email to my boss", "network"),
    ("download the latest release from the website", "network"),
    ("what's the weather in Paris", "network"),
    ("print the document on the printer", "device"),
    ("turn up the volume", "device"),
    ("buy a new laptop for me", "person"),
])
def test_refusals_say_what_the_sandbox_lacks(intent: str, needs: str) -> None:
    reason = refusal_reason(intent)
    assert reason is not None and needs in reason


def test_a_request_that_names_nothing_lacking_has_no_reason() -> None:
    assert refusal_reason("make my life easier") is None


@pytest.mark.parametrize("intent", [
    "send an email to my boss saying I am sick today",
    "mail this report to bob",
    "download the installer from the website",
    "search the web for podman rootless",
    "what is the stock price of ACME",
    "turn up the volume",
    "turn the speaker volume up",
    "mute the sound",
    "make the speakers louder",
    "print report.pdf on the office printer",
    "scan contract.pdf with the scanner",
])
def test_requests_that_certainly_need_the_network_or_a_device(intent: str) -> None:
    assert impossible_here(intent) is not None


@pytest.mark.parametrize("intent", [
    "extract the email addresses from contacts.txt",  # a task on a file
    "how many emails are in inbox.mbox",
    "list the files in downloads",
    "count the messages in chat.log",
    "find the word web in the notes",
    "sort the messages by date",
    "show the errors in printer.log",
    "list the printers in printers.conf",
    "list the sound effects on the desktop",
    "count the lines that mention the volume in mixer.log",
])
def test_tasks_that_mention_such_words_are_not_refused_by_words(intent: str) -> None:
    assert impossible_here(intent) is None


@pytest.mark.parametrize("intent", [
    "what was the message of the first commit",
    "who made the most commits",
    "show the commit messages that mention the parser",
    "which files changed in the last git commit",
    "list the authors of this repository",
    "show who last changed each line of setup.py with git blame",
])
def test_questions_about_the_repository_skip_the_gate_and_are_not_mail(intent: str) -> None:
    assert about_repository(intent)
    assert PRODUCTION.gate_messages(intent) is None  # planned: no yes/no gate to say no
    assert impossible_here(intent) is None
    assert refusal_reason(intent) is None


@pytest.mark.parametrize("intent", [
    "push my commits to github",
    "git pull the latest changes",
    "fetch the new tags from origin",
    "open a pull request for this branch",
])
def test_git_work_with_a_remote_needs_the_network(intent: str) -> None:
    assert not about_repository(intent)
    reason = impossible_here(intent)
    assert reason is not None and "network" in reason


@pytest.mark.parametrize("intent", [
    "tag my friend in the photo on facebook",
    "pull the lines that mention the server from app.log",
    "show the head of data.csv",
])
def test_everyday_words_that_git_also_uses_are_not_a_repository(intent: str) -> None:
    assert not about_repository(intent)
    assert impossible_here(intent) is None  # the gate judges them


def test_the_design_refuses_what_certainly_needs_the_network_even_when_its_gate_says_yes() -> None:
    reason = gate_refusal("yes", "send an email to my boss saying I am sick today")
    assert reason is not None and "network" in reason
    assert gate_refusal("yes", "extract the email addresses from contacts.txt") is None
