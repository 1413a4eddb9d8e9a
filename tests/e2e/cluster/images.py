"""The images the node runs, built here (no registry is reachable) and cached by their inputs.

Built with buildah (Debian's package; no daemon, Dockerfiles as written) from Debian packages
(mmdebstrap), Go binaries built by tools/kube/build.sh and this repository, saved as OCI archives under
``~/.cache/downward-webhook/images`` and imported into the node's containerd under the names the chart,
the webhook's configuration and the seed's manifests use, so that no pull is ever needed:

| name | what |
|---|---|
| ghcr.io/downward-dev/downward-webhook:<appVersion> | the repository's Dockerfile on a Debian-made Python base |
| registry.k8s.io/kubectl:<pinned Kubernetes> | the ambassador: the kubectl built from the pinned release |
| docker.io/library/busybox:latest | the seed's ``busybox``: Debian's busybox-static |
| docker.io/tutum/curl:latest | the seed's ``tutum/curl``: bash and curl from Debian |
| localhost/downward/pause:1 | the pods' sandbox: tools/images/pause |
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.e2e.cluster.binaries import REPO_ROOT, Binaries
from tests.e2e.cluster.node import PAUSE_IMAGE

CACHE = Path(os.environ.get("DOWNWARD_KUBE_CACHE", Path.home() / ".cache" / "downward-webhook")) / "images"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
PYTHON_BASE = "localhost/downward/python:3.11-slim-bookworm"
CHART = REPO_ROOT / "charts" / "downward-webhook"
#: The Dockerfile's EXTRAS for the node's webhook image: it also runs the chart's checkJob.
WEBHOOK_EXTRAS = "check"
#: The package tooling the official python image carries under /usr/local, which the Dockerfile removes.
PIP_WHEELS = ("pip==26.3", "setuptools==84.2.1", "wheel==0.45.1")  # wheel >= 0.46 needs `packaging`


class ImageBuildFailed(RuntimeError):
    """A build step failed; the message names it and carries its output's tail."""


def _run(argv: list[str], what: str, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd, env=env)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()[-25:]
        raise ImageBuildFailed(f"{what} failed ({proc.returncode}): {' '.join(argv[:6])}...\n" + "\n".join(output))
    return str(proc.stdout)


