"""JSON Patch as evanphx/json-patch v4 applies it (the apiserver), checked against python-json-patch."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import jsonpatch


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
