"""The deployment test is a program, not a pytest suite: ``make test-deployment`` runs it.

Nothing here is collected by ``make test``, even a file someone names ``test_*.py`` later.
"""

from __future__ import annotations

collect_ignore_glob = ["*"]
