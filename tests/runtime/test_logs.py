"""Logs: one JSON object per line, saying which release, where, who and how it ended."""

import io
import json
import logging
import subprocess
import sys

from tests_support import wait_until

from bot.local.local_stack import LocalStack
from bot.runtime.logs import JsonFormatter, SecretFilter, TextFormatter


def capture(
    formatter: logging.Formatter, secrets: SecretFilter
) -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(secrets)
    logging.getLogger().addHandler(handler)
    return stream, handler


async def test_each_event_and_vote_is_one_json_line_with_its_facts(stack: LocalStack):
    bot = await stack.start_bot()
    secrets = SecretFilter()
    secrets.add(*bot.settings.secrets())
    stream, handler = capture(JsonFormatter(), secrets)
    logging.getLogger().setLevel(logging.INFO)
    try:
        await stack.link("bob")
        intent, ts = await stack.open_approval()
        await stack.click("bob", ts, "approval_approve")
        await stack.slack.wait_for("chat.update", ok=True)
        await wait_until(lambda: '"bot.approvals.voting"' in stream.getvalue())
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    posted = [
        line
        for line in lines
        if line.get("release_intent_id") == intent and line["logger"] == "bot.events.consumer"
    ]
    assert len(posted) == 1
    assert posted[0]["environment"] == "production"
    assert posted[0]["outcome"] == "posted"
    [vote] = [line for line in lines if line["logger"] == "bot.approvals.voting"]
    assert vote["release_intent_id"] == intent
    assert vote["slack_user"] == "U0BOB"
    assert vote["outcome"] == "recorded"
    assert {"time", "level", "message"} <= set(vote)


def test_text_format_is_for_people_and_still_scrubbed():
    secrets = SecretFilter()
    secrets.add("xoxb-very-secret-token")
    stream, handler = capture(TextFormatter(), secrets)
    log = logging.getLogger("bot.example")
    try:
        log.warning("token %s leaked", "xoxb-very-secret-token", extra={"slack_user": "U1"})
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    assert "WARNING" in line and "bot.example" in line and "slack_user=U1" in line
    assert "xoxb-very-secret-token" not in line and "[redacted]" in line
    assert not line.startswith("{")


def test_the_slack_web_client_does_not_format_a_debug_line_per_request():
    # slack_sdk builds a debug line with the whole request body unless the level of the very
    # logger its client holds is above DEBUG; an unset level (0) counts as DEBUG there.
    script = (
        "import logging\n"
        "from slack_sdk.web.async_client import AsyncWebClient\n"
        "from bot.runtime.logs import SecretFilter, configure_logging\n"
        "configure_logging('json', SecretFilter())\n"
        "print(AsyncWebClient(token='xoxb-x').logger.level)\n"
    )
    level = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert int(level) > logging.DEBUG
