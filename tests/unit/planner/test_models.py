"""Model store: checksums, assembling parts, sources in order, the manifest. Fake files, no model,
no network, no build venv: the builder and the wheel fetcher are injected fakes."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from sandbox.config import Settings
from sandbox.errors import ModelError
from sandbox.planner.catalog import BuildRecipe, HubFile, ModelSpec, WheelPart
from sandbox.planner.model_build import BuildReport, Log
from sandbox.planner.model_checksums import sha256_file, tree_digest, tree_files, verify_file
from sandbox.planner.model_sources import SourceUnavailable, assemble_parts, configured_sources
from sandbox.planner.models import ModelStore

SLICES = (b"GGUF" + b"a" * 60, b"b" * 64, b"c" * 17)
PAYLOAD = b"".join(SLICES)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel(folder: Path, part: WheelPart, data: bytes) -> Path:
    path = folder / part.wheel_filename
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{part.module}/__init__.py", "def get_part_path(): ...\n")
        archive.writestr(part.member, data)
    return path


def _make_parts(folder: Path, slices: Sequence[bytes] = SLICES) -> tuple[ModelSpec, dict[int, Path]]:
    """Fake part wheels in `folder` and a spec that pins them (the wheel hashes are computed)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts, wheels = [], {}
    for index, data in enumerate(slices, start=1):
        member = f"fake_model_part{index}/data/part{index:02d}.bin"
        draft = WheelPart(index, f"fake-model-part{index}", "1.0", "", member, len(data))
        path = _wheel(folder, draft, data)
        parts.append(WheelPart(draft.index, draft.distribution, draft.version, sha256_file(path), draft.member,
                               draft.size))
        wheels[index] = path
    spec = ModelSpec(
        name="fake-model", title="Fake", license="MIT", architecture="qwen2", parameters="0B",
        gguf_filename="fake.gguf", gguf_size=len(PAYLOAD), gguf_sha256=_sha(PAYLOAD), parts=tuple(parts),
    )
    return spec, wheels


class FakeBuilder:
    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def build(self, gguf: Path, out: Path, recipe: BuildRecipe, *, work: Path, log: Log) -> BuildReport:
        self.calls.append(gguf.read_bytes())
        out.mkdir(parents=True)
        (out / "genai_config.json").write_text('{"model": {"type": "qwen2"}}')
        (out / "model.onnx").write_bytes(b"onnx:" + gguf.read_bytes()[:8])
        return BuildReport(seconds=1.5, peak_rss_bytes=1024, tools={"onnxruntime-genai": "0.18.0"},
                           steps=(("checkpoint", 1.0), ("onnx", 0.5)))


class FakeFetcher:
    """Serves wheels from a folder, like `pip download` would from the index."""

    def __init__(self, wheelhouse: Path | None) -> None:
        self.wheelhouse = wheelhouse
        self.calls = 0

    def fetch(self, parts: Sequence[WheelPart], dest: Path, *, log: Log) -> dict[int, Path]:
        self.calls += 1
        if self.wheelhouse is None:
            raise SourceUnavailable("the index is unreachable")
        dest.mkdir(parents=True, exist_ok=True)
        out = {}
        for part in parts:
            target = dest / part.wheel_filename
            target.write_bytes((self.wheelhouse / part.wheel_filename).read_bytes())
            out[part.index] = target
        return out


def _store(tmp_path: Path, *, sources: Sequence[str], wheelhouse: Path | None = None,
           source_dir: Path | None = None) -> tuple[ModelStore, FakeBuilder, FakeFetcher]:
    builder, fetcher = FakeBuilder(), FakeFetcher(wheelhouse)
    store = ModelStore(tmp_path / "cache", sources=sources, source_dir=source_dir, builder=builder,
                       fetcher=fetcher, build_venv=tmp_path / "no-venv")
    return store, builder, fetcher


# -- checksums -------------------------------------------------------------------------------------


def test_verify_file_accepts_the_right_file_and_refuses_others(tmp_path: Path) -> None:
    path = tmp_path / "f.gguf"
    path.write_bytes(PAYLOAD)
    verify_file(path, size=len(PAYLOAD), sha256=_sha(PAYLOAD), what="t")
    with pytest.raises(ModelError) as size:
        verify_file(path, size=len(PAYLOAD) + 1, sha256=_sha(PAYLOAD), what="t")
    assert size.value.code == "model.checksum_mismatch"
    path.write_bytes(PAYLOAD[:-1] + b"X")
    with pytest.raises(ModelError) as digest:
        verify_file(path, size=len(PAYLOAD), sha256=_sha(PAYLOAD), what="t")
    assert digest.value.code == "model.checksum_mismatch"
    assert _sha(PAYLOAD) in digest.value.message


def test_tree_digest_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub" / "b.bin").write_bytes(b"b")
    files = tree_files(tmp_path)
    assert [f["path"] for f in files] == ["a.txt", "sub/b.bin"]
    digest = tree_digest(files)
    assert digest == tree_digest(list(reversed(files)))
    assert digest.startswith("sha256:")
    (tmp_path / "sub" / "b.bin").write_bytes(b"B")
    assert tree_digest(tree_files(tmp_path)) != digest


