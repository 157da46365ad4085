"""The `approvals-bot` command line: options on either side of the command, help that lists the
variables a command reads, and the demo's ports."""

import asyncio
import re
import socket
import sys
from pathlib import Path

import pytest
from tests_support import approvals_bot

from bot.config import VARIABLES
from bot.local.demo.command import pick_port

ROOT = Path(__file__).resolve().parents[1]


async def output_of(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await approvals_bot(*args, env=env, merge_stderr=True)
    stdout, _ = await asyncio.wait_for(process.communicate(), 30.0)
    assert process.returncode is not None
    return process.returncode, stdout.decode()


async def test_run_help_lists_every_variable_it_reads():
    code, text = await output_of("run", "--help")
    assert code == 0
    assert "--log-format" in text
    for name, _, _ in VARIABLES:
        assert re.search(rf"^  {name}\s", text, re.M), f"{name} missing from run --help"


def test_every_variable_the_configuration_reads_is_listed():
    source = (ROOT / "bot" / "config.py").read_text()
    read = set(re.findall(r'reader\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', source))
    assert read, "the configuration reads no variables?"
    assert read <= {name for name, _, _ in VARIABLES}


@pytest.mark.parametrize(
    "args",
    [
        ("--log-format", "text", "run"),
        ("run", "--log-format", "text"),
    ],
)
async def test_the_log_format_is_accepted_on_either_side_of_the_command(args):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env={"PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 30.0)
    text = stdout.decode()
    assert process.returncode == 2
    assert "unrecognized arguments" not in text
    assert text.splitlines()[0] == (
        "approvals-bot: SLACK_BOT_TOKEN is not set: expected a Slack bot token (xoxb-…)"
    )


async def test_a_taken_demo_port_is_one_line_naming_the_option():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, text = await output_of("demo", "--port", str(port))
    assert code == 2
    assert text.strip().splitlines() == [
        f"approvals-bot: cannot serve the bot on 127.0.0.1:{port} (address already in use); "
        "pick another port with --port"
    ]


def test_a_taken_default_port_gives_way_to_a_free_one_and_says_which():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        default = taken.getsockname()[1]
        port, note = pick_port(None, default, "--ui-port", "the demo page")
    assert port != default
    assert note == (
        f"port {default} is taken, so the demo page uses port {port} (--ui-port picks one)"
    )


def test_a_free_default_port_is_used_quietly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        default = probe.getsockname()[1]
    assert pick_port(None, default, "--port", "the bot") == (default, "")
