"""Where the shipped policies and schemas are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    # An editable install or a plain checkout: the top-level folder is the source of truth.
    return _CHECKOUT / name


def shipped_policies_dir() -> Path:
    return _data_dir("policies")


def schemas_dir() -> Path:
    return _data_dir("schemas")


def schema_path(name: str) -> Path:
    return schemas_dir() / name