def _digest(*parts: bytes | str | Path) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.read_bytes() if part.is_file() else b"")
        else:
            h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _tree(*paths: Path) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += (
            [p for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
            if path.is_dir()
            else [path]
        )
    return files


class Buildah:
    """buildah with storage of its own under the cache (overlay driver; chroot isolation needs no daemon)."""

    def __init__(self, root: Path) -> None:
        if shutil.which("buildah") is None:
            raise ImageBuildFailed("buildah not found: run `make node-tools` (apt-get install buildah mmdebstrap ...)")
        self.base = [
            "buildah",
            "--root",
            str(root / "storage"),
            "--runroot",
            str(root / "run"),
            "--storage-driver",
            "overlay",
        ]

    def __call__(self, *args: str, what: str = "buildah") -> str:
        return _run([*self.base, *args], what).strip()

    def from_scratch(
        self, name: str, files: Iterable[tuple[Path, str]], config: Iterable[str], run: Iterable[str] = ()
    ) -> None:
        """An image of ``files`` (host path, image path) with ``buildah config`` options, committed as ``name``."""
        c = self("from", "scratch")
        try:
            for source, target in files:
                self("copy", "--chmod", "0755", c, str(source), target)
            for command in run:
                self("run", "--isolation", "chroot", c, "--", *command.split(), what=f"buildah run {command}")
            self("config", *config, c)
            self("commit", "--rm", "--quiet", c, name)
        except BaseException:
            subprocess.run([*self.base, "rm", c], capture_output=True, check=False)  # no builder left behind
            raise

    def save(self, name: str, archive: Path) -> None:
        tmp = archive.with_suffix(".partial")
        self("push", "--quiet", name, f"oci-archive:{tmp}:{name}", what=f"saving {name}")
        tmp.rename(archive)


@dataclass(frozen=True)
class Image:
    name: str
    key: str
    build: Callable[[Buildah], None]

    @property
    def archive(self) -> Path:
        slug = self.name.replace("/", "_").replace(":", "_")
        return CACHE / f"{slug}-{self.key}.tar"


def _mmdebstrap(out: Path, include: str, hooks: Iterable[str] = ()) -> None:
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildFailed("mmdebstrap not found: run `make node-tools`")
    excludes = ["path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*",
                "path-include=/usr/share/locale/locale.alias", "path-exclude=/usr/share/doc/*",
                "path-include=/usr/share/doc/*/copyright"]  # fmt: skip
    argv = ["mmdebstrap", "--variant=minbase", '--aptopt=Apt::Install-Recommends "false"', f"--include={include}"]
    argv += [f"--dpkgopt={e}" for e in excludes] + [f"--customize-hook={h}" for h in hooks]
    _run([*argv, "bookworm", str(out), *MIRRORS], f"mmdebstrap {include}")


def _rootfs_image(buildah: Buildah, rootfs: Path, name: str, config: Iterable[str]) -> None:
    c = buildah("from", "scratch")
    buildah("add", c, str(rootfs), "/")
    buildah("config", *config, c)
    buildah("commit", "--rm", "--quiet", c, name)


def _python_hooks(wheels: Path, pip_wheel: str) -> tuple[str, ...]:
    # A wheel is a zip that Python runs from; its name must be spelled out (a glob cannot reach inside it).
    return (
        # usrmerge comes in with usr-is-merged and brings ~45 MB of perl; the official image has neither.
        'chroot "$1" dpkg --purge usrmerge libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl perl '
        "perl-modules-5.36 libperl5.36",
        f'mkdir "$1/tmp/wheels" && cp {wheels}/*.whl "$1/tmp/wheels/"',
        # pip, setuptools and wheel under /usr/local with RECORD files, as in the official image, so the
        # Dockerfile's `pip uninstall` removes them; Debian's python3-pip could not be uninstalled that way.
        f'chroot "$1" python3 /tmp/wheels/{pip_wheel}/pip install --no-index --find-links /tmp/wheels '
        "--break-system-packages pip setuptools wheel",
        'rm -rf "$1/tmp/wheels" "$1/usr/lib/python3.11/EXTERNALLY-MANAGED"',
    )


DEFAULT_ENV = ["--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--env", "LANG=C.UTF-8"]


def _python_base(buildah: Buildah, key: str) -> None:
    """python:3.11-slim-bookworm's layout, made from Debian packages (the Dockerfile's PYTHON_IMAGE)."""
    tarball = CACHE / f"debian-python-{key}.tar"
    if not tarball.exists():
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            wheels = Path(tmp) / "wheels"
            _run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
                  "--python-version", "3.11", "-d", str(wheels), *PIP_WHEELS], "downloading pip wheels")  # fmt: skip
            include = "usr-is-merged,python3,python-is-python3,ca-certificates"
            pip_wheel = next(wheels.glob("pip-*.whl")).name
            _mmdebstrap(Path(tmp) / "rootfs.tar", include, _python_hooks(wheels, pip_wheel))
            (Path(tmp) / "rootfs.tar").rename(tarball)
    _rootfs_image(buildah, tarball, PYTHON_BASE, [*DEFAULT_ENV, "--cmd", '["python3"]'])


def webhook_image_name() -> str:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return f"{values['image']['repository']}:{chart['appVersion']}"


def ambassador_image_name() -> str:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return str(values["config"]["ambassador"]["image"])


