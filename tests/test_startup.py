"""A bad configuration stops start-up with one clear line naming what is wrong."""

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
from tests_support import approvals_bot

from bot.local.local_stack import LocalStack
from bot.local.nats_server import free_port, run_nats_server


async def run_cli(env: dict[str, str], timeout: float = 20.0) -> tuple[int, list[str]]:
    process = await approvals_bot("run", env=env)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        # A start-up that did not stop is killed, so it holds no port after a failed test.
        if process.returncode is None:
            process.kill()
            await process.wait()
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


async def wait_for_answer(session: aiohttp.ClientSession, url: str, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            async with session.get(url) as reply:
                return reply.status, await reply.json()
        except aiohttp.ClientError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_unreachable_nats_at_start_is_reported_and_a_signal_stops_it(
    stack: LocalStack, tmp_path: Path, signum: int
):
    nats_port, http_port = free_port(), free_port()
    env = stack.env(NATS_URL=f"nats://bot:s3cr3t-pw@127.0.0.1:{nats_port}", PORT=str(http_port))
    process = await approvals_bot("run", env=env, merge_stderr=True)
    try:
        base = f"http://127.0.0.1:{http_port}"
        async with aiohttp.ClientSession() as session:
            # The listener answers while NATS cannot be reached.
            status, body = await wait_for_answer(session, f"{base}/healthz")
            assert status == 200
            status, body = await wait_for_answer(session, f"{base}/readyz")
            assert status == 503
            assert body["checks"]["nats"] == "connecting"
            assert body["checks"]["startup"] == "starting"
            await asyncio.sleep(1.5)  # a few attempts
        process.send_signal(signum)
        output, _ = await asyncio.wait_for(process.communicate(), 5.0)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    log = output.decode()
    assert f"nats://127.0.0.1:{nats_port} (NATS_URL) is not reachable" in log
    assert "s3cr3t-pw" not in log
    # Said once, not once a second.
    assert log.count("is not reachable") == 1


async def test_the_bot_becomes_ready_when_nats_comes_up_after_it(stack: LocalStack, tmp_path: Path):
    nats_port, http_port = free_port(), free_port()
    env = stack.env(NATS_URL=f"nats://127.0.0.1:{nats_port}", PORT=str(http_port))
    process = await approvals_bot("run", env=env, merge_stderr=True)
    base = f"http://127.0.0.1:{http_port}"
    try:
        async with aiohttp.ClientSession() as session:
            status, _ = await wait_for_answer(session, f"{base}/readyz")
            assert status == 503
            async with run_nats_server(tmp_path / "late-nats", port=nats_port):
                deadline = asyncio.get_running_loop().time() + 15
                while (await wait_for_answer(session, f"{base}/readyz"))[0] != 200:
                    assert asyncio.get_running_loop().time() < deadline, "never ready"
                    await asyncio.sleep(0.2)
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 15.0)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0


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
