"""The core's exceptions, written for the person running `kubectl apply`.

DownwardError
 ├── Denied      a pod we refuse: review() turns it into an answer (allowed: false, code 400) with this message
 └── BadReview   the request is not an AdmissionReview we can answer: HTTP 400 with this reason

(ConfigError, for an invalid operator configuration, lives with the file it is about: webhook/config.py.)
"""

from __future__ import annotations


class DownwardError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Denied(DownwardError):
    """The pod cannot be injected as asked; the message says which annotation to change and how."""


class BadReview(DownwardError):
    """The request body is not a well-formed AdmissionReview v1, or its object is not a Pod's shape."""


def quote(value: str, limit: int = 80) -> str:
    """Show a user-supplied value safely inside a message: escaped, quoted and bounded."""
    shown = value if len(value) <= limit else value[:limit] + "..."
    return '"' + shown.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
