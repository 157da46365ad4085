"""approvals-bot check: one line per check, and an exit code that says whether all is well."""

import asyncio
import os
import sys

from bot.check import run_checks
from bot.local.local_stack import LocalStack


async def test_everything_reachable_passes(stack: LocalStack):
    verdicts = await run_checks(stack.env(PORT="3000"))
    assert [(v.name, v.ok) for v in verdicts] == [
        ("config", True),
        ("slack", True),
        ("nats", True),
        ("forest-nats", True),
        ("forest", True),
    ]
    assert "U0BOT" in verdicts[1].detail or "workspace T0ACME" in verdicts[1].detail


async def test_each_failure_is_named(stack: LocalStack):
    verdicts = {
        v.name: v
        for v in await run_checks(
            stack.env(
                PORT="3000",
                FOREST_APP_TOKEN="not-a-token",
                SLACK_BOT_TOKEN="xoxb-wrong",
                NATS_URL="nats://127.0.0.1:1",
            )
        )
    }
    assert verdicts["config"].ok
    assert not verdicts["slack"].ok and "invalid_auth" in verdicts["slack"].detail
    assert not verdicts["nats"].ok and "cannot connect" in verdicts["nats"].detail
    assert not verdicts["forest"].ok and "refused FOREST_APP_TOKEN" in verdicts["forest"].detail


async def test_a_bad_configuration_stops_at_the_first_check(stack: LocalStack):
    env = stack.env(PORT="3000")
    del env["BOT_SECRET_KEY"]
    [verdict] = await run_checks(env)
    assert verdict.name == "config" and not verdict.ok
    assert "BOT_SECRET_KEY is not set" in verdict.detail


async def test_the_command_exits_non_zero_when_a_check_fails(stack: LocalStack):
    env = {"PATH": os.environ["PATH"], **stack.env(PORT="3000", NATS_URL="nats://127.0.0.1:1")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "check",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    lines = stdout.decode().splitlines()
    assert process.returncode == 1
    assert [line.split()[:2] for line in lines] == [
        ["ok", "config"],
        ["ok", "slack"],
        ["FAIL", "nats"],
        ["ok", "forest-nats"],
        ["ok", "forest"],
    ]


async def test_forest_watch_and_both_nats_servers_are_reported(stack: LocalStack):
    assert stack.forest_nats_server is not None
    verdicts = {
        v.name: v for v in await run_checks(stack.env(PORT="3000", FOREST_ORGANISATION="acme"))
    }
    assert all(v.ok for v in verdicts.values()), verdicts
    assert f"at {stack.forest_nats_server.url} (FOREST_NATS_URL)" in verdicts["forest-nats"].detail
    assert "watching acme" in verdicts["forest"].detail


async def test_an_unreadable_organisation_and_a_nats_url_without_jetstream_fail(
    stack: LocalStack,
):
    assert stack.forest_nats_server is not None
    stack.forest.add_organisation("globex")
    verdicts = {
        v.name: v
        for v in await run_checks(
            stack.env(
                PORT="3000",
                FOREST_ORGANISATION="globex",
                NATS_URL=stack.forest_nats_server.url,
            )
        )
    }
    assert not verdicts["nats"].ok
    assert "JetStream is not enabled" in verdicts["nats"].detail
    assert "NATS_URL" in verdicts["nats"].detail
    assert not verdicts["forest"].ok
    # The same sentence as start-up's (bot/watch/organisation.py).
    assert verdicts["forest"].detail.startswith(
        "FOREST_ORGANISATION names 'globex', which FOREST_APP_TOKEN cannot read"
    )
    assert verdicts["forest"].detail.endswith(
        "set it to the organisation the app token was created in"
    )


async def test_the_command_prints_its_lines_and_nothing_else(stack: LocalStack):
    # A refused probe is said once, in its check's line, not again as a log line above them.
    env = {
        "PATH": os.environ["PATH"],
        **stack.env(PORT="3000", FOREST_ORGANISATION="nope", NATS_URL="nats://127.0.0.1:1"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "check",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    lines = stdout.decode().splitlines()
    assert process.returncode == 1
    assert [line.split()[:2] for line in lines] == [
        ["ok", "config"],
        ["ok", "slack"],
        ["FAIL", "nats"],
        ["ok", "forest-nats"],
        ["FAIL", "forest"],
    ], lines
