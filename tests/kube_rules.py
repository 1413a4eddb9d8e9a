"""What the kube-apiserver does with a patched pod, for tests: patch, default, admit again, validate.

The schema (kubernetes_validate) sees shapes and types; the apiserver enforces much more in
pkg/apis/core/validation/validation.go. `check_pod` re-states the rules that matter to a downward-API
injector (the team's apiserver-rules.md reference), each complaint starting with the field path, so a
failing test says exactly which rule a patch broke. Where the apiserver is lax but the kubelet or our own
contract is not (a resourceFieldRef naming a missing container, a duplicate env name), the check is stricter
and says so in its message.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import jsonpatch
import jsonschema  # type: ignore[import-untyped]  # no stubs in the venv (types-jsonschema)
import kubernetes_validate
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from webhook.core.answer import AdmissionRequest

# The oldest and newest Kubernetes versions we support: native sidecars (init containers with
# restartPolicy: Always) are beta and on by default from 1.29.
SCHEMA_VERSIONS: tuple[str, ...] = ("1.29", "1.37")

SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_VOLUME_PREFIX = "kube-api-access-"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

# --- validation.go, restated -------------------------------------------------------------------------------

ENV_FIELD_PATHS = frozenset(
    {
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    }
)
VOLUME_FIELD_PATHS = frozenset(
    {"metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations", "metadata.uid"}
)
RESOURCES = frozenset(
    {
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
    }
)
HUGEPAGES_PREFIXES = ("requests.hugepages-", "limits.hugepages-")
CPU_DIVISORS = frozenset({"1m", "1"})
MEMORY_DIVISORS = frozenset({"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"})
VALUE_FROM_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle")
# validateWindows: fields a pod with spec.os.name "windows" may not set on a container.
LINUX_ONLY_SECURITY = (
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "capabilities",
    "readOnlyRootFilesystem",
    "privileged",
    "allowPrivilegeEscalation",
    "procMount",
    "runAsUser",
    "runAsGroup",
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# The env var name rule before RelaxedEnvironmentVariableValidation (1.32 default-on, GA 1.34).
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SUBSCRIPTED = re.compile(r"^(metadata\.(?:labels|annotations))\['(.*)'\]$")


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS_LABEL.match(name))


def _is_qualified_name(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def all_containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field path, container) for every container, init container and ephemeral container."""
    spec = _dict(pod.get("spec"))
    for list_name in ("containers", "initContainers", "ephemeralContainers"):
        for index, container in enumerate(_list(spec.get(list_name))):
            yield f"spec.{list_name}[{index}]", _dict(container)


# --- quantities ----------------------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}


