"""Checks on mount paths, shared by the annotation parser and the operator configuration."""

from __future__ import annotations

import posixpath


def mount_path_problem(path: str) -> str | None:
    """Why `path` cannot be the downward files' mount path, or None when it can."""
    if not path.startswith("/"):
        return "must be an absolute path (start with /)"
    if ":" in path:
        return "must not contain ':'"
    if any(part == ".." for part in path.split("/")):
        return "must not contain '..'"
    if posixpath.normpath(path) == "/":
        return "must not be / (the files would hide the container's root)"
    if len(path) > 1024:
        return "must be at most 1024 characters"
    return None


def same_mount_path(a: str, b: str) -> bool:
    """Two mount paths that name the same directory (the apiserver compares raw strings; the kubelet does not)."""
    return posixpath.normpath(a) == posixpath.normpath(b)
