"""The YAML documents of a file, or of stdin for "-": what `inject -f` and `check -f` read.

One reader, so both commands answer a missing file or bad YAML with the same words.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml


class DocumentsError(Exception):
    """The file cannot be read, or is not YAML; `message` says which and where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def read_documents(filename: str) -> list[Any]:
    """Every non-empty YAML document of `filename` ("-": stdin)."""
    try:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text(encoding="utf-8")
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except OSError as error:
        raise DocumentsError(f"cannot read {filename}: {error.strerror}") from None
    except UnicodeDecodeError as error:  # a binary file, or another encoding: Kubernetes manifests are UTF-8
        raise DocumentsError(f"cannot read {filename}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    except yaml.YAMLError as error:
        raise DocumentsError(f"{filename} is not valid YAML: {error}") from None
