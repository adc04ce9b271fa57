"""pytest fixtures for the Fivetran API simulator (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations
