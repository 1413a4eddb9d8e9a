"""The pod annotations app teams write: their keys, named once per prefix, and their parsing into a request.

Keys (under the operator's prefix, `downward.dev/` by default):

    inject       "true" | "false"                 opt in (or out, on the namespace-wide path)
    env          "all" | "none" | NAME[,NAME...]  which env vars; default: the operator's default set
    volume       "true" | "false"                 add the downwardAPI files; default true
    mount-path   absolute path                    where the files appear; default /etc/downward
    containers   NAME[,NAME...]                   which containers; default every regular container
    ambassador   "true" | "false"                 add the kubectl-proxy ambassador; default false
    otel         "true" | "false"                 OTEL_RESOURCE_ATTRIBUTES + OTEL_SERVICE_NAME (works alone)
    env-from-labels       KEY[=NAME][,...]        one env var per label (works alone)
    env-from-annotations  KEY[=NAME][,...]        one env var per annotation (works alone)
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

from .catalog import INJECTABLE_ENV_NAMES, EnvField, annotation_field, label_field
from .config import Config
from .errors import Denied, quote
from .paths import canonical_mount_path, mount_path_problem

INJECT = "inject"
ENV = "env"
VOLUME = "volume"
MOUNT_PATH = "mount-path"
CONTAINERS = "containers"
AMBASSADOR = "ambassador"
OTEL = "otel"
ENV_FROM_LABELS = "env-from-labels"
ENV_FROM_ANNOTATIONS = "env-from-annotations"
STATUS = "status"
USER_KEYS: tuple[str, ...] = (
    INJECT, ENV, VOLUME, MOUNT_PATH, CONTAINERS, AMBASSADOR, OTEL, ENV_FROM_LABELS, ENV_FROM_ANNOTATIONS
)  # fmt: skip
KNOWN_KEYS: tuple[str, ...] = (*USER_KEYS, STATUS)

# Annotations of others that the webhook reads: a static (mirror) pod is never injected, and kubectl's
# default container is set when the ambassador joins spec.containers, unless the user chose one.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# A label or annotation key is a qualified name (apimachinery validation.IsQualifiedName): an optional DNS
# subdomain prefix and '/', then 1-63 alphanumerics, '-', '_', '.', starting and ending alphanumeric.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Env var names: the apiserver before 1.32 (C identifier with '-' and '.'), still what shells and most
# runtimes can read; the relaxed 1.34 rule would let names through that older clusters refuse.
ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_NOT_NAME_CHAR = re.compile(r"[^A-Z0-9]")


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
    otel: str
    env_from_labels: str
    env_from_annotations: str
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
        otel=prefix + OTEL,
        env_from_labels=prefix + ENV_FROM_LABELS,
        env_from_annotations=prefix + ENV_FROM_ANNOTATIONS,
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
    otel: bool = False
    env_from: tuple[EnvField, ...] = ()  # from env-from-labels, then env-from-annotations
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NotRequested:
    """The pod did not opt in (or opted out); `reason` goes to the log, `warnings` to the user."""

    reason: str
    warnings: tuple[str, ...] = ()


def parse(
    annotations: Mapping[str, str], config: Config, *, inject_by_default: bool, namespace: str = ""
) -> InjectionRequest | NotRequested:
    """Read our annotations; raise Denied with a message naming the annotation, the value and what is accepted.

    otel, env-from-labels and env-from-annotations also work alone: without an inject annotation they inject
    only themselves (no catalog env, no files, no ambassador)."""
    keys = keys_under(config.prefix)
    raw_inject = annotations.get(keys.inject)
    inject = inject_by_default if raw_inject is None else _boolean(keys.inject, raw_inject)
    if raw_inject is not None and not inject:
        # An explicit opt-out always wins and is never blocked by a mistake in the other keys.
        return NotRequested(f"{keys.inject} is false")

    _reject_unknown_keys(annotations, keys)

    raw_otel = annotations.get(keys.otel)
    # On the namespace-wide path, the operator may turn otel on for a whole namespace; "false" still wins.
    otel_default = inject_by_default and namespace in config.otel_namespaces
    otel = otel_default if raw_otel is None else _boolean(keys.otel, raw_otel)
    env_from = _env_from(annotations, keys, config)
    containers = annotations.get(keys.containers)
    targets = None if containers is None else _containers(keys.containers, containers)

    if not inject:
        alone = (keys.otel, keys.env_from_labels, keys.env_from_annotations, keys.containers)
        ignored = [key for key in keys.user if key in annotations and key not in alone]
        if otel or env_from:
            warnings = tuple(f'{key} ignored: add {keys.inject}: "true" for more than otel/env-from' for key in ignored)
            return InjectionRequest(
                (), False, config.default_mount_path, targets, False, otel=otel, env_from=env_from, warnings=warnings
            )
        written = [key for key in keys.user if key in annotations]
        warnings = tuple(f'{key} ignored: add {keys.inject}: "true" to inject' for key in written)
        return NotRequested(f"no {keys.inject} annotation", warnings)

    env, volume, mount_path = annotations.get(keys.env), annotations.get(keys.volume), annotations.get(keys.mount_path)
    ambassador = annotations.get(keys.ambassador)
    return InjectionRequest(
        env=config.default_env if env is None else _env(keys.env, env, config),
        volume=config.default_volume if volume is None else _boolean(keys.volume, volume),
        mount_path=config.default_mount_path if mount_path is None else _mount_path(keys.mount_path, mount_path),
        containers=targets,
        ambassador=False if ambassador is None else _boolean(keys.ambassador, ambassador),
        otel=otel,
        env_from=env_from,
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


def _env(annotation: str, value: str, config: Config) -> tuple[str, ...]:
    names_all = tuple(field.name for field in config.env_catalog)
    accepted = f'use "all", "none" or a comma list of: {", ".join(names_all)}'
    folded = value.strip().lower()
    if folded == "all":
        return names_all
    if folded == "none":
        return ()
    names = _comma_list(value)
    if not names:
        raise Denied(f"annotation {annotation}: {quote(value)} is empty; {accepted}")
    for name in names:
        if config.env_field(name) is None:
            close = difflib.get_close_matches(name.upper(), names_all, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise Denied(f"annotation {annotation}: unknown env var {quote(name)}{hint}; {accepted}")
    return tuple(dict.fromkeys(names))


def env_name_for(key: str) -> str:
    """The env var name of a label or annotation key without =NAME: upper-cased, every other character '_'
    (app.kubernetes.io/version -> APP_KUBERNETES_IO_VERSION)."""
    return _NOT_NAME_CHAR.sub("_", key.upper())


def _items(value: str) -> list[tuple[str, str, str]]:
    """(item as written, key, name) of KEY[=NAME] items."""
    found = []
    for item in _comma_list(value):
        key, sep, name = item.partition("=")
        key, name = key.strip(), name.strip()
        found.append((item, key, name if sep else env_name_for(key)))
    return found


def env_from_names(annotations: Mapping[str, str], prefix: str) -> frozenset[str]:
    """The env var names the env-from annotations ask for, unchecked (the pod's view collects the user's
    entries of those names before parse() decides whether the annotations are valid)."""
    keys = keys_under(prefix)
    names: set[str] = set()
    for annotation in (keys.env_from_labels, keys.env_from_annotations):
        value = annotations.get(annotation)
        if value:
            names.update(name for _, _, name in _items(value))
    return frozenset(names)


def qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return "its prefix must be a lower-case DNS subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return "its name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


def _env_from(annotations: Mapping[str, str], keys: Keys, config: Config) -> tuple[EnvField, ...]:
    reserved = INJECTABLE_ENV_NAMES | {field.name for field in config.extra_env}
    fields: list[EnvField] = []
    seen: dict[str, str] = {}
    for annotation, what, make in (
        (keys.env_from_labels, "label", label_field),
        (keys.env_from_annotations, "annotation", annotation_field),
    ):
        value = annotations.get(annotation)
        if value is None:
            continue
        accepted = f"use a comma list of {what} keys, each KEY or KEY=ENV_NAME"
        items = _items(value)
        if not items:
            raise Denied(f"annotation {annotation}: {quote(value)} is empty; {accepted}")
        for item, key, name in items:
            where = f"annotation {annotation}: item {quote(item)}"
            problem = qualified_name_problem(key)
            if problem:
                raise Denied(f"{where}: {quote(key)} is not a valid {what} key ({problem}); {accepted}")
            if not ENV_NAME_RE.match(name):
                raise Denied(
                    f"{where}: {quote(name)} is not a valid env var name (letters, digits, '_', '-', '.', not "
                    f"starting with a digit); name it with {key}=ENV_NAME"
                )
            if name in reserved:
                raise Denied(f"{where}: {name} is a variable downward-webhook injects; name it with {key}=ENV_NAME")
            if name in seen:
                raise Denied(f"{where}: {name} is already produced by item {quote(seen[name])}; give each its own name")
            seen[name] = item
            fields.append(make(name, key))
    return tuple(fields)


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
