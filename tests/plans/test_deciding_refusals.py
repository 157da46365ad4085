"""What refuses a plan decision before forest is asked, in words."""

from bot.approvals.voting import Verdict
from bot.plans.deciding import PlanBallot, PlanChoice, _refusal
from bot.plans.plan import Decided, PlanDecision, PlanStage, StageEnd
from bot.plans.plan_store import PlanRecord
from bot.state.approval_store import Phase

STAGE = PlanStage("acme", "infra", "intent-1", "plan-prod", "prod")
RECORD = PlanRecord(STAGE, "C1", Phase.POSTED, "me", 0.0, ts="1.0")


def ballot(user: str = "U0BOB", channel: str = "C1", ts: str = "1.0") -> PlanBallot:
    return PlanBallot("T1", user, STAGE.key, PlanChoice.APPROVE, channel=channel, message_ts=ts)


def test_a_waiting_plan_may_be_decided():
    assert _refusal(RECORD, ballot()) is None


def test_refusals_say_why():
    cases = [
        (None, ballot(), "not one the bot is tracking"),
        (RECORD, ballot(ts="2.0"), "does not belong to this plan"),
        (
            PlanRecord(**{**RECORD.__dict__, "decision": PlanDecision(Decided.REJECTED, "U0C")}),
            ballot(),
            "Already decided: this plan was rejected.",
        ),
        (
            PlanRecord(**{**RECORD.__dict__, "decision": PlanDecision(Decided.APPROVED, "U0BOB")}),
            ballot(),
            "You already approved this plan.",
        ),
        (PlanRecord(**{**RECORD.__dict__, "end": StageEnd.CANCELLED}), ballot(), "cancelled"),
        (PlanRecord(**{**RECORD.__dict__, "end": StageEnd.FAILED}), ballot(), "stage failed"),
    ]
    for record, asked, words in cases:
        result = _refusal(record, asked)
        assert result is not None and words in result.sentence, (record, result)
        assert result.verdict in (Verdict.REFUSED, Verdict.UNCHANGED)
