"""Decide what to inject: request + pod + configuration -> a Plan, or a Denied that says what to change.

Every conflict is settled here, before any JSON Patch exists: the user's env vars, volumes, mounts and
containers win; containers the status annotation records as already injected are left alone, which makes
a second pass (reinvocation, or a re-applied dump of a live pod) a no-op.

Plans are NamedTuples, like the pod's view and for the same reason: one is built for every pod the webhook
injects, and a frozen dataclass costs several times more to build (each field set through object.__setattr__).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, NamedTuple

from ..config import Config
from .annotations import AMBASSADOR, CONTAINERS, DEFAULT_CONTAINER_ANNOTATION, MOUNT_PATH, STATUS, InjectionRequest
from .catalog import ENV_BY_NAME, PROXY_ENV_NAME, EnvField, env_entries, env_entry
from .errors import Denied, quote
from .paths import canonical_mount_path
from .pod import ContainerView, PodView, UserEnv
from .status import Status, decode_status

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"  # noqa: S105 - a path, not a secret


class ContainerPlan(NamedTuple):
    container: ContainerView
    env: tuple[dict[str, Any], ...]  # complete env entries, in the order they are prepended
    volume_name: str | None
    mount_path: str
    # The names when `env` is catalog.env_entries(names, container name), as for most containers (no env var
    # of the user's in the way, no proxy variable): their ops are then the same for every pod (webhook/patch.py).
    env_names: tuple[str, ...] | None = None


class AmbassadorPlan(NamedTuple):
    mode: str  # "native" (an init container with restartPolicy Always) or "container"
    container: dict[str, Any]


class Plan(NamedTuple):
    containers: tuple[ContainerPlan, ...]
    ambassador: AmbassadorPlan | None
    status_key: str
    status: Status
    status_existed: bool
    annotations_present: bool
    default_container: str | None  # set kubectl's default container when the ambassador joins spec.containers
    warnings: tuple[str, ...]

    @property
    def changes_pod(self) -> bool:
        return bool(self.containers) or self.ambassador is not None


def make_plan(
    request: InjectionRequest, pod: PodView, config: Config, namespace: str, *, admitted: bool = True
) -> Plan:
    """`admitted`: the pod has been through ServiceAccount admission (true for every pod the apiserver sends;
    false for offline injection of manifests, whose token volume does not exist yet)."""
    prefix = config.prefix
    status_key = prefix + STATUS
    annotations = pod.annotation_map()
    previous = decode_status(status_key, annotations.get(status_key))
    warnings: list[str] = []

    ambassador = _plan_ambassador(
        request, pod=pod, config=config, namespace=namespace, previous=previous, warnings=warnings, admitted=admitted
    )
    proxy_wanted = request.ambassador and (ambassador is not None or previous.ambassador is not None)

    taken_volumes = set(pod.volume_names)
    last_segment = request.mount_path.rpartition("/")[2]
    plans: list[ContainerPlan] = []
    for container in _targets(request, pod, config, previous):
        if container.name in previous.containers:
            continue  # injected on an earlier pass
        env, plain = _env(container, request.env, config.ambassador.port if proxy_wanted else None, warnings)
        if env and container.has_env_from:
            warnings.append(f"{container.name}: injected env vars override same-named envFrom keys")
        volume_name = None
        if request.volume:
            for existing in container.mount_paths:
                # request.mount_path is canonical. A path can only canonicalise to it if it contains its last
                # segment: that C-speed test spares canonicalising every mount of every container.
                if last_segment in existing and canonical_mount_path(existing) == request.mount_path:
                    raise Denied(
                        f"container {quote(container.name)} already uses {request.mount_path} for a volume or "
                        f"device; choose another directory for the downward files with annotation {prefix}{MOUNT_PATH}"
                    )
            volume_name = _volume_name(container.name, taken_volumes)
            taken_volumes.add(volume_name)
        if env or volume_name:
            plans.append(ContainerPlan(container, env, volume_name, request.mount_path, request.env if plain else None))

    if not plans and ambassador is None:
        return Plan((), None, status_key, previous, True, pod.annotations_present, None, tuple(warnings))

    status = Status(
        containers=(*previous.containers, *[p.container.name for p in plans]),
        env=tuple(dict.fromkeys((*previous.env, *request.env))),
        mount_path=request.mount_path if request.volume else previous.mount_path,
        ambassador=ambassador.mode if ambassador else previous.ambassador,
    )
    default_container = None
    if ambassador and ambassador.mode == "container" and DEFAULT_CONTAINER_ANNOTATION not in annotations:
        default_container = pod.containers[0].name
    return Plan(
        containers=tuple(plans),
        ambassador=ambassador,
        status_key=status_key,
        status=status,
        status_existed=status_key in annotations,
        annotations_present=pod.annotations_present,
        default_container=default_container,
        warnings=tuple(warnings),
    )


def _targets(request: InjectionRequest, pod: PodView, config: Config, previous: Status) -> list[ContainerView]:
    if request.containers is None:
        own = config.ambassador.name if previous.ambassador == "container" else None
        return [c for c in pod.containers if c.name != own]
    by_name = {c.name: c for c in (*pod.containers, *pod.init_containers)}
    missing = [name for name in request.containers if name not in by_name]
    if missing:
        available = ", ".join(sorted(by_name))
        raise Denied(
            f"annotation {config.prefix}{CONTAINERS}: no container named {quote(missing[0])} in this pod; "
            f"accepted: a comma list of {available}"
        )
    return [by_name[name] for name in request.containers]


def _env(
    container: ContainerView, names: tuple[str, ...], proxy_port: int | None, warnings: list[str]
) -> tuple[tuple[dict[str, Any], ...], bool]:
    """The env entries to prepend to `container` (the user's own entries of the same names win), and whether
    they are exactly env_entries(names, container.name)."""
    if not container.claimed and proxy_port is None:
        return env_entries(names, container.name), True
    env: list[dict[str, Any]] = []
    if container.claimed:  # the user has some of the names we inject (rare)
        for name in names:
            _add_env(env, container, ENV_BY_NAME[name], warnings)
    else:
        env += env_entries(names, container.name)
    if proxy_port is not None:
        _add_literal_env(env, container, PROXY_ENV_NAME, f"http://127.0.0.1:{proxy_port}", warnings)
    return tuple(env), False


def _same_source(user: UserEnv, field: EnvField, container: str) -> bool:
    """Whether the user's env entry already exposes what we would (after the apiserver's defaulting)."""
    if field.field_path is not None:
        return user.field_path == field.field_path
    return (
        user.resource == field.resource
        and user.container_name in (None, "", container)
        and user.divisor == field.divisor
    )


def _add_env(env: list[dict[str, Any]], container: ContainerView, field: EnvField, warnings: list[str]) -> None:
    user = container.user_env(field.name)
    if user is None:
        env.append(env_entry(field.name, container.name))
    elif not _same_source(user, field, container.name):
        warnings.append(f"{container.name}: kept your {field.name}; {field.source} not injected")


def _add_literal_env(
    env: list[dict[str, Any]], container: ContainerView, name: str, value: str, warnings: list[str]
) -> None:
    user = container.user_env(name)
    if user is None:
        env.append({"name": name, "value": value})
    elif user.value != value:
        warnings.append(f"{container.name}: kept your {name}; {value} not injected")


def _volume_name(container: str, taken: set[str]) -> str:
    """downward-<container>, shortened with a hash past 63 characters, numbered if the user has that name."""
    base = f"downward-{container}"
    if len(base) > 63:
        digest = hashlib.sha256(container.encode()).hexdigest()[:8]
        base = f"downward-{container[:44].rstrip('-')}-{digest}"
    candidate, number = base, 2
    while candidate in taken:
        suffix = f"-{number}"
        candidate = base[: 63 - len(suffix)].rstrip("-") + suffix
        number += 1
    return candidate


def _plan_ambassador(
    request: InjectionRequest,
    *,
    pod: PodView,
    config: Config,
    namespace: str,
    previous: Status,
    warnings: list[str],
    admitted: bool,
) -> AmbassadorPlan | None:
    if not request.ambassador or previous.ambassador is not None:
        return None
    annotation = config.prefix + AMBASSADOR
    amb = config.ambassador
    if not amb.allowed:
        raise Denied(f'annotation {annotation}: "true" is not accepted: the cluster operator disabled the ambassador')
    if namespace in amb.disabled_namespaces:
        raise Denied(
            f'annotation {annotation}: "true" is not accepted: the cluster operator disabled the ambassador '
            f"in namespace {namespace}"
        )
    if pod.automount_token is False:
        raise Denied(
            f'annotation {annotation}: "true" needs the pod\'s service account token, but '
            "spec.automountServiceAccountToken is false; remove one of them"
        )
    if pod.token_volume is None and admitted:
        raise Denied(
            f'annotation {annotation}: "true" needs the pod\'s service account token, but the pod has none '
            "(its ServiceAccount sets automountServiceAccountToken: false); remove the annotation or mount a token"
        )
    if pod.os_name == "windows":
        raise Denied(
            f'annotation {annotation}: "true" is refused for Windows pods: the ambassador image and its '
            "security settings are Linux-only"
        )
    if pod.host_network:
        raise Denied(
            f'annotation {annotation}: "true" is refused for hostNetwork pods: the proxy would be open to '
            "every process on the node; remove one of them"
        )
    for container in (*pod.containers, *pod.init_containers):
        if container.name == amb.name:
            warnings.append(f"kept your container {amb.name}; no ambassador added")
            return None
        if amb.port in container.ports:
            raise Denied(
                f'annotation {annotation}: "true" conflicts with container {quote(container.name)}, which uses '
                f"port {amb.port}; the ambassador needs it (the cluster operator sets that port)"
            )
    return AmbassadorPlan(mode=amb.mode, container=ambassador_container(config, pod.token_volume))


@lru_cache(maxsize=256)
def ambassador_container(config: Config, token_volume: str | None) -> dict[str, Any]:
    """The kubectl-proxy container: loopback only, the pod's service account, PodSecurity "restricted".

    ServiceAccount admission ran before us and mounted the token into the containers it saw; ours is new,
    so it mounts the same volume itself (read-only, where kubectl's in-cluster config looks for it).
    Built once per configuration and token volume name, and shared: it is serialised, never mutated.
    """
    amb = config.ambassador
    address = f"http://127.0.0.1:{amb.port}"
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
                    f"--server={address}",
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
