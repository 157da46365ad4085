"""The ``approvals-bot`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from bot.check import run_checks
from bot.config import VARIABLES
from bot.run import run_bot, until_signalled
from bot.runtime import event_loop
from bot.runtime.logs import SecretFilter, configure_logging


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

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
        # Each check's line says what failed; the warnings its probes log on the way would
        # only repeat it, above the lines. Errors still show, with secrets scrubbed.
        configure_logging(args.log_format, SecretFilter())
        logging.disable(logging.WARNING)
        verdicts = asyncio.run(run_checks(os.environ))
        for verdict in verdicts:
            print(verdict.line())
        return 0 if all(verdict.ok for verdict in verdicts) else 1

    return run_bot(os.environ, args.log_format)


def _parser() -> argparse.ArgumentParser:
    # --log-format is accepted before and after the command: the command's own copy leaves the
    # value alone unless it is given there.
    before = _log_format(argparse.ArgumentParser(add_help=False), "json")
    after = _log_format(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="approvals-bot", description="Forest's approval gate in Slack.", parents=[before]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    variables = _variables_help()
    commands.add_parser(
        "run",
        parents=[after],
        help="run the bot (configuration from environment variables)",
        description="Run the bot until SIGTERM or SIGINT.",
        epilog=variables,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands.add_parser(
        "check",
        parents=[after],
        help="check the configuration and that Slack, NATS and forest answer",
        description="Check the configuration and that Slack, NATS and forest answer.",
        epilog=variables,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo = commands.add_parser(
        "demo",
        parents=[after],
        help="run the bot locally against an embedded NATS, a fake forest and a fake Slack",
        description="Run the bot against an embedded NATS, a fake forest and a fake Slack, "
        "with a Slack-like page to act as each person. It reads no environment variables.",
    )
    demo.add_argument(
        "--port", type=int, help="the bot's HTTP port (3000, or a free one when 3000 is taken)"
    )
    demo.add_argument(
        "--ui-port",
        type=int,
        help="the demo page's port (8080, or a free one when 8080 is taken)",
    )
    return parser


def _log_format(parser: argparse.ArgumentParser, default: str) -> argparse.ArgumentParser:
    parser.add_argument(
        "--log-format",
        choices=("json", "text"),
        default=default,
        help="json (one object per line, the default) or text for humans",
    )
    return parser


def _variables_help() -> str:
    width = max(len(name) for name, _, _ in VARIABLES)
    lines = [f"  {name:<{width}}  {when:<12}  {meaning}" for name, when, meaning in VARIABLES]
    return "environment variables:\n" + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
