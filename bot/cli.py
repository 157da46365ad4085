"""The ``approvals-bot`` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bot.check import run_checks
from bot.run import run_bot, until_signalled
from bot.runtime import event_loop
from bot.runtime.logs import SecretFilter, configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="approvals-bot", description="Forest's approval gate in Slack."
    )
    parser.add_argument(
        "--log-format",
        choices=("json", "text"),
        default="json",
        help="json (one object per line, the default) or text for humans",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (configuration from environment variables)")
    commands.add_parser(
        "check", help="check the configuration and that Slack, NATS and forest answer"
    )
    demo = commands.add_parser(
        "demo", help="run the bot locally against an embedded NATS, a fake forest and a fake Slack"
    )
    demo.add_argument("--port", type=int, default=3000, help="the bot's HTTP port (3000)")
    demo.add_argument(
        "--ui-port", type=int, default=8080, help="the port of the demo's web page (8080)"
    )
    args = parser.parse_args(argv)

    if args.command == "demo":
        # The demo's fakes are not the product: `run` and `check` never import them.
        from bot.local.demo.command import DemoError, run_demo

        configure_logging(args.log_format, SecretFilter())
        try:
            return event_loop.run(
                until_signalled(lambda stop: run_demo(args.port, args.ui_port, stop))
            )
        except DemoError as error:
            print(f"approvals-bot: {error}", file=sys.stderr)
            return 2

    if args.command == "check":
        verdicts = asyncio.run(run_checks(os.environ))
        for verdict in verdicts:
            print(verdict.line())
        return 0 if all(verdict.ok for verdict in verdicts) else 1

    return run_bot(os.environ, args.log_format)


if __name__ == "__main__":
    sys.exit(main())
