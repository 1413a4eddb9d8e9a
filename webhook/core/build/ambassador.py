"""The kubectl-proxy ambassador container: loopback only, the pod's service account, PodSecurity "restricted"."""

from __future__ import annotations

from typing import Any

from ..config import Config

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"  # noqa: S105 - a path, not a secret


def proxy_url(config: Config) -> str:
    """Where app containers reach the proxy (their KUBE_API_PROXY_URL)."""
    return f"http://127.0.0.1:{config.ambassador.port}"


def ambassador_container(config: Config, token_volume: str | None) -> dict[str, Any]:
    """The container, mounting `token_volume` (the pod's kube-api-access-*, or our own from build/token.py)
    where kubectl's in-cluster config looks for a token.

    ServiceAccount admission ran before us and mounted the token into the containers it saw; ours is new,
    so it mounts the same volume itself (read-only, where kubectl's in-cluster config looks for it).
    """
    amb = config.ambassador
    container: dict[str, Any] = {
        "name": amb.name,
        "image": amb.image,
        "imagePullPolicy": amb.image_pull_policy,
        "command": [
            "/bin/kubectl",
            "proxy",
            "--address=127.0.0.1",
            f"--port={amb.port}",
            r"--accept-hosts=^(localhost|127\.0\.0\.1)$",
        ],
        "resources": {"requests": dict(amb.requests), "limits": dict(amb.limits)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": amb.run_as_user,
            "runAsGroup": amb.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # kubectl with an empty kubeconfig asks the proxy itself: the probe passes once it serves.
        "startupProbe": {
            "exec": {
                "command": [
                    "/bin/kubectl",
                    "--kubeconfig=/dev/null",
                    f"--server={proxy_url(config)}",
                    "--request-timeout=2s",
                    "get",
                    "--raw=/version",
                ]
            },
            "periodSeconds": 1,
            "timeoutSeconds": 3,
            "failureThreshold": 60,
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if token_volume is not None:
        container["volumeMounts"] = [{"name": token_volume, "mountPath": TOKEN_MOUNT_PATH, "readOnly": True}]
    if amb.mode == "native":
        container["restartPolicy"] = "Always"
    return container
