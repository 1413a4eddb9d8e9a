"""What a node cluster leaves on the host after its namespaces are gone, and how it is undone.

The sandbox takes the node's processes, mounts, network, bridges and iptables rules with it (sandbox.py).
Three things are the host's own and outlive it:
- the pods' cgroups, under a cgroup root of the cluster's own in every v1 hierarchy;
- the global sysctls kubelet sets on every start (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops);
- the empty mount points made for the private tmpfs mounts.
A record in the state directory (instance.json) names them, so a later start or ``make cluster-down``
undoes them even after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

CGROUP_MOUNT = Path("/sys/fs/cgroup")
#: Set by kubelet on every start (protectKernelDefaults false), global to the machine.
KUBELET_SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
RECORD = "instance.json"


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


def record(state: Path, *, holder_pid: int, cgroup_root: str, sysctls: dict[str, str]) -> None:
    data = {
        "holderPid": holder_pid,
        "holderStart": start_time(holder_pid),
        "cgroupRoot": cgroup_root,
        "sysctls": sysctls,
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
    for name, value in data["sysctls"].items():
        target = Path("/proc/sys") / name
        if target.read_text().strip() != value:
            target.write_text(value)
            done.append(f"restored {name.replace('/', '.')}={value}")
    made = state / "made-dirs"
    if made.exists():
        for line in made.read_text().splitlines():
            with contextlib.suppress(OSError):  # not empty or already gone: then it is not ours to remove
                Path(line).rmdir()
                done.append(f"removed {line}")
        made.unlink()
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
