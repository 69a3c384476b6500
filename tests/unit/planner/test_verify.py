"""The choice between candidate plans, from their evidence alone (no model, no engine)."""

from __future__ import annotations

from dataclasses import replace

from sandbox.planner.design import PRODUCTION
from sandbox.planner.verify import (
    NO_CHANGES,
    Evidence,
    Verdict,
    answer_digest,
    asks_quantity,
    check_messages,
    choose,
    detail_words,
    disputed,
    next_examples,
    outcome_digest,
    read_check,
)


def ev(index: int, out: str = "a", changes: str = NO_CHANGES, *, ran: bool = True, stderr: bool = False,
       denied: int = 0, check: bool | None = None) -> Evidence:
    return Evidence(index, f"source {index}", (f"cmd{index}",), ran, denied, stderr, 0, out, changes,
                    None if ran else "exit 1", check)


def test_two_clean_agreeing_candidates_stop_early() -> None:
    choice = choose([ev(0), ev(1)], budget=5)
    assert choice.verdict is Verdict.CHOSEN and choice.chosen == 0
    assert "1, 2" in choice.reason


def test_one_clean_candidate_is_not_enough_while_the_budget_lasts() -> None:
    assert choose([ev(0)], budget=3).verdict is Verdict.MORE
    assert choose([ev(0), ev(1, "b")], budget=3).verdict is Verdict.MORE


def test_verification_off_takes_the_first_plan() -> None:
    assert choose([ev(0)], budget=1).chosen == 0
    assert choose([ev(0, ran=False)], budget=1).verdict is Verdict.NONE


def test_a_clean_run_beats_a_failed_or_noisy_one() -> None:
    choice = choose([ev(0, ran=False), ev(1, "b")], budget=2)
    assert (choice.verdict, choice.chosen) == (Verdict.CHOSEN, 1)
    choice = choose([ev(0, "a", stderr=True), ev(1, "b")], budget=2)
    assert (choice.verdict, choice.chosen) == (Verdict.CHOSEN, 1)
    choice = choose([ev(0, "a", denied=1), ev(1, "b")], budget=2)
    assert choice.chosen == 1


def test_clean_disagreement_asks_with_the_two_best() -> None:
    choice = choose([ev(0, "a"), ev(1, "b"), ev(2, "c", ran=False)], budget=3)
    assert choice.verdict is Verdict.ASK and choice.chosen is None
    assert choice.alternatives == (0, 1)


def test_the_models_check_separates_disagreeing_candidates() -> None:
    choice = choose([ev(0, "a", check=False), ev(1, "b", check=True)], budget=2)
    assert (choice.verdict, choice.chosen) == (Verdict.CHOSEN, 1)
    assert "check" in choice.reason


def test_the_majority_outcome_wins() -> None:
    choice = choose([ev(0, "a"), ev(1, "b"), ev(2, "b")], budget=3)
    assert (choice.verdict, choice.chosen) == (Verdict.CHOSEN, 1)


def test_nothing_ran() -> None:
    choice = choose([ev(0, ran=False), ev(1, ran=False)], budget=2)
    assert choice.verdict is Verdict.NONE


def test_outcome_digest_ignores_ids_and_order_but_not_content() -> None:
    one = [{"path": "a", "kind": "modified", "diff": "+x", "changeset": "1"}, {"path": "b", "kind": "added"}]
    two = [{"path": "b", "kind": "added"}, {"path": "a", "kind": "modified", "diff": "+x", "changeset": "2"}]
    three = [{"path": "a", "kind": "modified", "diff": "+y"}, {"path": "b", "kind": "added"}]
    assert outcome_digest("o", one) == outcome_digest("o", two)
    assert outcome_digest("o", one)[1] != outcome_digest("o", three)[1]
    assert outcome_digest("o", one)[0] != outcome_digest("p", one)[0]


def test_check_reading() -> None:
    assert read_check(" Yes.") is True
    assert read_check("no") is False
    assert read_check("maybe") is None
    messages = check_messages("count lines", ["wc -l a"], "3 a\n", "")
    assert "count lines" in messages[-1]["content"] and "(nothing)" in messages[-1]["content"]


def test_next_examples_replace_the_nearest_ones() -> None:
    design = PRODUCTION
    shifted = next_examples(design)
    assert shifted is not None
    intent = "count the lines of every python file"
    base_messages = design.messages(intent, [], "a.py", 1)
    next_messages = shifted.messages(intent, [], "a.py", 1)
    assert base_messages[0] == next_messages[0] and base_messages[-1] == next_messages[-1]
    first = {m["content"] for m in base_messages[1:-1] if m["role"] == "user"}
    then = {m["content"] for m in next_messages[1:-1] if m["role"] == "user"}
    assert then and not first & then
    assert shifted.gate_messages(intent) is None


