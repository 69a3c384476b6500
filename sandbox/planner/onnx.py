"""Generation with onnxruntime-genai, under guidance. The only module that imports onnxruntime_genai.

    model = OnnxModel.load(path, ep="cpu")
    result = model.generate(messages, guidance=Guidance("lark_grammar", grammar), max_tokens=200)

Guidance is llguidance through `GeneratorParams.set_guidance(kind, text)` with kind one of
`json_schema`, `lark_grammar`, `regex`: the decoder can only emit text that the grammar accepts,
and it stops (EOS) as soon as the grammar is complete. With JSON schemas, give every string a
`maxLength` and set `"x-guidance": {"whitespace_flexible": false}`, or small models may never stop.

Execution providers: `cpu` (default), `cuda`, `dml`, `qnn`, `openvino`, `webgpu`. Whether the
installed onnxruntime-genai build has one is only certain once a model loads with it; a missing
one becomes `model.provider_unavailable`, naming what to install.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from sandbox.errors import ModelError, PlannerError

GuidanceKind = Literal["json_schema", "lark_grammar", "regex"]
GUIDANCE_KINDS: tuple[GuidanceKind, ...] = ("json_schema", "lark_grammar", "regex")

# sbx name -> (name onnxruntime-genai's Config.append_provider takes, what provides it)
EXECUTION_PROVIDERS: dict[str, tuple[str | None, str]] = {
    "cpu": (None, "onnxruntime-genai"),
    "cuda": ("cuda", "onnxruntime-genai-cuda (NVIDIA GPU with CUDA 12)"),
    "dml": ("dml", "onnxruntime-genai-directml (Windows, DirectX 12 GPU)"),
    "qnn": ("qnn", "an onnxruntime-genai build with QNN (Qualcomm NPU; Windows on Snapdragon)"),
    "openvino": ("OpenVINO", "an onnxruntime-genai build with OpenVINO (Intel CPU/GPU/NPU)"),
    "webgpu": ("WebGPU", "an onnxruntime-genai build with WebGPU"),
}


@dataclass(frozen=True)
class Guidance:
    kind: GuidanceKind
    text: str

    def __post_init__(self) -> None:
        if self.kind not in GUIDANCE_KINDS:
            raise PlannerError(
                f"unknown guidance kind {self.kind!r} (known: {', '.join(GUIDANCE_KINDS)})",
                code="planner.invalid_guidance",
            )

    @classmethod
    def json_schema(cls, schema: Mapping[str, Any]) -> Guidance:
        return cls("json_schema", json.dumps(schema))

    @classmethod
    def lark(cls, grammar: str) -> Guidance:
        return cls("lark_grammar", grammar)

    @classmethod
    def regex(cls, pattern: str) -> Guidance:
        return cls("regex", pattern)


Message = Mapping[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    prefill_seconds: float  # appending the prompt (one forward pass over it)
    decode_seconds: float  # every later token
    finish_reason: Literal["stop", "length"]
    # creating the generator: compiling the guidance (the first guided generator of a process also
    # builds llguidance's view of the vocabulary: ~2.7 s for Qwen's 151,936 tokens on 2 cores)
    setup_seconds: float = 0.0
    cached_tokens: int = 0  # prompt tokens whose attention state was reused (the prefix cache)

    @property
    def prefill_tokens_per_second(self) -> float:
        computed = self.prompt_tokens - self.cached_tokens
        return computed / self.prefill_seconds if self.prefill_seconds > 0 else 0.0

    @property
    def decode_tokens_per_second(self) -> float:
        return self.completion_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "prefill_seconds": round(self.prefill_seconds, 4),
            "decode_seconds": round(self.decode_seconds, 4),
            "prefill_tokens_per_second": round(self.prefill_tokens_per_second, 1),
            "decode_tokens_per_second": round(self.decode_tokens_per_second, 1),
            "finish_reason": self.finish_reason,
            "setup_seconds": round(self.setup_seconds, 4),
            "cached_tokens": self.cached_tokens,
        }


def _og() -> Any:
    try:
        import onnxruntime_genai  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise ModelError(
            f"onnxruntime-genai is not installed ({exc})",
            code="model.load_failed",
            hint="pip install onnxruntime-genai",
        ) from None
    return onnxruntime_genai


def _sampling_seed(prompt: str, seed: int) -> int:
    """The sampler's seed for one request: fixed by what is asked and which draw it is."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def runtime_version() -> str | None:
    try:
        return str(_og().__version__)
    except ModelError:
        return None


