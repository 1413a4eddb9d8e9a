"""The pods the benchmarks send, as the apiserver sends them to a mutating webhook.

Every pod opts in (`downward.dev/inject: "true"`) and carries what the apiserver has added by the time
mutating webhooks run: defaulted fields, the default tolerations, and the projected kube-api-access token
volume mounted into every container (ServiceAccount admission).

    small    ~2 KB    one container, 4 env vars
    typical  ~20 KB   two containers, 120 env vars in all
    large    ~300 KB  20 containers, 1000 env vars in all
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import orjson

SA_VOLUME = "kube-api-access-7x2kq"
SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
NAMESPACE = "bench"


@dataclass(frozen=True, slots=True)
class PodSize:
    name: str
    containers: int
    env_vars: int  # in all, spread evenly over the containers
    value_length: int  # of each env var's value: sets the body size


SIZES = (
    PodSize("small", containers=1, env_vars=4, value_length=16),
    PodSize("typical", containers=2, env_vars=120, value_length=100),
    PodSize("large", containers=20, env_vars=1000, value_length=245),
)
SIZE_BY_NAME = {size.name: size for size in SIZES}


def _value(index: int, length: int) -> str:
    text = f"value-{index:04d}-" + "abcdefghijklmnopqrstuvwxyz0123456789" * (length // 36 + 1)
    return text[:length]


def _container(index: int, env: int, value_length: int, *, admitted: bool) -> dict[str, Any]:
    name = "app" if index == 0 else f"sidecar-{index}"
    container: dict[str, Any] = {
        "name": name,
        "image": f"registry.example.com/team/{name}:1.4.{index}",
        "command": ["/bin/server"],
        "args": ["--listen=:8080", "--log-format=json"],
        "ports": [{"name": "http", "containerPort": 8080 + index, "protocol": "TCP"}],
        "env": [{"name": f"SETTING_{index:02d}_{i:04d}", "value": _value(i, value_length)} for i in range(env)],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": 8080 + index, "scheme": "HTTP"},
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if admitted:
        container["volumeMounts"] = [{"name": SA_VOLUME, "readOnly": True, "mountPath": SA_MOUNT_PATH}]
    return container


def pod(size: PodSize, *, admitted: bool = True) -> dict[str, Any]:
    """A pod of that size; `admitted=False`: as a client creates it (before ServiceAccount admission)."""
    per_container = [size.env_vars // size.containers] * size.containers
    per_container[0] += size.env_vars - sum(per_container)
    spec: dict[str, Any] = {
        "containers": [_container(i, env, size.value_length, admitted=admitted) for i, env in enumerate(per_container)],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "schedulerName": "default-scheduler",
        "enableServiceLinks": True,
    }
    metadata: dict[str, Any] = {
        "generateName": f"bench-{size.name}-",
        "namespace": NAMESPACE,
        "labels": {"app.kubernetes.io/name": "bench", "app.kubernetes.io/component": size.name},
        "annotations": {"downward.dev/inject": "true"},
    }
    if admitted:
        spec["serviceAccount"] = "default"
        spec["volumes"] = [
            {
                "name": SA_VOLUME,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    }
                                ]
                            }
                        },
                    ],
                },
            }
        ]
        spec["tolerations"] = [
            {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
        ]
        spec["priority"] = 0
        spec["preemptionPolicy"] = "PreemptLowerPriority"
        metadata["creationTimestamp"] = None
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": {}}


def review(size: PodSize, uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002") -> dict[str, Any]:
    """The AdmissionReview the apiserver POSTs for a CREATE of that pod."""
    kind = {"group": "", "version": "v1", "kind": "Pod"}
    resource = {"group": "", "version": "v1", "resource": "pods"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": kind,
            "resource": resource,
            "requestKind": copy.deepcopy(kind),
            "requestResource": copy.deepcopy(resource),
            "name": "",
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "0f4c5fcb-61b5-4bbc-8b5e-6b0e4d4c2a11",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
            },
            "object": pod(size),
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def review_body(size: PodSize) -> bytes:
    return orjson.dumps(review(size))


if __name__ == "__main__":
    for each in SIZES:
        print(f"{each.name:8} {len(review_body(each)):8} bytes")
