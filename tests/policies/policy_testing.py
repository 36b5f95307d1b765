"""Paths shared by the policy tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "policies"
