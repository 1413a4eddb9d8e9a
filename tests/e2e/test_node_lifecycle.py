"""The harness cleans up after itself: a crashed cluster is undone by the next start, and a stop leaves
nothing on the host — processes, mounts, cgroups, sysctls, iptables rules, directories.

These start clusters of their own (no chart), in their own state directories, next to the session's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cluster import REPO_ROOT, Binaries, NodeCluster, leftovers

CRASH = """
import os, signal, sys
from pathlib import Path
from tests.e2e.cluster import NodeCluster, Binaries
cluster = NodeCluster(Path(sys.argv[1]), Binaries.from_dir(Path(sys.argv[2])), detached=sys.argv[3] == "detached")
cluster.start()
print(cluster.state.joinpath("instance.json").read_text(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # a crash: no stop, no atexit, no finally
"""


def _host_iptables() -> str:
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith("#"))


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


def _mounts_under(path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in line]


def _crash(state: Path, bins: Binaries, mode: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, str(state), str(bins.bin_dir), mode],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert (state / "instance.json").exists()


@pytest.mark.parametrize("mode", ["attached", "detached"])
def test_a_start_after_a_crash_recovers_and_a_stop_leaves_nothing(
    kube_binaries: Binaries, tmp_path: Path, mode: str
) -> None:
    """attached: the test process died (its node died with it, the host's leftovers stayed);
    detached: `make cluster` crashed after starting (the node still runs and holds its cgroups)."""
    if os.geteuid() != 0:
        pytest.skip("the node cluster needs root")
    state = tmp_path / "cluster"
    sysctls, iptables = leftovers.read_sysctls(), _host_iptables()
    _crash(state, kube_binaries, mode)
    crashed = NodeCluster(state, kube_binaries)  # only to name the old cluster's cgroup root
    assert [d for d in leftovers.cgroup_dirs(crashed.cgroup_root) if d.exists()], "the crash left no cgroups?"

    log: list[str] = []
    cluster = NodeCluster(state, kube_binaries, log=log.append)
    try:
        cluster.start()
        assert any(line.startswith("cleaned up an earlier cluster: removed cgroup") for line in log), log
        if mode == "detached":
            assert any("killed the node" in line for line in log), log
        assert "Ready" in cluster.kubectl("get", "nodes", "--no-headers")
        made = (leftovers.SHARED / "made-dirs").read_text().split()
    finally:
        cluster.stop()

    assert not state.exists()
    assert not _processes_mentioning(str(state)), _processes_mentioning(str(state))
    assert not _mounts_under(state)
    assert not [d for d in leftovers.cgroup_dirs(cluster.cgroup_root) if d.exists()]
    assert leftovers.read_sysctls() == sysctls
    assert _host_iptables() == iptables
    # The mount points are shared with any other cluster still running (the session's): the last one removes them.
    if not leftovers.mount_point_users():
        assert not [d for d in made if Path(d).exists()]
