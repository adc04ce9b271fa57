"""``python -m airflow_provider_fivetran_update.maintenance``: list or resume stranded connections.

Run it where Airflow is configured with access to the metadata database (a scheduler or API
server host, or ``airflow`` container), as for ``airflow variables list``. It uses the same Airflow
connection as the windows and the same durable record. ``--resume-stranded`` only says what it
would do unless ``--apply`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, print what is found (and done); 0 on success, 1 when something failed."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_fivetran_update.maintenance",
        description="List or resume Fivetran connections that a maintenance window paused and never resumed.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list-stranded", action="store_true", help="list the held connections")
    action.add_argument(
        "--resume-stranded",
        action="store_true",
        help="resume the stranded connections (only says what it would do without --apply)",
    )
    parser.add_argument("--apply", action="store_true", help="with --resume-stranded: really resume")
    parser.add_argument(
        "--conn-id", default=DEFAULT_CONN_ID, help=f"the Airflow connection (default {DEFAULT_CONN_ID})"
    )
    parser.add_argument(
        "--connection-ids",
        default=None,
        help="only these Fivetran connection ids (comma-separated); default: every paused one",
    )
    args = parser.parse_args(argv)
    if args.apply and not args.resume_stranded:
        parser.error("--apply goes with --resume-stranded")
    # Read the Airflow connection and the record from the metadata database, like Airflow's CLI.
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")

    from airflow_provider_fivetran_update.exceptions import FivetranError
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
    from airflow_provider_fivetran_update.maintenance.ledger import Ledger
    from airflow_provider_fivetran_update.maintenance.recovery import describe, find_stranded, resume_stranded
    from airflow_provider_fivetran_update.maintenance.window import parse_connection_ids

    ids = parse_connection_ids(args.connection_ids) if args.connection_ids else None
    hook = FivetranHook(args.conn_id)
    ledger = Ledger(args.conn_id)
    try:
        found = find_stranded(hook, ledger, ids)
        for line in describe(found):
            print(line)
        if args.resume_stranded:
            stranded = [item for item in found if item.stranded]
            if not args.apply:
                if stranded:
                    print(f"Dry run: would resume {len(stranded)} connection(s). Add --apply to resume them.")
            else:
                for line in resume_stranded(hook, ledger, found):
                    print(line)
    except FivetranError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        hook.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
