"""The real helm against charts/downward-webhook, for tests: find the binary, render, lint, index the objects.

helm is built from Go modules by tools/kube/build.sh (cached under ~/.cache/downward-webhook; its last stdout
line is the bin dir). Looked for in this order: $DOWNWARD_KUBE_BIN_DIR; the bin dir of the current pins
(`build.sh --print-dir`); any cached bin dir whose VERSIONS names the helm version pinned in tools/helm/go.mod
(a Kubernetes bump changes the bin dir but not helm, and rebuilding kube-apiserver just to render a chart
costs 10-25 minutes); else `build.sh` builds everything, unless DOWNWARD_KUBE_BUILD=0. Every helm run gets
its own HELM_*_HOME and a KUBECONFIG that does not exist, so no test reads the developer's helm settings or
touches a cluster.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
CHART_DIR = REPO_ROOT / "charts" / "downward-webhook"
CI_DIR = CHART_DIR / "ci"
BUILD_SCRIPT = REPO_ROOT / "tools" / "kube" / "build.sh"
RELEASE = "dw"
NAMESPACE = "downward-system"
# The value sets every chart test renders: the defaults, and each file of the chart's ci/ directory.
CI_FILES = sorted(CI_DIR.glob("*.yaml"))
VALUE_SETS: list[tuple[Path, ...]] = [(), *[(path,) for path in CI_FILES]]
VALUE_IDS = ["default", *[path.stem for path in CI_FILES]]


class HelmUnavailable(RuntimeError):
    """helm is not built and cannot be built here; str() is one line for pytest.skip."""


@functools.cache
def helm_binary() -> Path:
    """The helm binary built by tools/kube/build.sh (building it when needed and allowed)."""
    env_dir = os.environ.get("DOWNWARD_KUBE_BIN_DIR")
    if env_dir:
        candidate = Path(env_dir) / "helm"
        if not os.access(candidate, os.X_OK):
            raise HelmUnavailable(f"$DOWNWARD_KUBE_BIN_DIR={env_dir} has no helm: unset it or run tools/kube/build.sh")
        return candidate
    if shutil.which("bash") is None:
        raise HelmUnavailable("bash not found: tools/kube/build.sh (which builds helm) needs bash and Go >= 1.26")
    printed = subprocess.run(["bash", str(BUILD_SCRIPT), "--print-dir"], capture_output=True, text=True, check=True)
    current = Path(printed.stdout.strip())
    if os.access(current / "helm", os.X_OK):
        return current / "helm"
    same_helm = _cached_helm(current.parent, _pinned_helm_version())
    if same_helm is not None:
        return same_helm
    if os.environ.get("DOWNWARD_KUBE_BUILD", "1") == "0":
        raise HelmUnavailable("helm not built and DOWNWARD_KUBE_BUILD=0: run tools/kube/build.sh")
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if proc.returncode == 3:
        raise HelmUnavailable(
            "go not found: install Go >= 1.26 (see tools/kube/go.mod) and run tools/kube/build.sh to build helm"
        )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"tools/kube/build.sh failed with exit code {proc.returncode}:\n{tail}")
    candidate = Path(proc.stdout.strip().splitlines()[-1]) / "helm"
    if not os.access(candidate, os.X_OK):
        raise RuntimeError(f"tools/kube/build.sh finished but {candidate} is missing")
    return candidate


def _pinned_helm_version() -> str | None:
    """The helm.sh/helm/v4 version tools/helm/go.mod requires, e.g. "v4.3.1"."""
    go_mod = (BUILD_SCRIPT.parents[1] / "helm" / "go.mod").read_text(encoding="utf-8")
    match = re.search(r"^\s*helm\.sh/helm/v\d+ (v\S+)", go_mod, re.MULTILINE)
    return match.group(1) if match else None


def _cached_helm(cache_root: Path, version: str | None) -> Path | None:
    """A helm in another bin dir of the cache that build.sh stamped with the same helm version."""
    if version is None or not cache_root.is_dir():
        return None
    for bin_dir in sorted(cache_root.glob("bin-*"), key=lambda p: p.stat().st_mtime, reverse=True):
        versions = bin_dir / "VERSIONS"
        stamped = versions.is_file() and f"helm={version}" in versions.read_text(encoding="utf-8").split()
        if stamped and os.access(bin_dir / "helm", os.X_OK):
            return bin_dir / "helm"
    return None


@dataclass(frozen=True)
class HelmResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> HelmResult:
        assert self.returncode == 0, f"helm {' '.join(self.args)} failed ({self.returncode}):\n{self.stderr}"
        return self


@dataclass(frozen=True)
class Render:
    """The objects of one `helm template`, in output order."""

    objects: tuple[dict[str, Any], ...]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [obj for obj in self.all(kind) if name is None or obj["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}: {self.kinds()}"
        return found[0]

    def kinds(self) -> list[str]:
        return [f"{obj['kind']}/{obj['metadata']['name']}" for obj in self.objects]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.objects)


class Helm:
    """A helm binary with an isolated home; every call is a fresh process."""

    def __init__(self, binary: Path, home: Path, env: Mapping[str, str] | None = None) -> None:
        """`env` adds to (or overrides) the isolated environment, e.g. a real cluster's KUBECONFIG."""
        self.binary = binary
        self.home = home
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECONFIG": str(home / "no-such-kubeconfig"),
            **(env or {}),
        }

    def run(self, *args: str) -> HelmResult:
        proc = subprocess.run(
            [str(self.binary), *args], env=self.env, capture_output=True, text=True, check=False, timeout=120
        )
        return HelmResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def value_args(self, values_files: Sequence[Path], values: Mapping[str, Any] | None) -> list[str]:
        args: list[str] = []
        for path in values_files:
            args += ["--values", str(path)]
        if values:
            with tempfile.NamedTemporaryFile(
                "w", suffix=".yaml", dir=self.home, delete=False, encoding="utf-8"
            ) as handle:
                yaml.safe_dump(dict(values), handle)
            args += ["--values", handle.name]
        return args

    def template_raw(
        self,
        values_files: Sequence[Path] = (),
        values: Mapping[str, Any] | None = None,
        *,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        extra: Sequence[str] = (),
    ) -> HelmResult:
        return self.run(
            "template",
            release,
            str(CHART_DIR),
            "--namespace",
            namespace,
            *self.value_args(values_files, values),
            *extra,
        )

    def template(
        self,
        values_files: Sequence[Path] = (),
        values: Mapping[str, Any] | None = None,
        *,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        extra: Sequence[str] = (),
    ) -> Render:
        result = self.template_raw(values_files, values, release=release, namespace=namespace, extra=extra).check()
        return Render(tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc))

    def lint(self, values_files: Sequence[Path] = (), *, strict: bool = True) -> HelmResult:
        return self.run("lint", str(CHART_DIR), *(["--strict"] if strict else []), *self.value_args(values_files, None))


# --- label selectors, evaluated the way the apiserver does ---------------------------------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: every matchLabels pair and every expression must hold; {} matches all."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def namespace_labels(name: str, **extra: str) -> dict[str, str]:
    """A namespace's labels as the apiserver sets them (kubernetes.io/metadata.name is always there)."""
    return {"kubernetes.io/metadata.name": name, **extra}
