"""The pod annotations app teams write, and their parsing into an InjectionRequest.

Keys (under the operator's prefix, `downward.dev/` by default):

    inject       "true" | "false"                 opt in (or out, on the namespace-wide path)
    env          "all" | "none" | NAME[,NAME...]  which env vars; default: the operator's default set
    volume       "true" | "false"                 add the downwardAPI files; default true
    mount-path   absolute path                    where the files appear; default /etc/downward
    containers   NAME[,NAME...]                   which containers; default every regular container
    ambassador   "true" | "false"                 add the kubectl-proxy ambassador; default false
    status       (written by the webhook)         what was injected; never write it by hand

This module only reads strings: whether the named containers exist, and whether the operator allows the
ambassador, is decided in plan.py where the pod and the configuration are known.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ..config import Config
from .catalog import ENV_BY_NAME, ENV_NAMES
from .errors import Denied, quote
from .paths import canonical_mount_path, mount_path_problem

INJECT = "inject"
ENV = "env"
VOLUME = "volume"
MOUNT_PATH = "mount-path"
CONTAINERS = "containers"
AMBASSADOR = "ambassador"
STATUS = "status"

# Annotations of others that the planner reads: a static (mirror) pod is never injected, and kubectl's
# default container is set when the ambassador joins spec.containers, unless the user chose one.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
FOREIGN_ANNOTATIONS = frozenset((MIRROR_ANNOTATION, DEFAULT_CONTAINER_ANNOTATION))

USER_KEYS: tuple[str, ...] = (INJECT, ENV, VOLUME, MOUNT_PATH, CONTAINERS, AMBASSADOR)
KNOWN_KEYS: tuple[str, ...] = (*USER_KEYS, STATUS)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class InjectionRequest(NamedTuple):
    """What the pod asked for, with the operator's defaults filled in (a NamedTuple: see webhook/pod.py)."""

    env: tuple[str, ...]
    volume: bool
    mount_path: str
    containers: tuple[str, ...] | None  # None: every regular container
    ambassador: bool


@dataclass(frozen=True, slots=True)
class NotRequested:
    """The pod did not opt in (or opted out); `reason` goes to the log, `warnings` to the user."""

    reason: str
    warnings: tuple[str, ...] = ()


def parse(
    annotations: Mapping[str, str], config: Config, *, inject_by_default: bool
) -> InjectionRequest | NotRequested:
    """Read our annotations once; raise Denied with a message naming the annotation, the value and what is accepted."""
    prefix = config.prefix
    ours = {key[len(prefix) :]: value for key, value in annotations.items() if key.startswith(prefix)}

    raw_inject = ours.get(INJECT)
    inject = inject_by_default if raw_inject is None else _boolean(prefix + INJECT, raw_inject)
    if raw_inject is not None and not inject:
        # An explicit opt-out always wins and is never blocked by a mistake in the other keys.
        return NotRequested(f"{prefix}{INJECT} is false")

    _reject_unknown_keys(ours, prefix)

    if not inject:
        set_keys = [prefix + key for key in USER_KEYS if key in ours]
        warnings = tuple(f'{key} ignored: add {prefix}{INJECT}: "true" to inject' for key in set_keys)
        return NotRequested(f"no {prefix}{INJECT} annotation", warnings)

    return InjectionRequest(
        env=_env(prefix + ENV, ours[ENV]) if ENV in ours else config.default_env,
        volume=_boolean(prefix + VOLUME, ours[VOLUME]) if VOLUME in ours else config.default_volume,
        mount_path=_mount_path(prefix + MOUNT_PATH, ours[MOUNT_PATH])
        if MOUNT_PATH in ours
        else config.default_mount_path,
        containers=_containers(prefix + CONTAINERS, ours[CONTAINERS]) if CONTAINERS in ours else None,
        ambassador=_boolean(prefix + AMBASSADOR, ours[AMBASSADOR]) if AMBASSADOR in ours else False,
    )


def _reject_unknown_keys(ours: Mapping[str, str], prefix: str) -> None:
    for key in ours:
        if key in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(key, USER_KEYS, n=1, cutoff=0.6)
        hint = f"did you mean {prefix}{close[0]}? " if close else ""
        known = ", ".join(prefix + k for k in USER_KEYS)
        raise Denied(f"unknown annotation {quote(prefix + key)}: {hint}known annotations: {known}")


def _boolean(annotation: str, value: str) -> bool:
    # YAML turns a bare true into a boolean and Kubernetes then refuses the manifest, so people write
    # "true"; we accept any case and stray spaces, and nothing else (no yes/1/on: ambiguity is a denial).
    folded = value.strip().lower()
    if folded == "true":
        return True
    if folded == "false":
        return False
    raise Denied(f'annotation {annotation}: {quote(value)} is not accepted; use "true" or "false"')


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _env(annotation: str, value: str) -> tuple[str, ...]:
    accepted = f'use "all", "none" or a comma list of: {", ".join(ENV_NAMES)}'
    folded = value.strip().lower()
    if folded == "all":
        return ENV_NAMES
    if folded == "none":
        return ()
    names = _comma_list(value)
    if not names:
        raise Denied(f"annotation {annotation}: {quote(value)} is empty; {accepted}")
    for name in names:
        if name not in ENV_BY_NAME:
            close = difflib.get_close_matches(name.upper(), ENV_NAMES, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise Denied(f"annotation {annotation}: unknown env var {quote(name)}{hint}; {accepted}")
    return tuple(dict.fromkeys(names))


def _mount_path(annotation: str, value: str) -> str:
    problem = mount_path_problem(value)
    if problem:
        raise Denied(f"annotation {annotation}: {quote(value)} is not accepted; the path {problem}")
    return canonical_mount_path(value)


def _containers(annotation: str, value: str) -> tuple[str, ...]:
    names = _comma_list(value)
    if not names:
        raise Denied(f"annotation {annotation}: {quote(value)} is empty; use a comma list of container names")
    for name in names:
        if not _DNS_LABEL.match(name) or len(name) > 63:
            raise Denied(
                f"annotation {annotation}: {quote(name)} is not a container name; use a comma list of container names"
            )
    return tuple(dict.fromkeys(names))
