"""Compatibility name for :mod:`airflow_provider_fivetran_update.api`: the same public names."""

from __future__ import annotations

from airflow_provider_fivetran_update.api import *  # noqa: F403
from airflow_provider_fivetran_update.api import __all__ as __all__
