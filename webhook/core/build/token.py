"""The ambassador's own token volume, for pods that mount no service account token.

Shaped exactly like the volume ServiceAccount admission adds (kubernetes v1.37.2,
plugin/pkg/admission/serviceaccount TokenVolumeSource): a bound token with the apiserver's 3607 s
(pkg/serviceaccount WarnOnlyBoundTokenExpirationSeconds; the kubelet refreshes it), the kube-root-ca.crt
ConfigMap's ca.crt and the namespace, so kubectl's in-cluster config finds token, ca.crt and namespace where
it always does. It is mounted in the ambassador alone: the app containers keep no credential.
"""

from __future__ import annotations

from typing import Any

TOKEN_VOLUME_BASE = "downward-ambassador-token"  # noqa: S105 - a volume name, not a secret; never kube-api-access-*
EXPIRATION_SECONDS = 3607  # the apiserver's own choice for the tokens it mounts
DEFAULT_MODE = 0o644  # corev1.ProjectedVolumeSourceDefaultMode, written out as the apiserver does


def token_volume(name: str) -> dict[str, Any]:
    """The projected volume: token, ca.crt, namespace (in the apiserver's defaulted form)."""
    namespace_item = {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
    return {
        "name": name,
        "projected": {
            "defaultMode": DEFAULT_MODE,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [namespace_item]}},
            ],
        },
    }
