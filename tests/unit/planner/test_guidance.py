"""The generation API's plain parts, without a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.errors import ModelError, PlannerError
from sandbox.planner.onnx import EXECUTION_PROVIDERS, GenerationResult, Guidance, OnnxModel


def test_guidance_kinds_are_the_three_onnxruntime_genai_knows() -> None:
    assert Guidance.lark("start: /a/").kind == "lark_grammar"
    assert Guidance.regex("[0-9]+").kind == "regex"
    schema = {"type": "object", "x-guidance": {"whitespace_flexible": False}}
    assert json.loads(Guidance.json_schema(schema).text) == schema
    with pytest.raises(PlannerError) as caught:
        Guidance("ebnf", "x")  # type: ignore[arg-type]
    assert caught.value.code == "planner.invalid_guidance"


def test_generation_result_rates_and_json() -> None:
    result = GenerationResult("ok", prompt_tokens=100, completion_tokens=20, prefill_seconds=0.5,
                              decode_seconds=0.5, finish_reason="stop")
    assert result.prefill_tokens_per_second == 200
    assert result.decode_tokens_per_second == 40
    assert result.to_json()["finish_reason"] == "stop"
    assert GenerationResult("", 0, 0, 0.0, 0.0, "length").decode_tokens_per_second == 0.0


def test_unknown_provider_and_missing_model_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as provider:
        OnnxModel.load(tmp_path, ep="tpu")
    assert provider.value.code == "model.provider_unavailable"
    with pytest.raises(ModelError) as missing:
        OnnxModel.load(tmp_path)
    assert missing.value.code == "model.not_found"
    assert set(EXECUTION_PROVIDERS) == {"cpu", "cuda", "dml", "qnn", "openvino", "webgpu"}
