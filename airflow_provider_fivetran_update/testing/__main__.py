"""``python -m airflow_provider_fivetran_update.testing``: serve the simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_fivetran_update.testing.net import is_loopback


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_fivetran_update.testing",
        description="Serve an offline Fivetran API simulator with demo connections.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port to bind, 0 for any (default: 8089)")
    parser.add_argument("--api-key", default="sim-key", help="API key clients must send")
    parser.add_argument("--api-secret", default="sim-secret", help="API secret clients must send")
    parser.add_argument("--no-seed", action="store_true", help="start without the demo connections")
    parser.add_argument(
        "--historical-sync-seconds", type=float, default=10.0, help="how long a historical sync takes"
    )
    parser.add_argument("--sync-seconds", type=float, default=5.0, help="how long an incremental sync takes")
    parser.add_argument(
        "--setup-tests-seconds",
        type=float,
        default=0.0,
        help="how long setup tests take: a PATCH that runs them and POST /test answer this much later",
    )
    parser.add_argument(
        "--setup-test-limits",
        choices=["paid", "trial"],
        default=None,
        help="the setup-test rate limit Fivetran documents for paid plans (250/min, 2,500/h) or trials"
        " (50/h); unlimited by default",
    )
    parser.add_argument(
        "--historical-sync-start",
        choices=["immediate", "next_scheduled"],
        default="immediate",
        help="when is_historical_sync: true starts the sync: at once (the OpenAPI, default) or with the"
        " next sync (the reference page)",
    )
    parser.add_argument(
        "--legacy-connectors-path",
        action="store_true",
        help="also serve the older /v1/connectors paths (absent from the current OpenAPI)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow binding to an address other machines can reach (the simulator has no real security)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    if not args.allow_non_loopback and not is_loopback(args.host):
        print(
            f"Refusing to bind to {args.host!r}: the simulator serves loopback only. "
            "Pass --allow-non-loopback to override.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=logging.INFO if args.access_log else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Imported here so that --help and a refused host answer at once.
    from airflow_provider_fivetran_update.testing.simulator import AIRFLOW_CONN_ENV, FivetranSimulator

    simulator = FivetranSimulator(
        api_key=args.api_key,
        api_secret=args.api_secret,
        host=args.host,
        port=args.port,
        historical_sync_seconds=args.historical_sync_seconds,
        sync_seconds=args.sync_seconds,
        setup_tests_seconds=args.setup_tests_seconds,
        setup_test_limits=args.setup_test_limits,
        historical_sync_start=args.historical_sync_start,
        legacy_connectors_path=args.legacy_connectors_path,
        seed=not args.no_seed,
        allow_non_loopback=args.allow_non_loopback,
        log_level="info" if args.access_log else "warning",
        access_log=args.access_log,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        simulator.start()
    except OSError as exc:
        print(f"Cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"Fivetran simulator listening on {simulator.url}", flush=True)
        print(f"Connections: {', '.join(simulator.connection_ids()) or '(none)'}", flush=True)
        print(f"{AIRFLOW_CONN_ENV}={shlex.quote(simulator.airflow_connection_json())}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
