"""An offline Fivetran API simulator for tests, demos and users' own DAG tests."""

from __future__ import annotations