def canonical_quantity(text: str) -> str:
    """resource.Quantity's canonical string (what the apiserver stores and compares divisors by)."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a quantity")
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        value = number * 1024 ** _BINARY[suffix]
        if value.denominator == 1 and abs(value) >= 1024:
            for power in range(6, 0, -1):
                if value % 1024**power == 0:
                    return f"{value // 1024**power}{_suffix_of(power)}"
        suffix = ""  # below 1024, or not a whole number of bytes: the decimal form
    elif suffix[:1] in ("e", "E"):
        value = number * Fraction(10) ** int(suffix[1:])
        return _decimal(value, exponent_form=True)
    else:
        value = number * Fraction(10) ** _DECIMAL[suffix]
    return _decimal(value, exponent_form=False)


def _suffix_of(power: int) -> str:
    return next(suffix for suffix, p in _BINARY.items() if p == power)


def _decimal(value: Fraction, *, exponent_form: bool) -> str:
    if value == 0:
        return "0"
    # The largest exponent (a multiple of 3) that leaves a whole mantissa; values below 1n round up.
    for exponent in range(18, -12, -3):
        mantissa = value / Fraction(10) ** exponent
        if mantissa.denominator == 1:
            break
    else:
        exponent, mantissa = -9, Fraction(-(-value.numerator * 10**9 // value.denominator))
    suffix = (f"e{exponent}" if exponent else "") if exponent_form else _DECIMAL_SUFFIX[exponent]
    return f"{mantissa.numerator}{suffix}"


# --- JSON Patch like evanphx/json-patch v4 -------------------------------------------------------------------


class PatchRejected(AssertionError):
    """The apiserver would answer this patch with HTTP 500: pod creation breaks for everyone."""


def _tokens(path: str) -> list[str]:
    if path == "":
        raise PatchRejected('path "": evanphx/json-patch cannot add or replace the whole document')
    if not path.startswith("/"):
        raise PatchRejected(f"path {path!r}: a JSON pointer starts with /")
    tokens = path.split("/")[1:]
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise PatchRejected(f"path {path!r}: '~' must be escaped as ~0 (and '/' as ~1)")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _array_index(token: str, length: int, path: str) -> int:
    # The webhook must emit canonical indices; v4 also takes negative ones, which we never want.
    if not re.fullmatch(r"0|[1-9][0-9]*", token):
        raise PatchRejected(f"path {path!r}: {token!r} is not an array index")
    index = int(token)
    if index > length:
        raise PatchRejected(f"path {path!r}: index {index} is out of range (length {length})")
    return index


def _parent(document: Any, verb: str, path: str, tokens: list[str]) -> Any:
    parent = document
    for depth, token in enumerate(tokens):
        where = "/" + "/".join(tokens[: depth + 1])
        if isinstance(parent, dict):
            if parent.get(token) is None:
                raise PatchRejected(f"{verb} {path}: doc is missing path {where} (create the parent whole)")
            parent = parent[token]
        elif isinstance(parent, list):
            parent = parent[_array_index(token, len(parent) - 1, path)]
        else:
            raise PatchRejected(f"{verb} {path}: {where} is not an object or array")
    return parent


def _v4_apply(document: Any, ops: Iterable[Mapping[str, Any]]) -> Any:
    """An independent model of evanphx/json-patch v4 for the verbs a mutating webhook uses."""
    for op in ops:
        verb, path = op.get("op"), op.get("path")
        if verb not in ("add", "replace"):
            raise PatchRejected(f"op {verb!r}: a mutating webhook has no business with it")
        if not isinstance(path, str):
            raise PatchRejected(f"op {op!r} has no string path")
        if "value" not in op:
            raise PatchRejected(f"{verb} {path}: missing value")
        tokens = _tokens(path)
        parent, last, value = _parent(document, verb, path, tokens[:-1]), tokens[-1], copy.deepcopy(op["value"])
        if isinstance(parent, dict):
            parent[last] = value  # v4: add overwrites, replace of a missing member adds
        elif isinstance(parent, list) and verb == "add":
            parent.insert(len(parent) if last == "-" else _array_index(last, len(parent), path), value)
        elif isinstance(parent, list):
            parent[_array_index(last, len(parent) - 1, path)] = value
        else:
            raise PatchRejected(f"{verb} {path}: the parent is not an object or array")
    return document


def apply_patch_like_apiserver(pod: Mapping[str, Any], ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Apply `ops` to a copy of `pod` two ways (v4 model, python-json-patch: what `inject` uses) and insist they agree."""
    json.dumps(ops, allow_nan=False)  # the patch must be plain JSON
    for op in ops:
        _check_numbers(op.get("value"), f"patch value at {op.get('path')}")
    v4 = _v4_apply(copy.deepcopy(dict(pod)), ops)
    try:
        rfc = jsonpatch.apply_patch(copy.deepcopy(dict(pod)), [dict(op) for op in ops])
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        # e.g. replace of a missing member: v4 silently adds, RFC 6902 fails. Fragile, and never needed: use add.
        raise PatchRejected(f"python-json-patch (RFC 6902) refuses what v4 accepted: {error}") from None
    if rfc != v4:
        raise PatchRejected("python-json-patch and the v4 model disagree on the result")
    return v4  # type: ignore[no-any-return]


def _check_numbers(value: Any, where: str) -> None:
    for path, item in _walk(value, where):
        if isinstance(item, float):
            raise PatchRejected(f"{path}: {item!r} is a float; Kubernetes integers must be JSON integers")