def images(bins: Binaries) -> list[Image]:
    """Every image of the node, each keyed by what it is built from."""
    base_key = _digest(repr(_python_hooks(Path("W"), "P")), repr(PIP_WHEELS), repr(MIRRORS))
    webhook_inputs = _tree(REPO_ROOT / "Dockerfile", REPO_ROOT / ".dockerignore", REPO_ROOT / "pyproject.toml",
                           REPO_ROOT / "README.md", REPO_ROOT / "webhook")  # fmt: skip
    webhook_name = webhook_image_name()
    kubectl_name = ambassador_image_name()
    k8s = bins.versions()["k8s"]
    if not kubectl_name.endswith(f":{k8s}"):
        raise ImageBuildFailed(f"the chart's ambassador image {kubectl_name} is not the kubectl built here ({k8s})")
    pause_src = REPO_ROOT / "tools" / "images" / "pause"
    busybox = _run(["dpkg-query", "-W", "-f=${Version}", "busybox-static"], "busybox-static installed?")

    def webhook(buildah: Buildah) -> None:
        _python_base(buildah, base_key)
        mounts = [f"{p}:{p}:ro" for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf") if Path(p).exists()]
        # The host's CA bundle and pip.conf, mounted for RUN only: the package index is reached through a
        # proxy whose CA only the host trusts. Nothing of them lands in the image.
        # EXTRAS=check: the same image also runs the chart's checkJob (`downward-webhook check -A`).
        buildah("bud", "--isolation", "chroot", *(f"--volume={m}" for m in mounts), "--build-arg",
                f"PYTHON_IMAGE={PYTHON_BASE}", "--build-arg", f"EXTRAS={WEBHOOK_EXTRAS}", "--tag", webhook_name, str(REPO_ROOT),
                what="building the webhook image")  # fmt: skip

    def kubectl(buildah: Buildah) -> None:
        buildah.from_scratch(kubectl_name, [(bins.kubectl, "/bin/kubectl")],
                             ["--user", "65532:65532", "--entrypoint", '["/bin/kubectl"]'])  # fmt: skip

    def busybox_image(buildah: Buildah) -> None:
        buildah.from_scratch("docker.io/library/busybox:latest", [(Path("/bin/busybox"), "/bin/busybox")],
                             [*DEFAULT_ENV, "--cmd", '["sh"]'], run=["/bin/busybox --install -s /bin"])  # fmt: skip

    def curl(buildah: Buildah) -> None:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            _mmdebstrap(Path(tmp) / "rootfs.tar", "curl,ca-certificates")
            _rootfs_image(
                buildah, Path(tmp) / "rootfs.tar", "docker.io/tutum/curl:latest", [*DEFAULT_ENV, "--cmd", '["bash"]']
            )

    def pause(buildah: Buildah) -> None:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            binary = Path(tmp) / "pause"
            env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
            _run(
                ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."],
                "building pause",
                cwd=pause_src,
                env=env,
            )
            buildah.from_scratch(
                PAUSE_IMAGE, [(binary, "/pause")], ["--user", "65535:65535", "--entrypoint", '["/pause"]']
            )

    return [
        Image(
            webhook_name,
            _digest(
                base_key, WEBHOOK_EXTRAS, *webhook_inputs, *(str(p.relative_to(REPO_ROOT)) for p in webhook_inputs)
            ),
            webhook,
        ),
        Image(kubectl_name, _digest(bins.kubectl), kubectl),
        Image("docker.io/library/busybox:latest", _digest(busybox), busybox_image),
        Image("docker.io/tutum/curl:latest", _digest(repr(MIRRORS), "curl,ca-certificates"), curl),
        Image(PAUSE_IMAGE, _digest(*_tree(pause_src)), pause),
    ]


def build_all(bins: Binaries, log: Callable[[str], None] = print) -> list[Image]:
    """Build the images whose archive is not cached yet; returns them all.

    One build at a time on the machine (a lock): buildah's storage is shared, and two checkouts tag the
    webhook image under one name. Superseded archives and untagged images are pruned, keeping the newest
    KEEP archives of each image (other checkouts may still use them).
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = images(bins)
    with (CACHE / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [image for image in wanted if not image.archive.exists()]
        if missing:
            buildah = Buildah(CACHE / "buildah")
            for image in missing:
                log(f"building image {image.name}")
                image.build(buildah)
                buildah.save(image.name, image.archive)
            buildah("rmi", "--prune", what="pruning untagged images")
            for image in wanted:
                _prune_archives(image)
    return wanted


KEEP = 3


def _prune_archives(image: Image) -> None:
    prefix = image.archive.name[: -len(f"{image.key}.tar")]
    older = sorted(CACHE.glob(f"{prefix}*.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [p for p in older if p != image.archive][KEEP - 1 :]:
        old.unlink(missing_ok=True)
