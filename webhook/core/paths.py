"""Mount paths: one canonical form, and the checks shared by the annotation parser and the configuration."""

from __future__ import annotations


def canonical_mount_path(path: str) -> str:
    """Collapse repeated slashes and "." segments, drop a trailing slash: the directory the kubelet mounts.

    posixpath.normpath is not enough: POSIX lets it keep a leading "//", which the kubelet treats as "/".
    """
    return "/" + "/".join(part for part in path.split("/") if part not in ("", "."))


def mount_path_problem(path: str) -> str | None:
    """Why `path` cannot be the downward files' mount path, or None when it can."""
    if not path.startswith("/"):
        return "must be an absolute path (start with /)"
    if ":" in path:
        return "must not contain ':'"
    if any(part == ".." for part in path.split("/")):
        return "must not contain '..'"
    if canonical_mount_path(path) == "/":
        return "must not be / (the files would hide the container's root)"
    if len(path) > 1024:
        return "must be at most 1024 characters"
    return None
