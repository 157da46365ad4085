"""What `approvals-bot run` says when all is well: a clean start and stop warns of nothing, so a
warning in an operator's logs always means something."""

import asyncio
import signal

from tests_support import approvals_bot

from bot.local.local_stack import LocalStack
from bot.local.nats_server import free_port

START_TIMEOUT = 30.0


async def test_a_clean_start_and_stop_logs_no_warning(stack: LocalStack):
    process = await approvals_bot("run", env=stack.env(PORT=str(free_port())), merge_stderr=True)
    assert process.stdout is not None
    said: list[str] = []
    try:
        while not any("approvals bot started" in line for line in said):
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
            assert line, "the bot ended before it started:\n" + "".join(said)
            said.append(line.decode())
        process.send_signal(signal.SIGTERM)
        said += (await asyncio.wait_for(process.stdout.read(), 20.0)).decode().splitlines(True)
        assert await asyncio.wait_for(process.wait(), 20.0) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert any("approvals bot stopped" in line for line in said)
    assert [line for line in said if "WARNING" in line or "ERROR" in line] == []