def provider_flags() -> dict[str, bool]:
    """What the installed onnxruntime-genai reports through its `is_*_available()` functions.

    A hint only: some builds report a provider that then fails to load. `OnnxModel.load` is the test.
    """
    og = _og()
    flags = {"cpu": True}
    for name in ("cuda", "dml", "qnn", "openvino", "webgpu"):
        probe = getattr(og, f"is_{name}_available", None)
        flags[name] = bool(probe()) if callable(probe) else False
    return flags


def _provider_error(ep: str, detail: str) -> ModelError:
    _, needs = EXECUTION_PROVIDERS[ep]
    return ModelError(
        f"execution provider {ep!r} is not available in the installed onnxruntime-genai "
        f"{runtime_version() or ''}: {detail.strip().splitlines()[0] if detail.strip() else 'not built in'}",
        code="model.provider_unavailable",
        hint=f"it needs {needs}; or use --ep cpu",
    )


def _looks_like_provider_error(message: str) -> bool:
    lowered = message.lower()
    return any(
        marker in lowered
        for marker in ("not supported in this build", "provider requested", "interface not available",
                       "execution provider", "failed to load library")
    )


@dataclass
class _Slot:
    generator: Any
    capacity: int
    tokens: list[int]  # what the generator's state holds (prompt and completion)
    used: int = 0


class PrefixCache:
    """A few greedy generators kept between calls, so that a prompt reuses the attention state (KV
    cache) of the tokens it shares, from the start, with an earlier call's: a planner's system
    prompt and worked examples are computed once per process, not once per plan. Several slots,
    because a plan may involve more than one kind of prompt (the refusal gate, the plan, a repair).

    onnxruntime-genai's `Generator.rewind_to(n)` keeps the first n tokens' state; the result is
    the same as a fresh generator's (greedy decoding; tested). Guided and sampled generation
    use fresh generators (a grammar's state cannot be rewound).
    """

    MIN_CONTEXT = 2048  # tokens a kept generator is sized for (its KV buffer is preallocated)
    MIN_SHARED = 32  # shared tokens below which a prompt gets its own slot

    def __init__(self, make: Callable[[int], Any], *, slots: int = 3) -> None:
        self._make = make
        self._slots: list[_Slot] = []
        self._max_slots = slots
        self._clock = 0

    def clear(self, generator: Any = None) -> None:
        """Forget `generator`'s slot (its state is unknown after a failure), or every slot."""
        self._slots = [s for s in self._slots if generator is not None and s.generator is not generator]

    def holds(self, generator: Any) -> bool:
        return any(s.generator is generator for s in self._slots)

    def record(self, generator: Any, tokens: list[int]) -> None:
        for slot in self._slots:
            if slot.generator is generator:
                slot.tokens = tokens

    @staticmethod
    def _shared(held: Sequence[int], prompt: Sequence[int]) -> int:
        shared, limit = 0, min(len(held), len(prompt) - 1)  # leave one token: the logits come from it
        while shared < limit and held[shared] == prompt[shared]:
            shared += 1
        return shared

    def take(self, prompt: Sequence[int], max_tokens: int) -> tuple[Any, int]:
        """The kept generator sharing the longest prefix with `prompt`, rewound to it, and that
        prefix's length. A prefix shorter than `MIN_SHARED` (a chat template's preamble) is not
        worth another prompt's state: then a new generator, in a free slot or the least recently
        used one's."""
        self._clock += 1
        needed = len(prompt) + max_tokens
        candidates = [(self._shared(s.tokens, prompt), s.used, s) for s in self._slots if s.capacity >= needed]
        shared, _, best = max(candidates, key=lambda c: c[:2], default=(0, 0, None))
        if best is None or (shared < self.MIN_SHARED and shared < len(best.tokens)):
            if len(self._slots) >= self._max_slots:
                self._slots.remove(min(self._slots, key=lambda s: s.used))
            capacity = max(self.MIN_CONTEXT, needed)
            best, shared = _Slot(self._make(capacity), capacity, []), 0
            self._slots.append(best)
        elif shared < len(best.tokens):
            best.generator.rewind_to(shared)
        best.tokens = best.tokens[:shared]
        best.used = self._clock
        return best.generator, shared