def test_the_models_no_outweighs_a_majority_of_one_prompt() -> None:
    sampled = replace(ev(2, "a", check=False), family="source 0")  # a sample of candidate 1's prompt
    choice = choose([ev(0, "a", check=False), ev(1, "b", check=True), sampled], budget=3)
    assert (choice.verdict, choice.chosen) == (Verdict.CHOSEN, 1)


def test_two_independent_prompts_that_agree_outweigh_the_models_check() -> None:
    choice = choose([ev(0, "a", check=True), ev(1, "b", check=False), ev(2, "b", check=False)], budget=3)
    assert (choice.verdict, choice.chosen) == (Verdict.CHOSEN, 1)
    assert choice.reason == "candidates 2, 3, of independent prompts, ran cleanly and did the same"
    assert disputed([ev(0, "a"), ev(1, "b")]) and not disputed([ev(0, "a"), ev(1, "a"), ev(2, "b", ran=False)])


def test_a_sample_of_the_same_prompt_is_no_independent_support() -> None:
    greedy = ev(0, "25.75")
    sampled = replace(ev(2, "25.75"), family="source 0")
    other = ev(1, "34.33")
    assert choose([greedy, replace(sampled, index=1)], budget=3).verdict is Verdict.MORE  # not two opinions
    # the model's plan sampled again did the same: shown, and not silently
    choice = choose([greedy, other, sampled], budget=3)
    assert choice.verdict is Verdict.CHOSEN and choice.chosen == 0 and choice.alternatives == (0, 1)
    assert "1, 3 (one prompt, sampled again)" in choice.reason and "candidate 2 did otherwise" in choice.reason
    # three outcomes, one each: nothing separates them
    choice = choose([greedy, other, replace(sampled, stdout_digest="26")], budget=3)
    assert choice.verdict is Verdict.ASK and choice.alternatives == (0, 1)


def test_the_same_changes_reported_differently_are_one_outcome() -> None:
    # tar -xzvf lists what tar -xzf silently extracts: the same changes, another printout
    verbose, quiet = ev(0, "a.txt\nb.txt\n", "extracted"), ev(1, "", "extracted")
    assert not disputed([verbose, quiet])
    choice = choose([verbose, quiet], budget=3)
    assert choice.verdict is Verdict.CHOSEN and choice.chosen == 0
    # what was printed still tells apart candidates that changed nothing
    assert disputed([ev(0, "3\n"), ev(1, "4\n")])
    # and other changes are another outcome, whatever was printed
    assert disputed([ev(0, "", "extracted"), ev(1, "", "extracted elsewhere")])


def test_an_answer_is_compared_as_a_person_reads_it() -> None:
    assert answer_digest('"1.2.3"\n') == answer_digest("1.2.3\n")  # jq .version and jq -r .version
    assert answer_digest("./a.py\n./src/b.py\n") == answer_digest("a.py\nsrc/b.py")  # find . and a listing
    assert answer_digest("  3   notes.txt \n\n") == answer_digest("3 notes.txt")
    assert answer_digest("a.py\nb.py\n") != answer_digest("b.py\na.py\n")  # order counts
    assert answer_digest('"a" and "b"') != answer_digest("a and b")
    assert answer_digest("../x") != answer_digest("x") and answer_digest("3\n") != answer_digest("4\n")
    jq, raw = ev(0, "q"), ev(1, "r")
    jq, raw = replace(jq, answer_digest=answer_digest('"1.2.3"')), replace(raw, answer_digest=answer_digest("1.2.3"))
    assert not disputed([jq, raw])


def test_the_details_around_an_answer_count_only_when_a_quantity_is_asked() -> None:
    def same(a: str, b: str, intent: str) -> bool:
        details = asks_quantity(intent)
        return answer_digest(a, details=details) == answer_digest(b, details=details)

    assert same("video.mp4\n", "52K\t./video.mp4\n", "which file is the largest?")
    assert same("c845446 print two\n", "print two\n", "show the message of the last commit")
    assert not same("video.mp4\n", "52K\t./video.mp4\n", "how big is the largest file?")
    assert not same("3 a.txt\n", "5 a.txt\n", "how many lines does each file have?")
    assert not same("3\n", "4\n", "which is it?")  # details alone are the answer
    assert not same("a.txt\nb.txt\n", "a.txt\n", "which files are new?")


def test_of_two_candidates_with_one_answer_the_one_that_says_more_is_shown() -> None:
    terse, sized = ev(0, "video.mp4\n"), ev(1, "52K video.mp4\n")
    digest = answer_digest("video.mp4", details=False)
    terse = replace(terse, answer_digest=digest, detail=detail_words("video.mp4\n"))
    sized = replace(sized, answer_digest=digest, detail=detail_words("52K video.mp4\n"))
    choice = choose([terse, sized], budget=3)
    assert choice.verdict is Verdict.CHOSEN and choice.chosen == 1
