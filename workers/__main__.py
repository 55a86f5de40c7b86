"""``python -m workers [routing notify ...]`` runs consumers; ``python -m workers scheduler`` runs
the relay, the reconciler and the scheduled jobs (one leader; extra copies wait as standbys)."""

from __future__ import annotations

import argparse
import logging

from workstation.config import Config
from workstation.messaging import SUBSCRIPTIONS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument(
        "what", nargs="*", help=f"'scheduler', or consumers among {', '.join(SUBSCRIPTIONS)} (default: all)"
    )
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


if __name__ == "__main__":
    main()