def _walk(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    yield where, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")


# --- check_pod -----------------------------------------------------------------------------------------------


def check_pod(pod: Mapping[str, Any], *, before: Mapping[str, Any] | None = None) -> list[str]:
    """Every rule the apiserver (or the kubelet) enforces that the schema cannot see; [] when the pod is fine.

    With `before` (the pod as the webhook received it), also: service-account token volumes and mounts are
    untouched, and every container that was added meets PodSecurity "restricted".
    """
    problems: list[str] = []
    spec = _dict(pod.get("spec"))
    volumes = {v.get("name"): v for v in map(_dict, _list(spec.get("volumes")))}
    container_names = [c.get("name") for _, c in all_containers(pod)]

    problems.extend(
        f"{path}: {item!r} is a float, not an integer" for path, item in _walk(pod, "pod") if isinstance(item, float)
    )
    problems.extend(_check_volumes(spec, set(container_names)))
    seen: set[Any] = set()
    for where, container in all_containers(pod):
        name = container.get("name")
        if not isinstance(name, str) or not is_dns_label(name):
            problems.append(f"{where}.name: {name!r} is not a DNS-1123 label")
        if name in seen:
            problems.append(f"{where}.name: {name!r} is not unique across containers and initContainers")
        seen.add(name)
        problems.extend(_check_env(container, where, set(container_names)))
        problems.extend(_check_mounts(container, where, volumes))
        problems.extend(_check_restart_and_probes(container, where))
        if _dict(spec.get("os")).get("name") == "windows":
            security = _dict(container.get("securityContext"))
            problems.extend(
                f"{where}.securityContext.{key}: cannot be set for a windows pod"
                for key in LINUX_ONLY_SECURITY
                if key in security
            )
    if before is not None:
        problems.extend(_check_token_untouched(before, pod))
        old_names = {c.get("name") for _, c in all_containers(before)}
        for where, container in all_containers(pod):
            if container.get("name") not in old_names:
                problems.extend(restricted_problems(container, spec, where))
    return problems


def _check_items(items: Any, where: str, containers: set[Any], *, projected: bool) -> list[str]:
    problems = []
    paths: set[Any] = set()
    for index, raw in enumerate(_list(items)):
        at = f"{where}.items[{index}]"
        item = _dict(raw)
        path = item.get("path")
        if not isinstance(path, str) or not path:
            problems.append(f"{at}.path: Required value")
        elif path.startswith("/") or ".." in path.split("/") or path.startswith(".."):
            problems.append(f"{at}.path: {path!r} must be relative and may not contain or start with '..'")
        if path in paths:
            problems.append(f"{at}.path: {path!r} is duplicated" + ("" if projected else " (we never emit that)"))
        paths.add(path)
        if "mode" in item:
            problems.extend(_mode(item["mode"], f"{at}.mode"))
        sources = [key for key in ("fieldRef", "resourceFieldRef") if item.get(key) is not None]
        if len(sources) != 1:
            problems.append(f"{at}: exactly one of fieldRef or resourceFieldRef is required, got {sources}")
        if "fieldRef" in sources:
            problems.extend(_field_ref(item["fieldRef"], f"{at}.fieldRef", VOLUME_FIELD_PATHS, "a downwardAPI volume"))
        if "resourceFieldRef" in sources:
            problems.extend(_resource_ref(item["resourceFieldRef"], f"{at}.resourceFieldRef", containers, volume=True))
    return problems


def _mode(value: Any, where: str) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool):
        return [f"{where}: {value!r} must be an integer"]
    if not 0 <= value <= 0o777:
        return [f"{where}: {value} must be between 0 and 0777 (511)"]
    return []


def _check_volumes(spec: Mapping[str, Any], containers: set[Any]) -> list[str]:
    problems = []
    names: set[Any] = set()
    for index, raw in enumerate(_list(spec.get("volumes"))):
        where = f"spec.volumes[{index}]"
        volume = _dict(raw)
        name = volume.get("name")
        if not isinstance(name, str) or not is_dns_label(name):
            problems.append(f"{where}.name: {name!r} is not a DNS-1123 label of at most 63 characters")
        if name in names:
            problems.append(f"{where}.name: {name!r} is duplicated")
        names.add(name)
        sources = [key for key in volume if key != "name"]
        if len(sources) != 1:
            problems.append(f"{where}: exactly one volume source is required, got {sources}")
        if isinstance(name, str) and name.startswith(SERVICE_ACCOUNT_VOLUME_PREFIX):
            token_sources = [
                s for s in _list(_dict(volume.get("projected")).get("sources")) if "serviceAccountToken" in _dict(s)
            ]
            if not token_sources:
                problems.append(f"{where}.name: {name!r} is reserved for the service-account token volume")
        if "downwardAPI" in volume:
            api = _dict(volume["downwardAPI"])
            if "defaultMode" in api:
                problems.extend(_mode(api["defaultMode"], f"{where}.downwardAPI.defaultMode"))
            problems.extend(_check_items(api.get("items"), f"{where}.downwardAPI", containers, projected=False))
        if "projected" in volume:
            projected = _dict(volume["projected"])
            if "defaultMode" in projected:
                problems.extend(_mode(projected["defaultMode"], f"{where}.projected.defaultMode"))
            for position, source in enumerate(_list(projected.get("sources"))):
                if "downwardAPI" in _dict(source):
                    problems.extend(
                        _check_items(
                            _dict(source["downwardAPI"]).get("items"),
                            f"{where}.projected.sources[{position}].downwardAPI",
                            containers,
                            projected=True,
                        )
                    )
    return problems


