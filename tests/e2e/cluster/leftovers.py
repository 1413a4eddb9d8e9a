"""What a node cluster leaves on the host after its namespaces are gone, and how it is undone.

The sandbox takes the node's processes, mounts, network, bridges and iptables rules with it (sandbox.py).
Three things are the host's own and outlive it:
- the pods' cgroups, under a cgroup root of the cluster's own in every v1 hierarchy;
- the global sysctls kubelet sets on every start (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops);
- the empty mount points made for the private tmpfs mounts.
A record in the state directory (instance.json) names them, so a later start or ``make cluster-down``
undoes them even after a crash. The mount points are shared by every node cluster on the machine (the
suite's, ``make cluster``'s, a second worktree's): removing one while another cluster has its tmpfs there
would detach that mount in the other's namespace, so the last cluster out removes them (SHARED). The
sysctls are global too: the first cluster in records them, the last one out restores them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

CGROUP_MOUNT = Path("/sys/fs/cgroup")
#: Set by kubelet on every start (protectKernelDefaults false), global to the machine.
KUBELET_SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
RECORD = "instance.json"
#: Which clusters use the host's mount points, and which of those points a cluster made (made-dirs).
#: One per machine user, whatever DOWNWARD_KUBE_CACHE says: every cluster on the machine must see it.
SHARED = Path.home() / ".cache" / "downward-webhook" / "clusters"


@contextlib.contextmanager
def _shared() -> Iterator[Path]:
    """SHARED, locked against the other clusters' starts and stops."""
    (SHARED / "users").mkdir(parents=True, exist_ok=True)
    with (SHARED / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield SHARED


def _user(state: Path) -> str:
    return hashlib.sha256(str(state).encode()).hexdigest()[:16]


def claim_host(state: Path, paths: Iterable[str]) -> None:
    """Record that ``state``'s cluster uses the host: the sysctls as they are before any cluster ran, and
    which of the mount points ``paths`` it makes (before making them: a crash in between still gets them
    removed); then make them."""
    with _shared() as shared:
        sysctls = shared / "sysctls.json"
        if not mount_point_users() or not sysctls.exists():
            sysctls.write_text(json.dumps(read_sysctls()))
        made = [p for p in paths if not Path(p).exists()]
        with (shared / "made-dirs").open("a") as out:
            out.writelines(f"{p}\n" for p in made)
        (shared / "users" / _user(state)).write_text(str(state))
        for path in paths:
            Path(path).mkdir(parents=True, exist_ok=True)


def mount_point_users() -> list[Path]:
    """State directories of the clusters that still run (and so have their tmpfs on the mount points)."""
    users = SHARED / "users"
    found = []
    for entry in users.iterdir() if users.exists() else ():
        state = Path(entry.read_text())
        # A cluster between its claim and its record (instance.json, written once its holder exists).
        starting = not (state / RECORD).exists() and time.time() - entry.stat().st_mtime < 120
        if starting or _running(state):
            found.append(state)
        else:
            entry.unlink(missing_ok=True)  # a cluster stopped or crashed: its namespace, and mounts, are gone
    return found


def _running(state: Path) -> bool:
    try:
        data = json.loads((state / RECORD).read_text())
    except (OSError, ValueError):
        return False
    return data.get("holderStart") is not None and start_time(int(data["holderPid"])) == data["holderStart"]


def _release_host(state: Path) -> list[str]:
    """Forget ``state``; the last cluster out restores the sysctls and removes the mount points made."""
    done: list[str] = []
    with _shared() as shared:
        (shared / "users" / _user(state)).unlink(missing_ok=True)
        if mount_point_users():
            return done
        sysctls = shared / "sysctls.json"
        for name, value in (json.loads(sysctls.read_text()) if sysctls.exists() else {}).items():
            target = Path("/proc/sys") / name
            if target.read_text().strip() != value:
                target.write_text(value)
                done.append(f"restored {name.replace('/', '.')}={value}")
        sysctls.unlink(missing_ok=True)
        made = shared / "made-dirs"
        for line in sorted(set(made.read_text().split()) if made.exists() else ()):
            with contextlib.suppress(OSError):  # not empty or already gone: then it is not ours to remove
                Path(line).rmdir()
                done.append(f"removed {line}")
        made.unlink(missing_ok=True)
    return done


def read_sysctls() -> dict[str, str]:
    return {name: (Path("/proc/sys") / name).read_text().strip() for name in KUBELET_SYSCTLS}


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat): tells a reused PID apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def cgroup_dirs(cgroup_root: str) -> list[Path]:
    """The cluster's cgroup root in every hierarchy: each v1 controller, name=systemd, and runc's unified one."""
    return [d / cgroup_root.strip("/") for d in sorted(CGROUP_MOUNT.iterdir()) if (d / "cgroup.procs").exists()]


def make_cgroup_root(cgroup_root: str) -> None:
    """kubelet refuses a cgroupRoot that does not exist."""
    for path in cgroup_dirs(cgroup_root):
        path.mkdir(exist_ok=True)


def record(state: Path, *, holder_pid: int, cgroup_root: str) -> None:
    data = {
        "holderPid": holder_pid,
        "holderStart": start_time(holder_pid),
        "cgroupRoot": cgroup_root,
    }
    (state / RECORD).write_text(json.dumps(data, indent=2))


def undo(state: Path, timeout: float = 30.0) -> list[str]:
    """Kill a recorded cluster that may still run, then undo what it left; returns what was done."""
    path = state / RECORD
    if not path.exists():
        return []
    data: dict[str, Any] = json.loads(path.read_text())
    done: list[str] = []
    pid = int(data["holderPid"])
    if data.get("holderStart") is not None and start_time(pid) == data["holderStart"]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # unshare -> tini -> the whole PID namespace
        done.append(f"killed the node (pid {pid})")
    deadline = time.monotonic() + timeout
    while start_time(pid) == data.get("holderStart") and time.monotonic() < deadline:
        time.sleep(0.1)
    done += _remove_cgroups(str(data["cgroupRoot"]), deadline)
    done += _release_host(state)
    path.unlink()
    return done


def _remove_cgroups(cgroup_root: str, deadline: float) -> list[str]:
    """rmdir the cluster's cgroups deepest first; a cgroup stays busy until its last task is reaped."""
    done = []
    for top in cgroup_dirs(cgroup_root):
        if not top.exists():
            continue
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for d in [*dirs, top]:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        done.append(f"removed cgroup {top}")
    return done
