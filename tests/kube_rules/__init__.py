"""What the kube-apiserver does with a patched pod, for tests: patch, default, admit again, validate.

The schema (kubernetes_validate) sees shapes and types; the apiserver enforces much more in
pkg/apis/core/validation/validation.go. `check_pod` re-states the rules that matter to a downward-API
injector (the team's apiserver-rules.md reference), each complaint starting with the field path, so a
failing test says exactly which rule a patch broke. Where the apiserver is lax but the kubelet or our own
contract is not (a resourceFieldRef naming a missing container, a duplicate env name), the check is stricter
and says so in its message.
"""

from .apiserver import (
    as_reinvoked,
    default_pod,
    pod_create,
    service_account_mount,
    service_account_volume,
    serviceaccount_admission,
)
from .check import check_pod
from .containers import restricted_problems
from .patch import PatchRejected, apply_patch_like_apiserver
from .quantities import canonical_quantity
from .rules import (
    ENV_FIELD_PATHS,
    MIRROR_ANNOTATION,
    SERVICE_ACCOUNT_MOUNT_PATH,
    SERVICE_ACCOUNT_VOLUME_PREFIX,
    VOLUME_FIELD_PATHS,
    all_containers,
    is_dns_label,
)
from .schema import SCHEMA_VERSIONS, validate_schema

__all__ = [
    "ENV_FIELD_PATHS",
    "MIRROR_ANNOTATION",
    "SCHEMA_VERSIONS",
    "SERVICE_ACCOUNT_MOUNT_PATH",
    "SERVICE_ACCOUNT_VOLUME_PREFIX",
    "VOLUME_FIELD_PATHS",
    "PatchRejected",
    "all_containers",
    "apply_patch_like_apiserver",
    "as_reinvoked",
    "canonical_quantity",
    "check_pod",
    "default_pod",
    "is_dns_label",
    "pod_create",
    "restricted_problems",
    "service_account_mount",
    "service_account_volume",
    "serviceaccount_admission",
    "validate_schema",
]
