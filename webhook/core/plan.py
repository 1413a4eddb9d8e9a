"""Decide what to inject: request + pod + configuration -> a Plan of decisions, or a Denied saying what to change.

Every conflict is settled here, before any JSON Patch exists: the user's env vars, volumes, mounts and
containers win; containers the status annotation records as already injected are left alone, which makes
a second pass (reinvocation, or a re-applied dump of a live pod) a no-op. The plan names what to add; the
builders in webhook/core/build/ make the objects and webhook/core/patch.py the operations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .ambassador_rules import ambassador_mode
from .annotations import InjectionRequest, keys_under
from .build.ambassador import proxy_url
from .build.token import TOKEN_VOLUME_BASE
from .catalog import OTEL_ENV_NAMES, OTEL_HELPERS, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, PROXY_ENV_NAME, EnvField
from .config import Config
from .errors import Denied, quote
from .otel import encode, fitted_warnings, merge, owner_attributes, resource_attributes, service_name
from .paths import canonical_mount_path
from .pod import ContainerView, PodView, UserEnv
from .status import Status


@dataclass(frozen=True, slots=True)
class ContainerPlan:
    """What one container gets."""

    container: ContainerView
    # The env vars to prepend, in order (names the user already has left out): the catalog's, the labels' and
    # annotations', then otel's helpers, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (which refers to them).
    env: tuple[EnvField, ...]
    proxy_url: str | None  # KUBE_API_PROXY_URL to add after them, when the pod has (or gets) the ambassador
    volume: str | None  # the name of its downwardAPI volume, when the files are injected
    mount_path: str
    # The user's own OTEL_RESOURCE_ATTRIBUTES (its index in env) with the keys it lacked appended.
    extended_env: tuple[int, str] | None = None
    otel: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    containers: tuple[ContainerPlan, ...]
    ambassador: str | None  # the mode ("native" or "container") of the ambassador to add
    status: Status  # the status annotation after this pass
    default_container: str | None  # kubectl's default container, set when the ambassador joins spec.containers
    warnings: tuple[str, ...]
    token_volume: str | None = None  # the ambassador's own token volume, added when the pod mounts no token

    @property
    def changes_pod(self) -> bool:
        return bool(self.containers) or self.ambassador is not None


def make_plan(
    request: InjectionRequest, previous: Status, pod: PodView, config: Config, namespace: str, *, admitted: bool
) -> Plan:
    """`previous`: the pod's status annotation. `admitted`: the pod has been through ServiceAccount admission
    (every pod the apiserver sends; not manifests injected offline, whose token volume does not exist yet)."""
    warnings: list[str] = []
    ambassador = ambassador_mode(request, pod, config=config, namespace=namespace, previous=previous, warnings=warnings)
    proxy = proxy_url(config) if request.ambassador and (ambassador or previous.ambassador) else None

    warnings += request.warnings
    taken_volumes = set(pod.volume_names)
    token = _token_volume(pod, taken_volumes, warnings, admitted=admitted) if ambassador else None
    if token is not None:
        taken_volumes.add(token)
    plans: list[ContainerPlan] = []
    for container in _targets(request, pod, config, previous):
        if container.name in previous.containers:
            continue  # injected on an earlier pass
        fields = [field for name in request.env if (field := config.env_field(name)) is not None]
        env = _env(container, (*fields, *request.env_from), warnings)
        extended = None
        if request.otel:
            otel_env, extended = _otel(container, pod, namespace, warnings)
            env += otel_env
        own_proxy = proxy if proxy and _keeps_literal(container, PROXY_ENV_NAME, proxy, warnings) else None
        if (env or own_proxy or extended) and container.has_env_from:
            warnings.append(f"{container.name}: injected env vars override same-named envFrom keys")
        volume = None
        if request.volume:
            _check_mount_path(container, request.mount_path, config)
            volume = _volume_name(container.name, taken_volumes)
            taken_volumes.add(volume)
        if env or own_proxy or volume or extended:
            plans.append(ContainerPlan(container, env, own_proxy, volume, request.mount_path, extended, request.otel))

    if not plans and ambassador is None:
        return Plan((), None, previous, None, tuple(warnings))
    otel_names = OTEL_ENV_NAMES if request.otel else ()
    status = Status(
        containers=(*previous.containers, *[p.container.name for p in plans]),
        env=tuple(dict.fromkeys((*previous.env, *request.env, *(f.name for f in request.env_from), *otel_names))),
        mount_path=request.mount_path if request.volume else previous.mount_path,
        ambassador=ambassador or previous.ambassador,
        token_volume=token or previous.token_volume,
    )
    in_containers = ambassador == "container" and not pod.default_container_set
    default = pod.containers[0].name if in_containers else None
    return Plan(tuple(plans), ambassador, status, default, tuple(warnings), token)


def _token_volume(pod: PodView, taken: set[str], warnings: list[str], *, admitted: bool) -> str | None:
    """The name of the ambassador's own token volume, None when it mounts the pod's (kube-api-access-*).

    With automountServiceAccountToken: false on the pod, ServiceAccount admission added nothing, whatever
    the volumes are called. Offline (not admitted) only that case is known: the ServiceAccount decides the rest,
    and a manifest injected offline is not injected again on the server, so the warning says how to be sure.
    """
    if pod.automount_token is not False and pod.token_volume is not None:
        return None
    if pod.automount_token is not False and not admitted:
        warnings.append(
            "ambassador: gets a token only if the ServiceAccount mounts one; else set "
            "automountServiceAccountToken: false on the pod"
        )
        return None
    return _free_name(TOKEN_VOLUME_BASE, taken)


def _targets(request: InjectionRequest, pod: PodView, config: Config, previous: Status) -> list[ContainerView]:
    if request.containers is None:
        own = config.ambassador.name if previous.ambassador == "container" else None
        return [c for c in pod.containers if c.name != own]
    by_name = {c.name: c for c in (*pod.containers, *pod.init_containers)}
    missing = [name for name in request.containers if name not in by_name]
    if missing:
        raise Denied(
            f"annotation {keys_under(config.prefix).containers}: no container named {quote(missing[0])} in this "
            f"pod; accepted: a comma list of {', '.join(sorted(by_name))}"
        )
    return [by_name[name] for name in request.containers]


def _env(container: ContainerView, fields: tuple[EnvField, ...], warnings: list[str]) -> tuple[EnvField, ...]:
    """The fields to inject into `container`: the user's own entries of the same names win."""
    return tuple(field for field in fields if _keeps_field(container, field, warnings))


