"""Several kubeconfig files as one, merged the way kubectl merges the files of $KUBECONFIG.

kubectl's rules (`kubectl config view --help`): files are read in order; for every cluster, user and context the
first file that names it wins; `current-context` comes from the first file that sets one. A relative file path
in a file (a CA, a client certificate or key, a token file) is relative to that file, so it is made absolute
before the entries of several directories are mixed. Pure: the documents are read by the caller.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

# section -> (the entry's body key, the keys in it that are file paths)
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key", "tokenFile")),
    "contexts": ("context", ()),
}


def merge(files: Sequence[tuple[str, Mapping[str, Any] | None]]) -> dict[str, Any]:
    """One kubeconfig from (path, parsed document) pairs in $KUBECONFIG's order; an empty file adds nothing."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", **{section: [] for section in SECTIONS}}
    for path, document in files:
        if not document:
            continue
        if "current-context" not in merged and document.get("current-context"):
            merged["current-context"] = document["current-context"]
        directory = posixpath.dirname(posixpath.abspath(path))
        for section, (body_key, path_keys) in SECTIONS.items():
            names = {entry.get("name") for entry in merged[section]}
            for entry in document.get(section) or []:
                if not isinstance(entry, Mapping) or entry.get("name") in names:
                    continue
                names.add(entry.get("name"))
                merged[section].append(_absolute(entry, body_key, path_keys, directory))
    return merged


def _absolute(entry: Mapping[str, Any], body_key: str, path_keys: tuple[str, ...], directory: str) -> dict[str, Any]:
    body = entry.get(body_key)
    if not isinstance(body, Mapping):
        return dict(entry)
    fixed = {
        key: posixpath.join(directory, value) if key in path_keys and isinstance(value, str) and value else value
        for key, value in body.items()
    }
    return {**entry, body_key: fixed}
