"""A bad configuration stops start-up with one clear line naming what is wrong."""

import asyncio
from pathlib import Path

from tests_support import approvals_bot

from bot.local.local_stack import LocalStack


async def run_cli(env: dict[str, str], timeout: float = 20.0) -> tuple[int, list[str]]:
    process = await approvals_bot("run", env=env)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stderr.decode().strip().splitlines()


async def test_a_missing_bot_token_stops_startup_with_one_line(stack: LocalStack):
    env = stack.env(PORT="3999")
    del env["SLACK_BOT_TOKEN"]
    code, lines = await run_cli(env)
    assert code == 2
    assert lines == [
        "approvals-bot: SLACK_BOT_TOKEN is not set: expected a Slack bot token (xoxb-…)"
    ]


async def test_with_no_environment_every_required_variable_is_named_in_one_run():
    code, lines = await run_cli({"PATH": "/usr/bin:/bin"})
    assert code == 2
    assert [line.split(" ")[1] for line in lines] == [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "FOREST_APP_TOKEN",
        "APPROVALS_CHANNEL",
        "BOT_SECRET_KEY",
    ]
    assert all(line.startswith("approvals-bot: ") and " is not set: " in line for line in lines)


async def test_a_bad_routing_file_stops_startup_naming_the_line(stack: LocalStack, tmp_path: Path):
    routes = tmp_path / "routes.yml"
    routes.write_text("routes:\n  - organisation: acme\n    chanel: C0PAY\n")
    code, lines = await run_cli(stack.env(APPROVALS_ROUTES=str(routes), PORT="3999"))
    assert code == 2
    assert lines[-1] == (
        "approvals-bot: APPROVALS_ROUTES file routes.yml line 3: unknown key 'chanel'; "
        "expected one of organisation, project, environment, channel"
    )
    assert len([line for line in lines if "APPROVALS_ROUTES" in line]) == 1


async def test_a_nats_url_without_jetstream_stops_startup_with_one_line(stack: LocalStack):
    # forest's own NATS runs without JetStream: right for FOREST_NATS_URL, wrong for NATS_URL.
    assert stack.forest_nats_server is not None
    no_jetstream = stack.forest_nats_server.url
    code, lines = await run_cli(stack.env(NATS_URL=no_jetstream, PORT="3998"))
    assert code == 2
    assert lines[-1] == (
        f"approvals-bot: NATS_URL points at a NATS without JetStream ({no_jetstream}): the bot "
        "keeps its state in JetStream, so run its NATS with -js (forest's own NATS, without "
        "JetStream, belongs in FOREST_NATS_URL)"
    )
    assert not any("Traceback" in line for line in lines)


async def test_an_organisation_the_app_token_cannot_read_stops_startup_with_one_line(
    stack: LocalStack,
):
    stack.forest.add_organisation("globex")
    code, lines = await run_cli(stack.env(FOREST_ORGANISATION="globex", PORT="3997"))
    assert code == 2
    assert lines[-1].startswith(
        "approvals-bot: FOREST_ORGANISATION names 'globex', which FOREST_APP_TOKEN cannot read"
    )
    assert lines[-1].endswith("set it to the organisation the app token was created in")
    assert not any("Traceback" in line for line in lines)
