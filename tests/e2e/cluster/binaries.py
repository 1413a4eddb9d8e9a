"""The binaries the clusters run, built from Go modules by tools/kube/build.sh (the newest pin: everything) and
tools/kube/build-controlplane.sh (an older pin: its control plane), and cached by pin."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "tools" / "kube" / "build.sh"
CONTROL_PLANE_SCRIPT = REPO_ROOT / "tools" / "kube" / "build-controlplane.sh"
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
#: What an older pin builds (build-controlplane.sh); the rest always comes from the newest pin.
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "etcd")


class ToolchainMissing(RuntimeError):
    """The binaries are not built and cannot be built here (no ``go``).

    ``str(exc)`` is a single line meant for ``pytest.skip``.
    """


class BuildFailed(RuntimeError):
    """tools/kube/build.sh ran and failed."""


@dataclass(frozen=True)
class Binaries:
    """Paths of the binaries built by ``tools/kube/build.sh``, one attribute per program.

    With ``control_plane_dir`` (an older release's, from build-controlplane.sh) kube-apiserver,
    kube-controller-manager and etcd come from there, everything else from ``bin_dir``.
    """

    bin_dir: Path
    control_plane_dir: Path | None = None

    def __getattr__(self, name: str) -> Path:
        # kube_apiserver -> bin_dir/kube-apiserver, containerd_shim_runc_v2 -> ..., etc.
        program = name.replace("_", "-")
        if program not in NAMES:
            raise AttributeError(name)
        if self.control_plane_dir is not None and program in CONTROL_PLANE:
            return self.control_plane_dir / program
        return self.bin_dir / program

    @classmethod
    def from_dir(cls, bin_dir: Path) -> Binaries:
        return cls(bin_dir)

    def with_control_plane(self, control_plane_dir: Path | None) -> Binaries:
        """These binaries with another release's control plane (None: the newest pin's own)."""
        return replace(self, control_plane_dir=control_plane_dir)

    def missing(self) -> list[str]:
        return [n for n in NAMES if not os.access(getattr(self, n.replace("-", "_")), os.X_OK)]

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
    bins = Binaries.from_dir(_build([str(BUILD_SCRIPT)], build_timeout))
    if bins.missing():
        raise BuildFailed(f"build.sh finished but {bins.bin_dir} lacks {bins.missing()}")
    return bins


def find_control_plane(pin_dir: Path, build: bool = True, build_timeout: float = 3600.0) -> Path:
    """The directory of an older pin's kube-apiserver, kube-controller-manager and etcd (``pin_dir``: e.g.
    tools/kube/1.29), built by build-controlplane.sh when missing; raises like :func:`find_binaries`."""
    script = ["bash", str(CONTROL_PLANE_SCRIPT), str(pin_dir)]
    out = subprocess.run([*script, "--print-dir"], check=True, capture_output=True, text=True).stdout
    directory = Path(out.strip().splitlines()[-1])
    if all(os.access(directory / n, os.X_OK) for n in CONTROL_PLANE):
        return directory
    if not build:
        raise ToolchainMissing(f"the {pin_dir.name} control plane is not built ({directory}): run make kube-tools")
    directory = _build(script[1:], build_timeout)
    lacking = [n for n in CONTROL_PLANE if not os.access(directory / n, os.X_OK)]
    if lacking:
        raise BuildFailed(f"build-controlplane.sh finished but {directory} lacks {lacking}")
    return directory


def _build(argv: list[str], build_timeout: float) -> Path:
    """Run a build script (its progress on this process's stderr); the bin dir it printed last."""
    name = Path(argv[0]).name
    if shutil.which("go") is None:
        raise ToolchainMissing(f"go not found: install Go >= 1.26 and run tools/kube/{name}")
    proc = subprocess.run(["bash", *argv], check=False, stdout=subprocess.PIPE, text=True, timeout=build_timeout)
    if proc.returncode == 3:  # the build scripts: go missing
        raise ToolchainMissing(f"go not found: install Go >= 1.26 and run tools/kube/{name}")
    if proc.returncode != 0:
        raise BuildFailed(f"tools/kube/{name} failed with exit code {proc.returncode}")
    return Path(proc.stdout.strip().splitlines()[-1])
