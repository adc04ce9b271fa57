"""Plain helpers the test modules share (fixtures live in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout: this file is ``<repo>/tests/helpers.py`` whatever the depth of the test using it."""

SHARED_FIVETRAN = REPO_ROOT.parent / "shared" / "fivetran"
"""Fivetran's documents, read-only, beside the worktree (``/work/shared/fivetran``)."""
