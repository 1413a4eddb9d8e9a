"""The node's own Linux namespaces: network, mount and PID, held by tini, entered with nsenter.

Everything of the node cluster runs inside them, so everything it makes there dies with them:
- network: a namespace with no link to the host. The node address and the pod and Service ranges exist only
  in it, so nothing inside can reach anything outside; the one way in is the loopback port forward to the
  apiserver (forward.py), whose listening socket is made in the host's namespace and handed in.
- mount: / is a slave of the host's (host mounts show inside, none of ours leak out); kubelet's volume
  mounts, containerd's overlays and netns bind mounts, and a tmpfs over each path that kubelet, containerd
  and CNI write whatever they are configured to (PRIVATE_DIRS) vanish with it.
- PID: tini is its init. When tini dies (``make cluster-down``, or the test process being killed: unshare
  gets a parent-death signal and takes tini with it), the kernel kills every process of the node, shims
  and containers included.
What outlives it on the host is in leftovers.py.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.cluster import leftovers
from tests.e2e.cluster.procs import ClusterError, Proc, Processes

#: Paths kubelet, containerd and the CNI plugins write whatever their configuration says: a private tmpfs
#: over each (the mount point itself is made on the host when missing, and removed by leftovers.py).
PRIVATE_DIRS = (
    "/run/containerd",  # shim sockets (/run/containerd/s/...)
    "/run/netns",  # the pods' network namespaces (/var/run/netns/cni-...)
    "/var/lib/cni",  # libcni's result cache
    "/var/lib/kubelet",  # device-plugins/, made despite --root-dir
    "/var/log/containers",  # kubelet's symlinks to container logs
    "/var/log/pods",
)


@dataclass
class Sandbox:
    """The holder process (unshare -> tini) and how to run a program inside its namespaces."""

    unshare: Proc
    init_pid: int  # tini, seen from the host

    @classmethod
    def create(cls, procs: Processes, state: Path, timeout: float = 10.0) -> Sandbox:
        for tool in ("unshare", "nsenter", "tini", "ip", "mount"):
            if shutil.which(tool) is None:
                raise ClusterError(f"{tool} not found: the node needs util-linux, iproute2 and tini (make node-tools)")
        unshare = procs.spawn(
            "sandbox",
            [
                "unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
                "--propagation", "slave", "--",
                "tini", "--", "sleep", "infinity",
            ],
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        children = Path(f"/proc/{unshare.popen.pid}/task/{unshare.popen.pid}/children")
        while True:
            if not unshare.alive():
                raise unshare.failure("exited while creating the node's namespaces")
            pids = children.read_text().split() if children.exists() else []
            # tini exists and has made sleep: the PID namespace has its init, the mounts are in place.
            if pids and Path(f"/proc/{pids[0]}/task/{pids[0]}/children").read_text().split():
                break
            if time.monotonic() > deadline:
                raise unshare.failure("did not create the node's namespaces in time")
            time.sleep(0.02)
        sandbox = cls(unshare, int(pids[0]))
        sandbox._private_mounts(state)
        return sandbox

    @property
    def prefix(self) -> list[str]:
        """``nsenter`` into the node: its network, mounts and PIDs, working directory unchanged."""
        return ["nsenter", f"--target={self.init_pid}", "--net", "--mount", "--pid", "--wd=."]

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A short command inside the node (ip, mount, iptables...), its output captured."""
        proc = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, check=False, timeout=60)
        if check and proc.returncode != 0:
            raise ClusterError(f"in the node: {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def _private_mounts(self, state: Path) -> None:
        leftovers.claim_host(state, PRIVATE_DIRS)
        for path in PRIVATE_DIRS:
            self.run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path)

    def alive(self) -> bool:
        return self.unshare.alive()
