"""The docs cannot drift: the field table is the catalogue's own rendering, and the README (also the
package's long description on the index, where relative links break) stands on its own."""

from __future__ import annotations

import re

from airflow_provider_fivetran_update.fields import catalogue_markdown
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT
README = ROOT / "README.md"
UPDATE_OPERATOR_DOC = ROOT / "docs" / "update-operator.md"
# Pages other branches add; the README names them before they land.
PAGES_WRITTEN_ELSEWHERE = {
    "docs/guarantees.md",
    "docs/maintenance-window.md",
    "docs/sync-operators.md",
    "docs/migrating-from-astronomer.md",
    "docs/simulator-api.md",
}


def test_field_table_matches_the_catalogue() -> None:
    text = UPDATE_OPERATOR_DOC.read_text()
    start = text.index("<!-- fields-table:start -->\n") + len("<!-- fields-table:start -->\n")
    end = text.index("<!-- fields-table:end -->")
    assert text[start:end].strip() == catalogue_markdown().strip(), (
        "docs/update-operator.md's field table is out of date: paste the output of "
        "airflow_provider_fivetran_update.fields.catalogue_markdown() between its markers."
    )


def test_readme_has_no_relative_links_or_images() -> None:
    targets = re.findall(r"!?\[[^\]]*\]\(([^)]+)\)", README.read_text())
    relative = [target for target in targets if not re.match(r"https?://", target)]
    assert relative == [], f"relative links break on the package index: {relative}"


def test_every_docs_page_the_readme_names_exists() -> None:
    named = set(re.findall(r"docs/[\w./-]+\.md", README.read_text()))
    assert named, "the README should point at the docs"
    missing = sorted(page for page in named - PAGES_WRITTEN_ELSEWHERE if not (ROOT / page).is_file())
    assert missing == []
