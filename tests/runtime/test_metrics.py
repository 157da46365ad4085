"""GET /metrics shows what the bot did, in Prometheus' text format."""

import grpc
from tests_support import all_text, wait_until

from bot.local.local_stack import CHANNEL, LocalStack


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        base, _, label_text = metric.partition("{")
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if base == name and got == wanted:
            return float(value)
    raise AssertionError(f"no sample {name}{{{wanted}}}")


async def test_metrics_count_events_messages_votes_and_calls(stack: LocalStack):
    bot = await stack.start_bot()
    await stack.link("bob")
    intent = stack.new_release()
    await stack.announce(intent)
    await stack.publish_raw("forest.approval.required.acme.payments-api", b"not json")
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 1)
    ts = stack.slack.messages(CHANNEL)[0].ts
    stack.forest.fail_next("ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "down")
    await stack.click("bob", ts, "approval_approve")
    await wait_until(
        lambda: any("NOT" in all_text(e) for e in stack.slack.ephemerals(CHANNEL, "U0BOB"))
    )
    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, ts)))
    # The vote is counted once its answer is settled, a moment after the message shows it.
    await wait_until(
        lambda: (
            bot.metrics.registry.get_sample_value(
                "approvals_votes_total", {"kind": "approve", "outcome": "recorded"}
            )
            == 1
        )
    )

    for _ in range(3):  # readiness probes forest with a call it answers with an error
        assert (await stack.session.get(f"{stack.bot_url(bot)}/readyz")).status == 200
    reply = await stack.session.get(f"{stack.bot_url(bot)}/metrics")
    assert reply.status == 200
    text = await reply.text()
    assert sample(text, "approvals_events_total", result="posted") == 1
    assert sample(text, "approvals_events_set_aside_total", reason="poison") == 1
    assert sample(text, "approvals_messages_posted_total") == 1
    assert sample(text, "approvals_messages_updated_total") >= 1
    assert sample(text, "approvals_votes_total", kind="approve", outcome="failed") == 1
    assert sample(text, "approvals_votes_total", kind="approve", outcome="recorded") == 1
    assert sample(text, "approvals_forest_errors_total", code="UNAVAILABLE") == 1
    assert 'code="INTERNAL"' not in text
    assert sample(text, "approvals_forest_call_seconds_count", method="ExternalApproveRelease") == 2
    assert sample(text, "approvals_slack_call_seconds_count", method="chat.postMessage") >= 2
    assert sample(text, "approvals_open") == 1
