"""Run one ``fivetran`` (fivetran-cli 1.1.0) command against a loopback base URL.

Usage: ``python fivetran_cli_driver.py BASE_URL fivetran-arguments...`` with the interpreter of a
venv where fivetran-cli is installed (``make client-venvs``).

fivetran-cli has no option or environment variable for the API's address: its entry point always
builds its client for ``https://api.fivetran.com`` (``resolve_config`` uses ``DEFAULT_BASE_URL``).
This driver does what that entry point does, with fivetran-cli's own code, and changes only that
one step: it parses the arguments with the CLI's parser, runs the same pre-flight checks, builds
the CLI's ``FivetranClient`` with ``ClientConfig(base_url=...)`` (a field the client supports),
calls the command's handler and renders the answer with the CLI's output code. Telemetry, which
the entry point sends to Fivetran, is never reached; ``DO_NOT_TRACK=1`` is set besides.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def main(argv: list[str]) -> int:
    base_url, *command = argv
    if urlsplit(base_url).hostname not in LOOPBACK:
        print(f"Refusing {base_url!r}: this driver only talks to a loopback simulator.", file=sys.stderr)
        return 2
    os.environ["DO_NOT_TRACK"] = "1"

    from fivetran_cli import _validate_flags_before_execution
    from fivetran_cli.cli_utils.args import resolve_api_key
    from fivetran_cli.cli_utils.parser import build_parser
    from fivetran_cli.display.error_output import emit_error
    from fivetran_cli.display.output import emit_output
    from fivetran_cli.http.client import ClientConfig, FivetranClient
    from fivetran_cli.http.exceptions import FivetranCliError

    args = build_parser().parse_args(command)
    args._stdout, args._stderr = sys.stdout, sys.stderr
    client = FivetranClient(ClientConfig(api_key=resolve_api_key(args), base_url=base_url, timeout=30))
    try:
        _validate_flags_before_execution(args)
        emit_output(args.handler(args, client), args=args, stdout=sys.stdout)
    except FivetranCliError as exc:
        emit_error(exc, args=args, stderr=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
