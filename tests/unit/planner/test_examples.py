"""The example bank and retrieval of the examples nearest an intent."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.designs import FencedDesign
from sandbox.planner.examples import Example, Retriever, bank, library, named_like, words
from sandbox.tools import Tool

ROOT = Path(__file__).resolve().parents[3]


def test_words_fold_stems_and_synonyms() -> None:
    assert words("Delete all the .log files") == {"remove", "log"}
    assert words("find files larger than 1 MB") == words("find files bigger than 1 MB")
    assert "sort" in words("sorted by size") and "total" in words("sum the column")


def test_nearest_gives_the_closest_tasks_last_and_a_refusal_first() -> None:
    retriever = Retriever()
    chosen = retriever.nearest("remove every .bak file", 2)
    assert len(chosen) == 3 and chosen[0].refusal and not any(e.refusal for e in chosen[1:])
    assert chosen[-1].intent == "remove all .tmp files"  # the nearest is the most recent
    assert retriever.nearest("x", 3, refusals=0)[0].refusal is False
    tiny = Retriever([Example("a b", "```bash\nab\n```"), Example("no", "Sorry.")])
    assert [e.intent for e in tiny.nearest("b c", 5)] == ["no", "a b"]


def test_the_bank_and_cheat_sheet_are_well_formed_and_not_the_accuracy_set() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.intents import all_cases
    finally:
        sys.path.remove(str(ROOT))
    # the same words in another order is the same request
    requests = [words(case.intent) for case in all_cases()]
    assert len(library()) > len(bank()) + 100 and len({e.intent for e in library()}) == len(library())
    for example in library():
        assert words(example.intent) not in requests, example.intent
        if not example.refusal:
            assert example.answer.startswith("```bash\n") and example.answer.endswith("\n```")
            assert "`" not in example.answer[8:-4]  # what the grammar lets the model write
        else:
            assert example.answer.startswith("Sorry")
    assert sum(e.refusal for e in bank()) >= 2


def test_a_retrieval_design_puts_the_nearest_examples_in_the_prompt(tools: list[Tool]) -> None:
    design = FencedDesign(retrieve=2)
    messages = design.messages("remove every .bak file", tools, "a.bak", 1)
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert messages[-3]["content"] == "remove all .tmp files"
    assert messages[-1]["content"] == "remove every .bak file"


def test_a_cheat_sheet_design_retrieves_from_the_whole_library(tools: list[Tool]) -> None:
    intent = "rename every .jpeg file to .jpg"
    bank_only = FencedDesign(retrieve=3, refusals=0).examples(intent)[1]
    with_sheet = FencedDesign(retrieve=3, refusals=0, cheatsheet=True).examples(intent)[1]
    assert all(example in bank() for example in bank_only)
    assert any(example not in bank() for example in with_sheet) and all(e in library() for e in with_sheet)


def test_retrieval_leaves_out_examples_the_prompt_already_holds() -> None:
    retriever = Retriever()
    first = retriever.nearest("remove all the .tmp files", 1, refusals=0)
    again = retriever.nearest("remove all the .tmp files", 1, refusals=0, exclude=first)
    assert first[0].intent == "remove all .tmp files"
    assert again and again[0] != first[0]


def test_an_example_of_the_same_task_speaks_of_the_requests_file() -> None:
    dedupe = Example("remove duplicate lines from list.txt but keep the order",
                     "```bash\nawk '!seen[$0]++' list.txt > list.txt.tmp && mv list.txt.tmp list.txt\n```")
    renamed = named_like(dedupe, "remove duplicate lines from emails.txt")
    assert renamed.intent == "remove duplicate lines from emails.txt but keep the order"
    assert renamed.answer == ("```bash\nawk '!seen[$0]++' emails.txt > emails.txt.tmp && mv emails.txt.tmp emails.txt"
                              "\n```")


def test_an_example_keeps_its_file_unless_it_is_the_same_task_on_a_file_of_the_same_kind() -> None:
    create = Example("create todo.txt containing the line 'buy milk'", "```bash\necho 'buy milk' > todo.txt\n```")
    assert named_like(create, "make every line of names.txt uppercase") == create  # another task
    head = Example("show the first 10 lines of access.log", "```bash\nhead -n 10 access.log\n```")
    assert named_like(head, "show the first 5 lines of notes.txt") == head  # another kind of file
    assert named_like(head, "show the first 5 lines of a.log and b.log") == head  # two files
    assert named_like(head, "show the first 5 lines") == head  # none
    assert named_like(head, "show the first 5 lines of server.log").answer == "```bash\nhead -n 10 server.log\n```"
    nay = Example("email notes.txt to bob", "Sorry, mail needs the network.")
    assert named_like(nay, "email report.txt to bob") == nay
