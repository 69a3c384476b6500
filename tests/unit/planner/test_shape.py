"""One planner in the product: the production design alone in sandbox/planner/, the planner reading
none of a design's text, the result types in a leaf module, no import circle, the examples as data."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.designs import DESIGNS, FEW_SHOT, FEW_SHOT_EDIT, PRODUCTION_NAME, get_design
from sandbox.errors import SbxError
from sandbox.planner import examples
from sandbox.planner.design import GATE_EXPLANATION, PRODUCTION, ShellDesign, gate_examples
from sandbox.planner.onnx import Guidance, Message
from sandbox.planner.plan import Planner
from sandbox.planner.types import Parsed, Plan, PlanStep
from sandbox.tools import Tool
from tests.unit.planner.fakes import ScriptedBackend

ROOT = Path(__file__).resolve().parents[3]
PLANNER = ROOT / "sandbox" / "planner"
INTENTS = ("count the lines in data.csv", "rename every .jpeg file to .jpg", "what is today's date?",
           "order a pizza", "delete all __pycache__ directories")
FOLDERS = ("", "data.csv, src/ (3 files)")


def test_the_measured_gated_sheet_is_the_production_design_itself() -> None:
    """bench/planner.py's figures for `gated-sheet` are the product's: not a copy that can drift."""
    assert PRODUCTION.name == PRODUCTION_NAME
    assert DESIGNS[PRODUCTION_NAME] is PRODUCTION
    assert get_design(None) is PRODUCTION and get_design(PRODUCTION_NAME) is PRODUCTION


def test_the_gate_is_read_by_the_design() -> None:
    assert PRODUCTION.gate_refusal("No") == GATE_EXPLANATION
    assert PRODUCTION.gate_refusal(" no.") == GATE_EXPLANATION
    assert PRODUCTION.gate_refusal("Yes") is None
    assert [a for _, a in gate_examples()] == ["no", "yes"] * 3


@dataclass(frozen=True)
class _Strict:
    """A design whose gate says no with "nein", and whose refusal is its own sentence."""

    name: str = "strict"
    free_first: bool = False
    inner: ShellDesign = PRODUCTION

    def gate_messages(self, intent: str) -> list[Message] | None:
        return [{"role": "user", "content": intent}]

    def gate_refusal(self, answer: str, intent: str = "") -> str | None:
        return "the strict design says no" if answer == "nein" else None

    def note(self, intent: str) -> str:
        return ""

    def free_done(self, text: str, max_steps: int) -> bool:
        return True

    def parse_free(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed | None:
        return None

    def messages(self, intent: str, tools: Sequence[Tool], workspace: str, max_steps: int) -> list[Message]:
        return [{"role": "user", "content": intent}]

    def guidance(self, tools: Sequence[Tool], max_steps: int) -> Guidance:
        return self.inner.guidance(tools, max_steps)

    def parse(self, text: str, tools: Sequence[Tool], max_steps: int) -> Parsed:
        return self.inner.parse(text, tools, max_steps)

    def repair_messages(self, intent: str, plan: Plan, failed: PlanStep, feedback: str) -> list[Message]:
        return []

    def repair_guidance(self, tools: Sequence[Tool]) -> Guidance:
        return self.inner.repair_guidance(tools)


def test_the_planner_reads_no_design_text(tools: list[Tool]) -> None:
    """What the gate's answer means, and the refusal's words, are the design's."""
    refused = Planner(ScriptedBackend(["nein"]), design=_Strict()).plan("order a pizza", tools)  # type: ignore[arg-type]
    assert refused.empty and refused.explanation == "the strict design says no"
    planner = Planner(ScriptedBackend(["no", "```bash\nls\n```"]), design=_Strict())  # type: ignore[arg-type]
    planned = planner.plan("list the files", tools)
    assert [s.tool for s in planned.steps] == ["list_dir"]
    source = (PLANNER / "plan.py").read_text()
    assert "startswith(" not in source and "GATE_" not in source


def test_the_planner_package_holds_only_the_product() -> None:
    modules = {p.stem for p in PLANNER.glob("*.py")}
    assert "designs" not in modules and "cheatsheet" not in modules
    for path in PLANNER.rglob("*.py"):
        assert "bench" not in _imports(path, type_checking=True), path
    assert list(DESIGNS) != [PRODUCTION_NAME]  # the measured ones live on in bench/


def _imports(path: Path, *, type_checking: bool) -> set[str]:
    """Every module `path` imports, at any depth (functions too); `type_checking` False leaves out
    what `if TYPE_CHECKING:` imports."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and not type_checking and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            for sub in ast.walk(node) if not isinstance(node, ast.If) else [node]:
                if isinstance(sub, ast.Import):
                    found.update(alias.name for alias in sub.names)
                elif isinstance(sub, ast.ImportFrom) and sub.module:
                    found.add(sub.module)
                    found.update(f"{sub.module}.{alias.name}" for alias in sub.names)
            if isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)

    visit(ast.parse(path.read_text()).body)
    return found


def test_no_import_circle_in_the_planner_even_through_functions() -> None:
    """The layering test sees the imports a module runs when it is loaded; a circle closed by an
    import inside a function (plan.py importing designs.py in Planner.__init__) is one too."""
    modules = {f"sandbox.planner.{p.stem}": p for p in PLANNER.glob("*.py") if p.stem != "__init__"}
    graph = {name: {m for m in _imports(path, type_checking=False) if m in modules and m != name}
             for name, path in modules.items()}
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []
    assert graph["sandbox.planner.types"] == set()  # the leaf: the result types import no planner module
    assert "sandbox.planner.plan" not in graph["sandbox.planner.design"]


def test_the_examples_are_data_files_read_through_the_one_accessor() -> None:
    assert (PLANNER / "data" / "bank.jsonl").is_file() and (PLANNER / "data" / "cheatsheet.jsonl").is_file()
    assert len(examples.bank()) == 48 and sum(e.refusal for e in examples.bank()) == 3
    assert len(examples.library()) > len(examples.bank()) + 100
    assert "planner_data" in (PLANNER / "examples.py").read_text()


def test_a_damaged_example_file_is_an_incomplete_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(examples, "planner_data", lambda name: '{"intent": "x", "command": "ls"}\n{"intent": 3\n')
    with pytest.raises(SbxError) as caught:
        examples._load("bank.jsonl")
    assert caught.value.code == "sbx.incomplete_install" and "line 2" in caught.value.message


def _normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_no_example_of_any_bank_is_a_request_of_the_accuracy_set() -> None:
    """Every bank a design shows the model (the bank, the cheat sheet, the gate's worked answers,
    the measured designs' fixed examples) is disjoint from the accuracy set, by normalized text
    and by the retriever's folded words (the same words in another order are the same request)."""
    from bench.intents import all_cases

    cases = all_cases()
    assert len(cases) >= 150 and sum(c.heldout for c in cases) >= 60
    texts = {_normalized(c.intent): c.name for c in cases}
    folded = {frozenset(examples.words(c.intent)): c.name for c in cases}
    shown = [*examples._load("bank.jsonl"), *examples._load("cheatsheet.jsonl"), *FEW_SHOT, *FEW_SHOT_EDIT]
    shown_intents = [e.intent for e in shown] + [question for question, _ in gate_examples()]
    for intent in shown_intents:
        assert _normalized(intent) not in texts, (intent, texts.get(_normalized(intent)))
        assert frozenset(examples.words(intent)) not in folded, (intent, folded.get(frozenset(examples.words(intent))))
