"""The real planner backend: a catalogued model from the cache, run by onnxruntime-genai.

The model is loaded on first use (`load()`, or the first `generate`), so that building a planner
costs nothing until it plans; its identity (name, digest of the built files from the manifest) is
known before that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sandbox.planner.catalog import DEFAULT_MODEL, get_spec
from sandbox.planner.models import ModelStore
from sandbox.planner.onnx import GenerationResult, Guidance, Message, OnnxModel
from sandbox.planner.plan import ModelRef


def catalogued(name: str, ep: str, store: ModelStore) -> tuple[ModelRef, Path]:
    """A prepared catalogued model: its identity (name, digest of the built files from the
    manifest, execution provider) and folder; `model.not_found`, with the pull command as hint,
    when it is not prepared."""
    spec = get_spec(name)
    path = store.require(spec)
    digest = ((store.read_manifest(spec) or {}).get("model") or {}).get("digest")
    return ModelRef(spec.name, digest if isinstance(digest, str) else None, ep), path


class OnnxBackend:
    def __init__(self, name: str = DEFAULT_MODEL, *, ep: str = "cpu", store: ModelStore | None = None,
                 path: Path | None = None) -> None:
        """`name` from the catalog, taken from `store` (the default cache); or a model folder `path`."""
        self._store = store or ModelStore()
        if path is None:
            self._ref, self._path = catalogued(name, ep, self._store)
        else:
            self._path = path
            self._ref = ModelRef(name, None, ep)
        self._ep = ep
        self._model: OnnxModel | None = None

    @property
    def model(self) -> ModelRef:
        return self._ref

    @property
    def where(self) -> str:
        return "loaded in this process"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def loaded(self) -> OnnxModel:
        if self._model is None:
            self._model = OnnxModel.load(self._path, ep=self._ep)
        return self._model

    def load(self) -> float:
        if self._model is not None:
            return 0.0
        return self.loaded.load_seconds

    def generate(self, messages: Sequence[Message], *, guidance: Guidance | None, max_tokens: int,
                 stop: Callable[[str], bool] | None = None, temperature: float = 0.0,
                 seed: int = 0) -> GenerationResult:
        return self.loaded.generate(messages, guidance=guidance, max_tokens=max_tokens, stop=stop,
                                    temperature=temperature, seed=seed)
