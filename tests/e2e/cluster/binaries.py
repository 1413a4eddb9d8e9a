"""The binaries the clusters run, built from Go modules by tools/kube/build.sh and cached by pin."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "tools" / "kube" / "build.sh"
#: Set to a directory holding every binary below to skip build.sh entirely.
BIN_DIR_ENV = "DOWNWARD_KUBE_BIN_DIR"

NAMES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "etcd",
    "helm",
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "crictl",
)


class ToolchainMissing(RuntimeError):
    """The binaries are not built and cannot be built here (no ``go``).

    ``str(exc)`` is a single line meant for ``pytest.skip``.
    """


class BuildFailed(RuntimeError):
    """tools/kube/build.sh ran and failed."""


@dataclass(frozen=True)
class Binaries:
    """Paths of the binaries built by ``tools/kube/build.sh``, one attribute per program."""

    bin_dir: Path

    def __getattr__(self, name: str) -> Path:
        # kube_apiserver -> bin_dir/kube-apiserver, containerd_shim_runc_v2 -> ..., etc.
        program = name.replace("_", "-")
        if program not in NAMES:
            raise AttributeError(name)
        return self.bin_dir / program

    @classmethod
    def from_dir(cls, bin_dir: Path) -> Binaries:
        return cls(bin_dir)

    def missing(self) -> list[str]:
        return [n for n in NAMES if not os.access(self.bin_dir / n, os.X_OK)]

    def versions(self) -> dict[str, str]:
        """What build.sh wrote in VERSIONS: k8s, etcd, helm, containerd, crictl and go."""
        lines = (self.bin_dir / "VERSIONS").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


def bin_dir_hint() -> Path:
    """The bin dir ``build.sh`` would use (``build.sh --print-dir``); builds nothing."""
    env_dir = os.environ.get(BIN_DIR_ENV)
    if env_dir:
        return Path(env_dir)
    out = subprocess.run(["bash", str(BUILD_SCRIPT), "--print-dir"], check=True, capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def find_binaries(build: bool = True, build_timeout: float = 3600.0) -> Binaries:
    """Locate (and, when ``build`` and ``go`` is on PATH, build) the binaries.

    Order: ``$DOWNWARD_KUBE_BIN_DIR`` if set; else the cache dir of ``build.sh``, running ``build.sh`` when
    that dir is incomplete, its progress on this process's stderr. Raises :class:`ToolchainMissing` (one
    line) when they are absent and cannot be built, :class:`BuildFailed` when a build with ``go`` fails.
    """
    env_dir = os.environ.get(BIN_DIR_ENV)
    if env_dir:
        bins = Binaries.from_dir(Path(env_dir))
        if bins.missing():
            raise ToolchainMissing(
                f"${BIN_DIR_ENV}={env_dir} lacks {', '.join(bins.missing())}: unset it or run tools/kube/build.sh"
            )
        return bins
    if shutil.which("bash") is None:
        raise ToolchainMissing("bash not found: tools/kube/build.sh needs bash and Go >= 1.26")
    bins = Binaries.from_dir(bin_dir_hint())
    if not bins.missing():
        return bins
    if not build:
        raise ToolchainMissing(f"cluster binaries not built ({bins.bin_dir}): run tools/kube/build.sh")
    if shutil.which("go") is None:
        raise ToolchainMissing("go not found: install Go >= 1.26 and run tools/kube/build.sh")
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], check=False, stdout=subprocess.PIPE, text=True, timeout=build_timeout
    )
    if proc.returncode == 3:  # build.sh: go missing
        raise ToolchainMissing("go not found: install Go >= 1.26 and run tools/kube/build.sh")
    if proc.returncode != 0:
        raise BuildFailed(f"tools/kube/build.sh failed with exit code {proc.returncode}")
    bins = Binaries.from_dir(Path(proc.stdout.strip().splitlines()[-1]))
    if bins.missing():
        raise BuildFailed(f"build.sh finished but {bins.bin_dir} lacks {bins.missing()}")
    return bins