# -- assembling ------------------------------------------------------------------------------------


def test_assemble_concatenates_the_slices_in_order(tmp_path: Path) -> None:
    spec, wheels = _make_parts(tmp_path / "wheels")
    out = tmp_path / "out.gguf"
    assemble_parts(spec.parts, wheels, out, spec=spec)
    assert out.read_bytes() == PAYLOAD


def test_a_tampered_wheel_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    spec, wheels = _make_parts(tmp_path / "wheels")
    _wheel(tmp_path / "wheels", spec.parts[1], b"x" * 64)  # same size, other content, new wheel hash
    out = tmp_path / "out.gguf"
    with pytest.raises(ModelError) as caught:
        assemble_parts(spec.parts, wheels, out, spec=spec)
    assert caught.value.code == "model.checksum_mismatch"
    assert spec.parts[1].wheel_filename in caught.value.message
    assert not out.exists()


def test_a_wrong_final_digest_is_refused_and_the_file_removed(tmp_path: Path) -> None:
    spec, wheels = _make_parts(tmp_path / "wheels")
    wrong = ModelSpec(**{**spec.__dict__, "gguf_sha256": "0" * 64})
    out = tmp_path / "out.gguf"
    with pytest.raises(ModelError) as caught:
        assemble_parts(wrong.parts, wheels, out, spec=wrong)
    assert caught.value.code == "model.checksum_mismatch"
    assert not out.exists()


def test_a_missing_member_or_wheel_is_an_error(tmp_path: Path) -> None:
    spec, wheels = _make_parts(tmp_path / "wheels")
    with pytest.raises(ModelError):
        assemble_parts(spec.parts, {1: wheels[1], 2: wheels[2]}, tmp_path / "o", spec=spec)
    moved = WheelPart(1, spec.parts[0].distribution, "1.0", spec.parts[0].wheel_sha256, "elsewhere.bin",
                      spec.parts[0].size)
    with pytest.raises(ModelError) as caught:
        assemble_parts((moved, *spec.parts[1:]), wheels, tmp_path / "o", spec=spec)
    assert caught.value.code == "model.checksum_mismatch"


# -- the store -------------------------------------------------------------------------------------


def test_pull_from_the_index_builds_once_and_records_a_manifest(tmp_path: Path) -> None:
    spec, _ = _make_parts(tmp_path / "wheelhouse")
    store, builder, fetcher = _store(tmp_path, sources=("pypi",), wheelhouse=tmp_path / "wheelhouse")
    assert not store.info(spec).present
    info = store.pull(spec)
    assert info.present and info.source == "pypi" and info.builder == "onnxruntime-genai 0.18.0"
    assert builder.calls == [PAYLOAD]
    manifest = json.loads(store.manifest_path(spec).read_text())
    assert manifest["gguf"] == {"filename": "fake.gguf", "size": len(PAYLOAD), "sha256": _sha(PAYLOAD),
                                "verified": True}
    assert [p["wheel_sha256"] for p in manifest["source"]["parts"]] == [p.wheel_sha256 for p in spec.parts]
    assert manifest["model"]["digest"] == info.model_digest == tree_digest(tree_files(store.model_path(spec)))
    assert manifest["build"]["extra_options"] == dict(spec.recipe.extra_options)
    # nothing but the model and its manifest is left behind
    assert sorted(p.name for p in store.home(spec).iterdir()) == ["manifest.json", "model"]
    assert [p.name for p in store.models_dir.iterdir() if p.name.startswith(".pull")] == []
    # idempotent
    store.pull(spec)
    assert len(builder.calls) == 1 and fetcher.calls == 1
    store.pull(spec, force=True)
    assert len(builder.calls) == 2
    assert store.require(spec) == store.model_path(spec)


def test_info_verify_detects_a_changed_model_file(tmp_path: Path) -> None:
    spec, _ = _make_parts(tmp_path / "wheelhouse")
    store, _, _ = _store(tmp_path, sources=("pypi",), wheelhouse=tmp_path / "wheelhouse")
    store.pull(spec)
    assert store.info(spec, verify=True).verified is True
    (store.model_path(spec) / "model.onnx").write_bytes(b"evil")
    (store.model_path(spec) / "extra.bin").write_bytes(b"x")
    checked = store.info(spec, verify=True)
    assert checked.verified is False
    assert set(checked.problems) == {"changed: model.onnx", "not in the manifest: extra.bin"}


def test_require_says_how_to_get_a_missing_model(tmp_path: Path) -> None:
    store, _, _ = _store(tmp_path, sources=())
    with pytest.raises(ModelError) as caught:
        store.require("qwen2.5-coder-0.5b")
    assert caught.value.code == "model.not_found"
    assert caught.value.hint and "sbx model pull qwen2.5-coder-0.5b" in caught.value.hint


