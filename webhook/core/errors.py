"""The project's exceptions, all written for the person running `kubectl apply` or starting the server.

DownwardError
 ├── Denied        an admission request we refuse: becomes allowed=false, code 400, with this message
 ├── BadReview     the HTTP body is not an AdmissionReview we can answer: becomes HTTP 400
 └── ConfigError   the operator configuration is invalid: the server refuses to start
"""

from __future__ import annotations


class DownwardError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Denied(DownwardError):
    """The pod cannot be injected as asked; the message says which annotation to change and how."""


class BadReview(DownwardError):
    """The request body is not a well-formed AdmissionReview v1."""


class ConfigError(DownwardError):
    """The operator configuration is invalid; the message names the key."""


def quote(value: str, limit: int = 80) -> str:
    """Show a user-supplied value safely inside a message: escaped, quoted and bounded."""
    shown = value if len(value) <= limit else value[:limit] + "..."
    return '"' + shown.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