def _field_ref(ref: Any, where: str, allowed: frozenset[str], place: str) -> list[str]:
    ref = _dict(ref)
    problems = []
    if ref.get("apiVersion", "v1") != "v1":
        problems.append(f"{where}.apiVersion: {ref.get('apiVersion')!r} is not v1")
    path = ref.get("fieldPath")
    subscripted = _SUBSCRIPTED.match(path) if isinstance(path, str) else None
    if subscripted:
        key = subscripted.group(2)
        label = subscripted.group(1) == "metadata.labels"
        if not _is_qualified_name(key if label else key.lower()):
            problems.append(f"{where}.fieldPath: {key!r} is not a valid {'label' if label else 'annotation'} key")
    elif path not in allowed:
        problems.append(f"{where}.fieldPath: {path!r} is not supported in {place}")
    return problems


def _resource_ref(ref: Any, where: str, containers: set[Any], *, volume: bool) -> list[str]:
    ref = _dict(ref)
    problems = []
    container = ref.get("containerName")
    if volume and not container:
        problems.append(f"{where}.containerName: Required value (in a downwardAPI volume)")
    elif container and container not in containers:
        problems.append(f"{where}.containerName: no container {container!r} in this pod (the kubelet fails the pod)")
    resource = ref.get("resource")
    if not isinstance(resource, str) or (resource not in RESOURCES and not resource.startswith(HUGEPAGES_PREFIXES)):
        problems.append(f"{where}.resource: {resource!r} is not supported")
        return problems
    divisor = ref.get("divisor")
    if divisor is None:
        return problems
    try:
        canonical = canonical_quantity(str(divisor))
    except ValueError:
        return [*problems, f"{where}.divisor: {divisor!r} is not a quantity"]
    if canonical == "0":
        return problems  # unset
    allowed = CPU_DIVISORS if resource.endswith(".cpu") else MEMORY_DIVISORS
    if canonical not in allowed:
        problems.append(f"{where}.divisor: {divisor!r} (canonically {canonical!r}) is not allowed for {resource}")
    return problems


def _check_env(container: Mapping[str, Any], where: str, containers: set[Any]) -> list[str]:
    problems = []
    names: set[Any] = set()
    for index, raw in enumerate(_list(container.get("env"))):
        at = f"{where}.env[{index}]"
        entry = _dict(raw)
        name = entry.get("name")
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            problems.append(
                f"{at}.name: {name!r} is not a valid env var name (before 1.32: [-._a-zA-Z][-._a-zA-Z0-9]*)"
            )
        if name in names:
            problems.append(f"{at}.name: {name!r} is defined twice (the apiserver only warns; we never create it)")
        names.add(name)
        value_from = entry.get("valueFrom")
        if value_from is None:
            continue
        if entry.get("value"):
            problems.append(f"{at}.valueFrom: may not be specified when value is not empty")
        sources = [key for key in VALUE_FROM_SOURCES if _dict(value_from).get(key) is not None]
        if len(sources) != 1:
            problems.append(f"{at}.valueFrom: exactly one source is required, got {sources}")
        if "fieldRef" in sources:
            problems.extend(_field_ref(value_from["fieldRef"], f"{at}.valueFrom.fieldRef", ENV_FIELD_PATHS, "env"))
        if "resourceFieldRef" in sources:
            problems.extend(
                _resource_ref(
                    value_from["resourceFieldRef"], f"{at}.valueFrom.resourceFieldRef", containers, volume=False
                )
            )
    return problems