def test_local_sources_in_order_of_preference(tmp_path: Path) -> None:
    spec, _ = _make_parts(tmp_path / "local")  # part wheels in the local folder
    store, builder, fetcher = _store(tmp_path, sources=("local", "pypi"), source_dir=tmp_path / "local")
    assert store.pull(spec).source == "local-wheels"
    assert fetcher.calls == 0

    (tmp_path / "local" / "fake.gguf").write_bytes(PAYLOAD)  # a GGUF beats the wheels
    assert store.pull(spec, force=True).source == "local-gguf"

    ready = tmp_path / "local" / spec.name  # a ready model beats both and needs no build
    ready.mkdir()
    (ready / "genai_config.json").write_text("{}")
    (ready / "model.onnx").write_bytes(b"ready")
    calls = len(builder.calls)
    info = store.pull(spec, force=True)
    assert info.source == "local-onnx" and len(builder.calls) == calls
    assert (store.model_path(spec) / "model.onnx").read_bytes() == b"ready"


def test_a_bad_local_gguf_stops_the_pull_instead_of_falling_through(tmp_path: Path) -> None:
    spec, _ = _make_parts(tmp_path / "wheelhouse")
    local = tmp_path / "local"
    local.mkdir()
    (local / "fake.gguf").write_bytes(PAYLOAD[:-1] + b"!")
    store, builder, fetcher = _store(tmp_path, sources=("local", "pypi"), source_dir=local,
                                     wheelhouse=tmp_path / "wheelhouse")
    with pytest.raises(ModelError) as caught:
        store.pull(spec)
    assert caught.value.code == "model.checksum_mismatch"
    assert fetcher.calls == 0 and builder.calls == []
    assert not store.info(spec).present


def test_unavailable_sources_are_skipped_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, _ = _make_parts(tmp_path / "wheelhouse")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store, _, fetcher = _store(tmp_path, sources=("local", "huggingface", "pypi"), wheelhouse=None)
    with pytest.raises(ModelError) as caught:
        store.pull(spec)
    assert caught.value.code == "model.source_unavailable"
    message = caught.value.message
    assert "local: no local folder" in message
    assert "huggingface: no Hugging Face repository" in message
    assert "pypi: the index is unreachable" in message
    assert fetcher.calls == 1
    assert not (tmp_path / "no-venv").exists()  # no build environment for a pull that cannot start


def test_a_failed_build_leaves_no_model_behind(tmp_path: Path) -> None:
    spec, _ = _make_parts(tmp_path / "wheelhouse")

    class BrokenBuilder(FakeBuilder):
        def build(self, gguf: Path, out: Path, recipe: BuildRecipe, *, work: Path, log: Log) -> BuildReport:
            out.mkdir(parents=True)
            raise ModelError("builder exploded", code="model.build_failed")

    store = ModelStore(tmp_path / "cache", sources=("pypi",), builder=BrokenBuilder(),
                       fetcher=FakeFetcher(tmp_path / "wheelhouse"), build_venv=tmp_path / "no-venv")
    with pytest.raises(ModelError, match="exploded"):
        store.pull(spec)
    assert not store.home(spec).exists()
    assert [p.name for p in store.models_dir.iterdir() if not p.name.endswith(".lock")] == []


def test_list_shows_every_catalogued_model(tmp_path: Path) -> None:
    store, _, _ = _store(tmp_path, sources=())
    names = [info.name for info in store.list()]
    assert names == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    assert all(not info.present for info in store.list())
    as_json = store.info("qwen2.5-coder-0.5b").to_json()
    assert as_json["gguf"]["size"] == 491_400_064 and as_json["present"] is False


def test_sources_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SBX_MODEL_SOURCES", raising=False)
    assert configured_sources() == ("local", "huggingface", "pypi")
    monkeypatch.setenv("SBX_MODEL_SOURCES", "pypi, local")
    assert configured_sources() == ("pypi", "local")
    monkeypatch.setenv("SBX_MODEL_SOURCES", "ftp")
    with pytest.raises(ModelError):
        configured_sources()


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBX_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("SBX_MODEL_BUILD_VENV", raising=False)
    store = ModelStore(sources=())
    assert store.models_dir == tmp_path / "c" / "models"
    assert store.venv.path == tmp_path / "c" / "model-build-venv"
    assert store.model_path("0.5b") == tmp_path / "c" / "models" / "qwen2.5-coder-0.5b" / "model"


@pytest.mark.parametrize("cache_env", [{"SBX_CACHE_DIR": "c"}, {"XDG_CACHE_HOME": "x"}, {}])
def test_the_store_and_the_settings_share_one_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_env: dict[str, str]
) -> None:
    for name in ("SBX_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in cache_env.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ModelStore(sources=()).cache_dir == Settings.from_env().cache_dir


def test_an_unreachable_hub_is_skipped_quickly_without_a_build_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = _make_parts(tmp_path / "wheelhouse")
    spec = ModelSpec(**{**spec.__dict__, "hub": HubFile("org/repo", "fake.gguf")})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # loopback, nothing listens: refused at once
    store, builder, _ = _store(tmp_path, sources=("huggingface", "pypi"), wheelhouse=tmp_path / "wheelhouse")
    assert store.pull(spec).source == "pypi"
    assert len(builder.calls) == 1
    assert not (tmp_path / "no-venv").exists()
