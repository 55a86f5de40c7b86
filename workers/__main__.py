"""``python -m workers [routing notify ...]`` runs consumers; ``python -m workers scheduler`` runs
the relay, the reconciler and the scheduled jobs (one leader; extra copies wait as standbys)."""

from __future__ import annotations

import argparse
import logging
import sys

from workstation.config import Config
from workstation.services.messaging import SUBSCRIPTIONS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument(
        "what", nargs="*", help=f"'scheduler', or consumers among {', '.join(SUBSCRIPTIONS)} (default: all)"
    )
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["send-digest"]:
        send_digest_by_hand(argv[1:])
        return
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    # The reconciler runs every few seconds; APScheduler's line per run would drown the log.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    config = Config.from_env()
    from workers import runtime

    if args.what == ["scheduler"]:
        runtime.run_scheduler(config)
        return
    unknown = set(args.what) - set(SUBSCRIPTIONS)
    if unknown:
        parser.error(f"unknown consumer(s): {', '.join(sorted(unknown))}")
    runtime.run_consumers(config, args.what or list(SUBSCRIPTIONS))


def send_digest_by_hand(argv: list[str]) -> None:
    """``python -m workers send-digest --email E [--period P]`` (what ``python -m workstation
    send-digest`` runs): one coordinator's digest, sent now through the notify worker's code."""
    parser = argparse.ArgumentParser(prog="python -m workstation send-digest")
    parser.add_argument("--email", required=True)
    parser.add_argument("--period", default=None)
    args = parser.parse_args(argv)
    from workers.by_hand import DigestCommandError, send_now

    try:
        print(send_now(Config.from_env(), args.email, args.period))
    except DigestCommandError as err:
        if err.usage:
            parser.error(str(err))
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
