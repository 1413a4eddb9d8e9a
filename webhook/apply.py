"""Apply our own JSON-Patch operations to a decoded object, as the apiserver would (for offline injection).

Only the verbs the webhook emits (add, replace) are supported; they follow evanphx/json-patch: `add` under a
missing parent fails, `add` at an index inserts, "-" appends, `replace` on a missing map key adds it.
Values are copied in: the webhook shares its building blocks between patches, a document must not.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any


class PatchError(ValueError):
    """An operation does not apply: a bug in the webhook if it ever happens."""


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def apply_ops(document: Any, ops: Iterable[Mapping[str, Any]]) -> Any:
    for op in ops:
        verb, path, value = op["op"], op["path"], copy.deepcopy(op.get("value"))
        if verb not in ("add", "replace"):
            raise PatchError(f"unsupported operation {verb!r}")
        tokens = [_unescape(t) for t in path.split("/")[1:]]
        if not tokens:
            raise PatchError("cannot add at the document root")
        parent = _resolve(document, tokens[:-1], path)
        last = tokens[-1]
        if isinstance(parent, dict):
            parent[last] = value
        elif isinstance(parent, list):
            if verb == "add":
                index = len(parent) if last == "-" else _index(last, len(parent), path)
                parent.insert(index, value)
            else:
                parent[_index(last, len(parent) - 1, path)] = value
        else:
            raise PatchError(f"{path}: parent is not a container")
    return document


def _resolve(document: Any, tokens: list[str], path: str) -> Any:
    node = document
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"{path}: missing parent {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node) - 1, path)]
        else:
            raise PatchError(f"{path}: parent is not a container")
    return node


def _index(token: str, highest: int, path: str) -> int:
    if not token.isdigit():
        raise PatchError(f"{path}: {token!r} is not an array index")
    index = int(token)
    if index > highest:
        raise PatchError(f"{path}: index {index} out of range")
    return index
