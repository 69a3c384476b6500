"""The host, diagnosed and prepared: `sbx doctor` (what sbx found, what it configured around, a
fix for each problem) and `sbx image build` (the default tool image, where sbx's engine looks).

A use case beside `sandbox.app`, not part of a workspace: neither needs one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sandbox.config import Settings
from sandbox.resources import containerfile_text
from sandbox.safedirs import private_dir

if TYPE_CHECKING:
    from sandbox.engine import Engine

log = logging.getLogger(__name__)


def doctor(settings: Settings) -> dict[str, Any]:
    """What sbx found on this host, what it configured around, and a fix for each problem."""
    from sandbox.engine import host, service_paths
    from sandbox.engine.image import DIGEST_LABEL, parse_containerfile
    from sandbox.errors import SbxError

    # Refused outright, before anything connects to or writes in them: a state or runtime folder
    # another user could have planted things in is not one problem among others.
    private_dir(settings.state_dir, env="SBX_STATE_DIR")
    private_dir(settings.runtime_dir, env="SBX_RUNTIME_DIR")
    facts = host.detect()
    found = [*facts.problems(), *service_paths(settings).problems(facts)]
    problems = [{"problem": p.what, "fix": p.fix, "fatal": p.fatal} for p in found]
    report: dict[str, Any] = {"host": facts.to_json(), "podman": None, "image": None, "problems": problems}
    if facts.podman:
        version = host.podman_version(facts.podman)
        report["podman"] = {
            "version": version.get("Client", {}).get("Version"),
            "path": facts.podman,
        }
    try:
        from sandbox.engine import connect

        engine = connect(settings)
        report["podman"] = {**(report["podman"] or {}), "socket": str(engine.socket_path), **engine.info()}
        labels = engine.image_labels(settings.image)
        wanted = parse_containerfile(containerfile_text()).digest
        if labels is None:
            problems.append({"problem": f"the default image {settings.image} does not exist",
                             "fix": "sbx image build", "fatal": True})
            report["image"] = {"name": settings.image, "present": False}
        else:
            current = labels.get(DIGEST_LABEL) == wanted
            report["image"] = {"name": settings.image, "present": True, "current": current}
            if not current:
                problems.append({"problem": "the default image was built from an older Containerfile",
                                 "fix": "sbx image build", "fatal": False})
            report["probe"] = _probe(engine, settings.image)
            if report["probe"]["error"]:
                problems.append({"problem": f"the engine cannot run a container: {report['probe']['error']}",
                                 "fix": "see the service log in sbx's runtime folder; `sbx doctor` again",
                                 "fatal": True})
        report["leftover_containers"] = engine.leftover_containers()
    except SbxError as exc:
        problems.append({"problem": exc.message, "fix": exc.hint or "", "fatal": True})
    report["planner"] = _planner_report(settings, problems)
    report["ok"] = not any(p["fatal"] for p in problems)
    return report


def _probe(engine: Engine, image: str) -> dict[str, Any]:
    """A real container, not just an answering socket: a service that answers but cannot start
    containers is restarted (when it is sbx's own) and probed again."""
    error = engine.probe(image)
    restarted = False
    if error is not None:
        engine.restart()
        restarted = True
        error = engine.probe(image)
    return {"ok": error is None, "error": error, "restarted_service": restarted}


def _planner_report(settings: Settings, problems: list[dict[str, Any]]) -> dict[str, Any]:
    """The default planning model (`sbx run` needs it; `sbx exec` does not) and running services."""
    from sandbox.planner.catalog import DEFAULT_MODEL, get_spec
    from sandbox.planner.models import ModelStore
    from sandbox.planner.service import running_services

    present = ModelStore(settings.cache_dir).is_present(get_spec(DEFAULT_MODEL))
    if not present:
        problems.append({"problem": f"the default planning model {DEFAULT_MODEL} is not prepared (sbx run needs it)",
                         "fix": f"scripts/prepare-model, or: sbx model pull {DEFAULT_MODEL}", "fatal": False})
    return {"default_model": DEFAULT_MODEL, "prepared": present, "services": running_services(settings.runtime_dir)}


def build_image(settings: Settings, *, offline: bool | None = None) -> dict[str, Any]:
    from sandbox.engine import host, service, service_paths
    from sandbox.engine.image import build
    from sandbox.errors import EngineUnavailableError

    facts = host.detect()
    if facts.podman is None:
        raise EngineUnavailableError("podman is not installed",
                                     hint="run scripts/bootstrap, or: apt-get install podman")
    private_dir(settings.runtime_dir, env="SBX_RUNTIME_DIR")
    paths = service_paths(settings)
    if not paths.containers_conf.exists():
        service.private_socket(paths, facts)
    # The image goes where sbx's service looks: rootless, sbx's own storage.
    route = build(containerfile_text(), settings.image, podman=facts.podman,
                  env=paths.environment(facts), offline=offline)
    return {"image": settings.image, "route": route}
