"""Raw model speed: load time, prefill and decode tokens/s, per guidance kind and prompt length.

    .venv/bin/python bench/planner_models.py [NAME ...] [--runs 3] [--ep cpu]

Models must be prepared (scripts/prepare-model NAME). Each case runs `--runs` times after one
warm-up; medians are printed. Numbers on a shared machine vary: compare models within one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from sandbox.planner.catalog import catalog
from sandbox.planner.models import ModelStore
from sandbox.planner.onnx import GenerationResult, Guidance, OnnxModel

LARK = 'start: "```bash\\n" CMD "\\n```"\nCMD: /[^\\n`]{1,400}/'
SCHEMA = {
    "type": "object",
    "properties": {"command": {"type": "string", "maxLength": 400}},
    "required": ["command"],
    "additionalProperties": False,
    "x-guidance": {"whitespace_flexible": False},
}
GUIDANCE: dict[str, Guidance | None] = {
    "free": None,
    "lark": Guidance.lark(LARK),
    "json_schema": Guidance.json_schema(SCHEMA),
}
TOOLS = "\n".join(
    f"- tool_{i}: does thing number {i} with files in the workspace; arguments: path (string), pattern (string)"
    for i in range(25)
)
PROMPTS = {
    "short": [
        {"role": "system", "content": "You are a shell expert. Answer with one bash command in a fenced block."},
        {"role": "user", "content": "find all Python files modified in the last week"},
    ],
    "long": [
        {"role": "system", "content": f"You plan shell actions. Tools:\n{TOOLS}\nAnswer with one bash command."},
        {"role": "user", "content": "find all Python files modified in the last week"},
    ],
}


def _median(results: list[GenerationResult], attr: str) -> float:
    return statistics.median(float(getattr(r, attr)) for r in results)


def bench(name: str, *, runs: int, ep: str) -> dict[str, object]:
    store = ModelStore()
    path = store.require(name)
    started = time.monotonic()
    model = OnnxModel.load(path, ep=ep)
    load = time.monotonic() - started
    rows = []
    for prompt_name, messages in PROMPTS.items():
        for guidance_name, guidance in GUIDANCE.items():
            model.generate(messages, guidance=guidance, max_tokens=8)  # warm-up
            results = [model.generate(messages, guidance=guidance, max_tokens=64) for _ in range(runs)]
            rows.append({
                "prompt": prompt_name,
                "guidance": guidance_name,
                "prompt_tokens": results[0].prompt_tokens,
                "completion_tokens": results[0].completion_tokens,
                "prefill_s": round(_median(results, "prefill_seconds"), 3),
                "prefill_tok_s": round(_median(results, "prefill_tokens_per_second"), 1),
                "decode_tok_s": round(_median(results, "decode_tokens_per_second"), 1),
                "total_s": round(_median(results, "prefill_seconds") + _median(results, "decode_seconds"), 3),
                "text": results[0].text,
            })
    info = store.info(name)
    return {"model": name, "ep": ep, "load_s": round(load, 2), "size_mb": round((info.size_bytes or 0) / 2**20),
            "rows": rows}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ep", default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    store = ModelStore()
    names = args.names or [spec.name for spec in catalog() if store.is_present(spec)]
    if not names:
        print("no model is prepared: run scripts/prepare-model first", file=sys.stderr)
        return 1
    reports = [bench(name, runs=args.runs, ep=args.ep) for name in names]
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for report in reports:
        print(f"{report['model']} ({report['ep']}): load {report['load_s']} s, {report['size_mb']} MiB")
        print(f"  {'prompt':6} {'guidance':12} {'p_tok':>5} {'c_tok':>5} {'prefill_s':>9} {'prefill/s':>9} "
              f"{'decode/s':>8} {'total_s':>7}  text")
        rows = report["rows"]
        assert isinstance(rows, list)
        for row in rows:
            print(f"  {row['prompt']:6} {row['guidance']:12} {row['prompt_tokens']:5} {row['completion_tokens']:5} "
                  f"{row['prefill_s']:9} {row['prefill_tok_s']:9} {row['decode_tok_s']:8} {row['total_s']:7}  "
                  f"{row['text'][:60]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
