"""Slack's wire encoding, decoded once on the way in."""

import pytest

from bot.slack.wire_text import decode, mentioned_users


@pytest.mark.parametrize(
    ("wire", "typed"),
    [
        ("perf &amp; load &lt;p99&gt;", "perf & load <p99>"),
        ("see <https://ci.example/run/1>", "see https://ci.example/run/1"),
        ("<https://ci.example/run/1|run 1> failed", "run 1 (https://ci.example/run/1) failed"),
        ("<https://ci.example/run/1|ci.example/run/1>", "https://ci.example/run/1"),
        ("<https://x.example/?a=1&amp;b=2|a &amp; b>", "a & b (https://x.example/?a=1&b=2)"),
        ("cc <@U0ALICE>", "cc @alice"),
        ("cc <@U0NOBODY|nobody>", "cc @nobody"),
        ("cc <@U0NOBODY>", "cc @U0NOBODY"),
        ("in <#C0OPS|ops> and <#C0DEV>", "in #ops and #C0DEV"),
        ("<!here> <!channel> <!everyone|everyone>", "@here @channel @everyone"),
        ("<!subteam^S0SRE|@sre> look", "@sre look"),
        ("<!date^1700000000^{date}|Nov 14> ok", "Nov 14 ok"),
        ("mail <mailto:a@b.example|a@b.example>", "mail a@b.example"),
        ("literally &amp;lt;b&amp;gt;", "literally &lt;b&gt;"),
        ("nothing to do", "nothing to do"),
    ],
)
def test_wire_text_reads_as_typed(wire: str, typed: str) -> None:
    assert decode(wire, {"U0ALICE": "alice"}) == typed


def test_mentioned_users_are_listed_once_in_order() -> None:
    text = "<@U0BOB> <@U0ALICE|alice> and <@U0BOB> again, not <#C0OPS|ops>"
    assert mentioned_users(text) == ["U0BOB", "U0ALICE"]