def _otel(
    container: ContainerView, pod: PodView, namespace: str, warnings: list[str]
) -> tuple[tuple[EnvField, ...], tuple[int, str] | None]:
    """otel's env for `container`, and the user's own OTEL_RESOURCE_ATTRIBUTES extended, if they have one."""
    app_name, version, template_hash = pod.otel_labels
    owners = owner_attributes(pod.owner, template_hash)
    fields = [helper for helper in OTEL_HELPERS if _keeps_field(container, helper, warnings)]
    service: str | None = service_name(app_name, owners, container.name)
    if _keeps_literal(container, OTEL_SERVICE_NAME, service or "", warnings):
        fields.append(EnvField(OTEL_SERVICE_NAME, value=service))
    else:
        service = None  # theirs decides: the SDKs prefer OTEL_SERVICE_NAME to service.name in the attributes
    attributes = resource_attributes(namespace, container.name, owners, service, version)
    user = container.user_env(OTEL_RESOURCE_ATTRIBUTES)
    if user is None:
        fields.append(EnvField(OTEL_RESOURCE_ATTRIBUTES, value=encode(attributes)))
        return tuple(fields), None
    if user.value is None:
        warnings.append(f"{container.name}: kept your {OTEL_RESOURCE_ATTRIBUTES} (not a literal value); none added")
        return tuple(fields), None
    merged = merge(user.value, attributes)
    head = f"{container.name}: your {OTEL_RESOURCE_ATTRIBUTES}"
    if merged.added:
        warnings += fitted_warnings(f"{head} got", merged.added)
    if merged.kept:
        warnings += fitted_warnings(f"{head} kept its", merged.kept)
    return tuple(fields), (user.position, merged.value) if merged.added else None


def _keeps_field(container: ContainerView, field: EnvField, warnings: list[str]) -> bool:
    user = container.user_env(field.name)
    if user is None:
        return True
    if not _same_source(user, field, container.name):
        warnings.append(f"{container.name}: kept your {field.name}; {field.source} not injected")
    return False


def _keeps_literal(container: ContainerView, name: str, value: str, warnings: list[str]) -> bool:
    user = container.user_env(name)
    if user is None:
        return True
    if user.value != value:
        warnings.append(f"{container.name}: kept your {name}; {value} not injected")
    return False


def _same_source(user: UserEnv, field: EnvField, container: str) -> bool:
    """Whether the user's env entry already exposes what we would (after the apiserver's defaulting)."""
    if field.value is not None:
        return user.value == field.value
    if field.field_path is not None:
        return user.field_path == field.field_path
    return (
        user.resource == field.resource
        and user.container_name in (None, "", container)
        and user.divisor == field.divisor
    )


def _check_mount_path(container: ContainerView, mount_path: str, config: Config) -> None:
    for existing in container.mount_paths:
        if canonical_mount_path(existing) == mount_path:  # mount_path is canonical already
            raise Denied(
                f"container {quote(container.name)} already uses {mount_path} for a volume or device; choose "
                f"another directory for the downward files with annotation {keys_under(config.prefix).mount_path}"
            )


def _volume_name(container: str, taken: set[str]) -> str:
    """downward-<container>, shortened with a hash past 63 characters, numbered if the user has that name."""
    base = f"downward-{container}"
    if len(base) > 63:
        digest = hashlib.sha256(container.encode()).hexdigest()[:8]
        base = f"downward-{container[:44].rstrip('-')}-{digest}"
    return _free_name(base, taken)


def _free_name(base: str, taken: set[str]) -> str:
    """`base`, or numbered (-2, -3, ...) until no volume of the pod has that name."""
    candidate, number = base, 2
    while candidate in taken:
        suffix = f"-{number}"
        candidate = base[: 63 - len(suffix)].rstrip("-") + suffix
        number += 1
    return candidate
