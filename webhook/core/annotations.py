"""The pod annotations app teams write: their keys, named once per prefix, and their parsing into a request.

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
from functools import cache

from .catalog import ENV_BY_NAME, ENV_NAMES
from .config import Config
from .errors import Denied, quote
from .paths import canonical_mount_path, mount_path_problem

INJECT = "inject"
ENV = "env"
VOLUME = "volume"
MOUNT_PATH = "mount-path"
CONTAINERS = "containers"
AMBASSADOR = "ambassador"
STATUS = "status"
USER_KEYS: tuple[str, ...] = (INJECT, ENV, VOLUME, MOUNT_PATH, CONTAINERS, AMBASSADOR)
KNOWN_KEYS: tuple[str, ...] = (*USER_KEYS, STATUS)

# Annotations of others that the webhook reads: a static (mirror) pod is never injected, and kubectl's
# default container is set when the ambassador joins spec.containers, unless the user chose one.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Keys:
    """The full annotation keys under one prefix (keys_under(prefix) builds them once)."""

    prefix: str
    inject: str
    env: str
    volume: str
    mount_path: str
    containers: str
    ambassador: str
    status: str
    user: tuple[str, ...]  # the keys app teams may write, in the order messages list them
    known: frozenset[str]  # those and the status


@cache
def keys_under(prefix: str) -> Keys:
    user = tuple(prefix + key for key in USER_KEYS)
    return Keys(
        prefix=prefix,
        inject=prefix + INJECT,
        env=prefix + ENV,
        volume=prefix + VOLUME,
        mount_path=prefix + MOUNT_PATH,
        containers=prefix + CONTAINERS,
        ambassador=prefix + AMBASSADOR,
        status=prefix + STATUS,
        user=user,
        known=frozenset((*user, prefix + STATUS)),
    )


@dataclass(frozen=True, slots=True)
class InjectionRequest:
    """What the pod asked for, with the operator's defaults filled in."""

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
    """Read our annotations; raise Denied with a message naming the annotation, the value and what is accepted."""
    keys = keys_under(config.prefix)
    raw_inject = annotations.get(keys.inject)
    inject = inject_by_default if raw_inject is None else _boolean(keys.inject, raw_inject)
    if raw_inject is not None and not inject:
        # An explicit opt-out always wins and is never blocked by a mistake in the other keys.
        return NotRequested(f"{keys.inject} is false")

    _reject_unknown_keys(annotations, keys)

    if not inject:
        written = [key for key in keys.user if key in annotations]
        warnings = tuple(f'{key} ignored: add {keys.inject}: "true" to inject' for key in written)
        return NotRequested(f"no {keys.inject} annotation", warnings)

    env, volume, mount_path = annotations.get(keys.env), annotations.get(keys.volume), annotations.get(keys.mount_path)
    containers, ambassador = annotations.get(keys.containers), annotations.get(keys.ambassador)
    return InjectionRequest(
        env=config.default_env if env is None else _env(keys.env, env),
        volume=config.default_volume if volume is None else _boolean(keys.volume, volume),
        mount_path=config.default_mount_path if mount_path is None else _mount_path(keys.mount_path, mount_path),
        containers=None if containers is None else _containers(keys.containers, containers),
        ambassador=False if ambassador is None else _boolean(keys.ambassador, ambassador),
    )


def _reject_unknown_keys(annotations: Mapping[str, str], keys: Keys) -> None:
    for key in annotations:
        if not key.startswith(keys.prefix) or key in keys.known:
            continue
        # Compared without the prefix, which every key shares and would make any two look alike.
        close = difflib.get_close_matches(key[len(keys.prefix) :], USER_KEYS, n=1, cutoff=0.6)
        hint = f"did you mean {keys.prefix}{close[0]}? " if close else ""
        raise Denied(f"unknown annotation {quote(key)}: {hint}known annotations: {', '.join(keys.user)}")


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
