"""The README's field table is the catalogue's own rendering, so the docs cannot drift."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_fivetran_update.fields import catalogue_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_field_table_matches_the_catalogue() -> None:
    text = README.read_text()
    start = text.index("<!-- fields-table:start -->\n") + len("<!-- fields-table:start -->\n")
    end = text.index("<!-- fields-table:end -->")
    assert text[start:end].strip() == catalogue_markdown().strip(), (
        "README.md's field table is out of date: paste the output of "
        "airflow_provider_fivetran_update.fields.catalogue_markdown() between its markers."
    )