class OnnxModel:
    """A loaded onnxruntime-genai model and its tokenizer."""

    def __init__(self, path: Path, model: Any, tokenizer: Any, *, ep: str, load_seconds: float,
                 prefix_cache: bool = True) -> None:
        self.path = path
        self.execution_provider = ep
        self.load_seconds = load_seconds
        self._model = model
        self._tokenizer = tokenizer
        self._chat_template = self._read_chat_template(path)
        self._prefix_cache: PrefixCache | None = PrefixCache(
            lambda n: self._new_generator(_og(), None, n)) if prefix_cache else None

    @classmethod
    def load(cls, path: Path, *, ep: str = "cpu", prefix_cache: bool = True) -> OnnxModel:
        ep = ep.lower()
        if ep not in EXECUTION_PROVIDERS:
            raise ModelError(
                f"unknown execution provider {ep!r} (known: {', '.join(EXECUTION_PROVIDERS)})",
                code="model.provider_unavailable",
            )
        if not (path / "genai_config.json").is_file():
            raise ModelError(f"{path} is not an onnxruntime-genai model (no genai_config.json)", code="model.not_found")
        og = _og()
        started = time.monotonic()
        og_name, _ = EXECUTION_PROVIDERS[ep]
        try:
            config = og.Config(str(path))
            config.clear_providers()
            if og_name is not None:
                config.append_provider(og_name)
            model = og.Model(config)
            tokenizer = og.Tokenizer(model)
        except RuntimeError as exc:  # onnxruntime-genai raises RuntimeError for everything
            message = str(exc)
            if ep != "cpu" and _looks_like_provider_error(message):
                raise _provider_error(ep, message) from None
            raise ModelError(f"cannot load the model in {path}: {message}", code="model.load_failed") from None
        return cls(path, model, tokenizer, ep=ep, load_seconds=time.monotonic() - started, prefix_cache=prefix_cache)

    # prompt ---------------------------------------------------------------------------------------

    @staticmethod
    def _read_chat_template(path: Path) -> str | None:
        jinja = path / "chat_template.jinja"
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8")
        return None

    def format_prompt(self, messages: Sequence[Message]) -> str:
        """The chat template of the model (its tokenizer's, or `chat_template.jinja`); ChatML if neither."""
        payload = json.dumps([dict(m) for m in messages])
        try:
            if self._chat_template is not None:
                text = self._tokenizer.apply_chat_template(
                    payload, template_str=self._chat_template, add_generation_prompt=True
                )
            else:
                text = self._tokenizer.apply_chat_template(payload, add_generation_prompt=True)
            return str(text)
        except RuntimeError:  # no template in this model: ChatML, which Qwen and many others use
            parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
            return "".join(parts) + "<|im_start|>assistant\n"

    def encode(self, text: str) -> list[int]:
        return [int(t) for t in self._tokenizer.encode(text)]

    def decode(self, tokens: Sequence[int]) -> str:
        return str(self._tokenizer.decode(list(tokens)))

    # generation -----------------------------------------------------------------------------------

    def generate(
        self,
        prompt: Sequence[Message] | str,
        *,
        guidance: Guidance | tuple[str, str] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        top_p: float = 1.0,
        top_k: int = 50,
        fast_forward: bool = False,
        on_text: Callable[[str], None] | None = None,
        stop: Callable[[str], bool] | None = None,
    ) -> GenerationResult:
        """Generate a completion. `prompt` is chat messages (the chat template is applied) or raw text.

        `temperature` 0 is greedy decoding; above, sampling from a generator seeded by the prompt's
        text and `seed`, so that one request gives one answer on every run (verification, its tests
        and a person's second try see the same candidates) and another `seed` another draw.
        `fast_forward` lets llguidance append tokens the grammar forces without sampling them (faster
        on fixed JSON keys). `on_text` receives text as it is decoded (progress display). `stop` is
        called with the text so far after each token and ends generation when it returns True
        (`finish_reason` "stop"): a free pass can end where the answer does.
        """
        og = _og()
        text = prompt if isinstance(prompt, str) else self.format_prompt(prompt)
        if isinstance(guidance, tuple):
            guidance = Guidance(cast(GuidanceKind, guidance[0]), guidance[1])
        tokens = [int(t) for t in self._tokenizer.encode(text)]
        prompt_tokens = len(tokens)
        setup_started = time.monotonic()
        cached = 0
        if guidance is None and temperature <= 0 and self._prefix_cache is not None:
            generator, cached = self._prefix_cache.take(tokens, max_tokens)
        else:
            generator = self._new_generator(og, guidance, prompt_tokens + max_tokens, temperature=temperature,
                                            seed=_sampling_seed(text, seed) if temperature > 0 else 0,
                                            top_p=top_p, top_k=top_k,
                                            fast_forward=fast_forward)
        try:
            started = time.monotonic()
            generator.append_tokens(tokens[cached:])
            prefilled = time.monotonic()
            stopped_early = self._decode_loop(generator, max_tokens, on_text, stop)
            finished = time.monotonic()
            sequence = [int(t) for t in generator.get_sequence(0)]
        except RuntimeError as exc:
            self._forget(generator)
            raise PlannerError(f"generation failed: {exc}") from None
        except BaseException:  # interrupted: the cached state is mid-way, start afresh next time
            self._forget(generator)
            raise
        if self._prefix_cache is not None:
            self._prefix_cache.record(generator, sequence)
        completion = sequence[prompt_tokens:]
        eos = set(self._eos_ids())
        stopped = bool(completion) and completion[-1] in eos
        text_out = self.decode([t for t in completion if t not in eos])
        return GenerationResult(
            text=text_out,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(completion),
            prefill_seconds=prefilled - started,
            decode_seconds=finished - prefilled,
            finish_reason="stop" if stopped or stopped_early or len(completion) < max_tokens else "length",
            setup_seconds=started - setup_started,
            cached_tokens=cached,
        )

    def _new_generator(self, og: Any, guidance: Guidance | None, max_length: int, *, temperature: float = 0.0,
                       seed: int = 0, top_p: float = 1.0, top_k: int = 50, fast_forward: bool = False) -> Any:
        params = og.GeneratorParams(self._model)
        search: dict[str, Any] = {"max_length": max_length, "batch_size": 1}
        if temperature > 0:
            search.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k, random_seed=seed)
        else:
            search.update(do_sample=False)
        params.set_search_options(**search)
        try:
            if guidance is not None:
                # The grammar is compiled when the Generator is created: errors surface there.
                params.set_guidance(guidance.kind, guidance.text, fast_forward)
            return og.Generator(self._model, params)
        except RuntimeError as exc:
            if guidance is not None:
                raise PlannerError(
                    f"invalid {guidance.kind} guidance: {exc}", code="planner.invalid_guidance"
                ) from None
            raise PlannerError(f"cannot start generation: {exc}") from None

    def _forget(self, generator: Any) -> None:
        if self._prefix_cache is not None:
            self._prefix_cache.clear(generator)

    def _decode_loop(self, generator: Any, max_tokens: int, on_text: Callable[[str], None] | None,
                     stop: Callable[[str], bool] | None) -> bool:
        """Generate until done or `max_tokens`; True when `stop` ended it early."""
        stream = self._tokenizer.create_stream() if on_text is not None or stop is not None else None
        so_far: list[str] = []
        for _ in range(max_tokens):
            if generator.is_done():
                break
            generator.generate_next_token()
            if stream is None:
                continue
            for token in generator.get_next_tokens():
                piece = stream.decode(int(token))
                if piece:
                    so_far.append(piece)
                    if on_text is not None:
                        on_text(piece)
            if stop is not None and stop("".join(so_far)):
                return True
        return False

    def _eos_ids(self) -> list[int]:
        try:
            ids = self._tokenizer.eos_token_ids
            return [int(i) for i in (ids() if callable(ids) else ids)]
        except (AttributeError, TypeError, ValueError, RuntimeError):
            return []