def _check_mounts(container: Mapping[str, Any], where: str, volumes: Mapping[Any, dict[str, Any]]) -> list[str]:
    problems = []
    paths: set[Any] = set()
    devices = {d.get("name"): d.get("devicePath") for d in map(_dict, _list(container.get("volumeDevices")))}
    for index, raw in enumerate(_list(container.get("volumeMounts"))):
        at = f"{where}.volumeMounts[{index}]"
        mount = _dict(raw)
        name, path = mount.get("name"), mount.get("mountPath")
        if name not in volumes:
            problems.append(f"{at}.name: Not found: {name!r}")
        if not isinstance(path, str) or not path:
            problems.append(f"{at}.mountPath: Required value")
        elif path in paths:
            problems.append(f"{at}.mountPath: {path!r} must be unique")
        paths.add(path)
        if name in devices:
            problems.append(f"{at}.name: {name!r} must not already exist in volumeDevices")
        if path in devices.values():
            problems.append(f"{at}.mountPath: {path!r} must not already exist as a path in volumeDevices")
        if "downwardAPI" in volumes.get(name, {}) and (mount.get("subPath") or mount.get("subPathExpr")):
            problems.append(f"{at}.subPath: a downwardAPI volume mounted with subPath never sees updates")
    return problems


def _check_restart_and_probes(container: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    init = where.startswith("spec.initContainers")
    policy = container.get("restartPolicy")
    if policy is not None and not init:
        problems.append(f"{where}.restartPolicy: Forbidden: may not be set for non-init containers")
    if init and policy not in (None, "Always"):
        problems.append(f"{where}.restartPolicy: {policy!r}: only Always is supported for init containers")
    if init and policy != "Always":
        problems.extend(
            f"{where}.{key}: Forbidden: may not be set for init containers without restartPolicy=Always"
            for key in PROBES
            if key in container
        )
    return problems


def _check_token_untouched(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    def token_volumes(pod: Mapping[str, Any]) -> dict[Any, Any]:
        return {
            v.get("name"): v
            for v in map(_dict, _list(_dict(pod.get("spec")).get("volumes")))
            if str(v.get("name", "")).startswith(SERVICE_ACCOUNT_VOLUME_PREFIX)
        }

    def token_mounts(pod: Mapping[str, Any]) -> dict[Any, list[Any]]:
        return {
            container.get("name"): [
                m
                for m in _list(container.get("volumeMounts"))
                if _dict(m).get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH
            ]
            for _, container in all_containers(pod)
        }

    problems = []
    if token_volumes(before) != token_volumes(after):
        problems.append("spec.volumes: the service-account token volume (kube-api-access-*) was changed")
    after_mounts = token_mounts(after)
    for name, mounts in token_mounts(before).items():
        if after_mounts.get(name) != mounts:
            problems.append(f"container {name!r}: its service-account token mount was changed")
    return problems


def restricted_problems(container: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> list[str]:
    """PodSecurity "restricted" for one container (container settings override the pod's)."""
    own = _dict(container.get("securityContext"))
    pod = _dict(spec.get("securityContext"))

    def effective(key: str) -> Any:
        return own[key] if own.get(key) is not None else pod.get(key)

    problems = []
    if own.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}.securityContext.allowPrivilegeEscalation must be false")
    capabilities = _dict(own.get("capabilities"))
    if "ALL" not in _list(capabilities.get("drop")):
        problems.append(f"{where}.securityContext.capabilities.drop must include ALL")
    if set(_list(capabilities.get("add"))) - {"NET_BIND_SERVICE"}:
        problems.append(f"{where}.securityContext.capabilities.add may only hold NET_BIND_SERVICE")
    if own.get("privileged") is True:
        problems.append(f"{where}.securityContext.privileged must not be true")
    if effective("runAsNonRoot") is not True:
        problems.append(f"{where}.securityContext.runAsNonRoot must be true")
    if effective("runAsUser") == 0:
        problems.append(f"{where}.securityContext.runAsUser must not be 0")
    if _dict(effective("seccompProfile")).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append(f"{where}.securityContext.seccompProfile.type must be RuntimeDefault or Localhost")
    if any(_dict(port).get("hostPort") for port in _list(container.get("ports"))):
        problems.append(f"{where}.ports: hostPort is not allowed")
    return problems


# --- the schema -----------------------------------------------------------------------------------------------


@functools.cache
def _validator(version: str) -> jsonschema.protocols.Validator:
    """kubernetes_validate.validate's strict-mode validator, built once per version (it re-reads 1.8 MB per call)."""
    known = {kv_utils.major_minor(v) for v in kv_utils.all_versions()}
    if version not in known:
        raise ValueError(
            f"kubernetes_validate {kubernetes_validate.__version__} has no schema for {version}: {sorted(known)}"
        )
    directory = f"kubernetes-json-schema/v{version}.0-local-strict"
    schema = kv_utils.schema_contents(f"{directory}/pod-v1.json", version)
    definitions = kv_utils.schema_contents(f"{directory}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_schema(pod: Mapping[str, Any], version: str) -> list[str]:
    """Strict OpenAPI-schema problems of a Pod for Kubernetes `version` ("1.29", "1.37"); [] when valid."""
    errors = sorted(_validator(version).iter_errors(dict(pod)), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{version} {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


# --- what the apiserver does between two webhook passes --------------------------------------------------------


def _image_pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_items(items: Any) -> None:
    for item in map(_dict, _list(items)):
        if "fieldRef" in item:
            item["fieldRef"].setdefault("apiVersion", "v1")
        if "resourceFieldRef" in item:
            ref = item["resourceFieldRef"]
            ref["divisor"] = canonical_quantity(str(ref.get("divisor", "0")))


def default_pod(original: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the pod with the v1 defaulting funcs applied (the fields that matter here, not every one)."""
    pod = copy.deepcopy(dict(original))
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    if spec.get("serviceAccountName"):
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for _, container in all_containers(pod):
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", _image_pull_policy(str(container.get("image", ""))))
        for port in map(_dict, _list(container.get("ports"))):
            port.setdefault("protocol", "TCP")
        for entry in map(_dict, _list(container.get("env"))):
            value_from = _dict(entry.get("valueFrom"))
            if "fieldRef" in value_from:
                value_from["fieldRef"].setdefault("apiVersion", "v1")
            if "resourceFieldRef" in value_from:
                ref = value_from["resourceFieldRef"]
                ref["divisor"] = canonical_quantity(str(ref.get("divisor", "0")))
    for volume in map(_dict, _list(spec.get("volumes"))):
        for kind in ("downwardAPI", "configMap", "secret", "projected"):
            if kind in volume:
                volume[kind].setdefault("defaultMode", 0o644)
        _default_items(_dict(volume.get("downwardAPI")).get("items"))
        for source in map(_dict, _list(_dict(volume.get("projected")).get("sources"))):
            _default_items(_dict(source.get("downwardAPI")).get("items"))
    return pod


def serviceaccount_admission(original: Mapping[str, Any]) -> dict[str, Any]:
    """The ServiceAccount plugin, re-run after a webhook changed the pod: token mount in every new container."""
    pod = copy.deepcopy(dict(original))
    spec = _dict(pod.get("spec"))
    if MIRROR_ANNOTATION in _dict(_dict(pod.get("metadata")).get("annotations")):
        return pod
    if spec.get("automountServiceAccountToken") is False:
        return pod
    tokens = [
        v["name"]
        for v in map(_dict, _list(spec.get("volumes")))
        if str(v.get("name", "")).startswith(SERVICE_ACCOUNT_VOLUME_PREFIX) and "projected" in v
    ]
    if not tokens:
        return pod
    for list_name in ("initContainers", "containers"):
        for container in map(_dict, _list(spec.get(list_name))):
            mounts = _list(container.get("volumeMounts"))
            if not any(_dict(m).get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH for m in mounts):
                container["volumeMounts"] = [
                    *mounts,
                    {"name": tokens[0], "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH},
                ]
    return pod


def as_reinvoked(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod a reinvoked webhook sees: our patch defaulted, then the built-in plugins run again."""
    return serviceaccount_admission(default_pod(pod))


def service_account_volume(suffix: str = "7x2kq") -> dict[str, Any]:
    """The projected token volume ServiceAccount admission adds (1.22+), as the apiserver sends it."""
    return {
        "name": SERVICE_ACCOUNT_VOLUME_PREFIX + suffix,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
            "defaultMode": 420,
        },
    }


def service_account_mount(suffix: str = "7x2kq") -> dict[str, Any]:
    return {"name": SERVICE_ACCOUNT_VOLUME_PREFIX + suffix, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}


def pod_create(pod: dict[str, Any], namespace: str) -> AdmissionRequest:
    """The AdmissionRequest the apiserver builds for a Pod CREATE (a copy of the pod, as sent on the wire)."""
    return AdmissionRequest(
        uid="0b1c5c4e-8d0f-4d6a-9a38-9f3f0e0f6f01",
        group="",
        version="v1",
        kind="Pod",
        sub_resource="",
        operation="CREATE",
        namespace=namespace,
        name=pod.get("metadata", {}).get("name", ""),  # "" for generateName pods
        obj=copy.deepcopy(pod),
        dry_run=False,
    )
