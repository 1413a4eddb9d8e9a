"""The Kubernetes releases the e2e suite runs its control-plane tests on: one pin each under tools/kube.

The newest pin (tools/kube/go.mod) builds every binary, node included; an older one (tools/kube/<minor>/go.mod,
e.g. 1.29, the oldest release the chart supports) builds its kube-apiserver, kube-controller-manager and etcd
only: helm, kubectl and the node are the newest release's whatever apiserver runs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tests.e2e.cluster.binaries import REPO_ROOT

KUBE_TOOLS = REPO_ROOT / "tools" / "kube"
#: A comma list of minors (``1.29``, ``1.37``): run the control-plane tests on those releases only.
SELECT_ENV = "DOWNWARD_E2E_K8S"


@dataclass(frozen=True)
class Release:
    """One pinned release: its Go module's directory."""

    pin_dir: Path

    @cached_property
    def version(self) -> str:
        """The pinned ``k8s.io/kubernetes`` version, e.g. ``v1.29.15``."""
        found = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", (self.pin_dir / "go.mod").read_text(), re.MULTILINE)
        if found is None:
            raise ValueError(f"k8s.io/kubernetes is not in {self.pin_dir / 'go.mod'}")
        return found.group(1)

    @property
    def minor(self) -> str:
        """``1.29`` for ``v1.29.15``."""
        return ".".join(self.version.removeprefix("v").split(".")[:2])

    @property
    def newest(self) -> bool:
        """The pin that also builds kubectl, helm and the node (tools/kube/build.sh)."""
        return self.pin_dir == KUBE_TOOLS

    @property
    def id(self) -> str:
        """The pytest id: ``k8s1.29``."""
        return f"k8s{self.minor}"


def pinned() -> tuple[Release, ...]:
    """Every pin, the newest first."""
    older = [Release(d) for d in KUBE_TOOLS.glob("1.*") if (d / "go.mod").is_file()]
    older.sort(key=lambda r: tuple(int(part) for part in r.minor.split(".")), reverse=True)
    return (Release(KUBE_TOOLS), *older)


def selected() -> tuple[Release, ...]:
    """The pins ``$DOWNWARD_E2E_K8S`` names (all when unset); ValueError naming the known ones otherwise."""
    releases = pinned()
    wanted = [part.strip().removeprefix("v") for part in os.environ.get(SELECT_ENV, "").split(",") if part.strip()]
    if not wanted:
        return releases
    by_minor = {r.minor: r for r in releases}
    unknown = [w for w in wanted if w not in by_minor]
    if unknown:
        raise ValueError(
            f"${SELECT_ENV}={','.join(wanted)}: no pin for {', '.join(unknown)} (pinned: {', '.join(by_minor)})"
        )
    return tuple(r for r in releases if r.minor in wanted)


NEWEST = pinned()[0]
