"""The README's "Try it on a local cluster" section, run as written (bash, kubectl on PATH) on the node
cluster, in its default namespace, with what each demo prints checked — so the front door cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.cluster import REPO_ROOT, NodeCluster

SECTION = "## Try it on a local cluster"


def _demo_blocks() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_starts_with_make_cluster_and_its_exports() -> None:
    setup = _demo_blocks()[0]
    assert setup.splitlines() == [
        "make cluster",
        "export KUBECONFIG=$PWD/.cluster/kubeconfig PATH=$PWD/.cluster/bin:$PATH",
    ]


@pytest.fixture
def readme_shell(node_cluster: NodeCluster) -> Iterator[Callable[[str], str]]:
    """bash as a reader has it after the set-up block, pointed at the session's cluster (not .cluster)."""
    env = {
        **os.environ,
        "KUBECONFIG": str(node_cluster.kubeconfig_path),
        "PATH": f"{node_cluster.kubectl_path.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }

    def run(block: str) -> str:
        proc = subprocess.run(
            ["timeout", "180", "bash", "-euo", "pipefail", "-c", block],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{block}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    yield run
    for kind, name in (("pod", "downward"), ("pod", "curl-with-ambassador"), ("role", "pod-reader"),
                       ("rolebinding", "pod-reader")):  # fmt: skip
        node_cluster.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)


def test_the_seed_demos_print_what_the_readme_says(readme_shell: Callable[[str], str]) -> None:
    _, env_demo, files_demo, ambassador_demo = _demo_blocks()

    env = readme_shell(env_demo)
    assert "POD_NAME=downward\n" in env
    assert "CONTAINER_CPU_REQUEST_MILLICORES=15\n" in env
    assert "CONTAINER_MEMORY_LIMIT_KIBIBYTES=4096\n" in env

    files = readme_shell(files_demo)
    assert files.startswith('foo="bar"4194304')  # `cat` of two files: no newline between them
    assert files.rstrip().endswith('foo="baz"')

    out = readme_shell(ambassador_demo)
    assert '"gitVersion"' in out
    assert '"code": 403' in out
    assert '"kind": "PodList"' in out
    assert out.index('"code": 403') < out.index('"kind": "PodList"')
