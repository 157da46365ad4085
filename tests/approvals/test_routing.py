import pytest

from bot.approval import ApprovalRequest
from bot.approvals.routing import Router, parse_routes
from bot.config import ConfigError

ROUTES = """
routes:
  - channel: C_ACME_ALL
    organisation: acme
  - organisation: acme
    project: "payments-*"
    channel: C_PAYMENTS
  - organisation: acme
    project: payments-api
    environment: production
    channel: C_PAYMENTS_PROD
  - environment: "prod*"
    channel: C_ANY_PROD
"""


def request(org: str, project: str, env: str) -> ApprovalRequest:
    return ApprovalRequest(
        event_id="e",
        organisation=org,
        project=project,
        release_intent_id="0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10",
        target_environment=env,
        required_approvals=1,
    )


@pytest.mark.parametrize(
    ("org", "project", "env", "channel"),
    [
        ("acme", "payments-api", "production", "C_PAYMENTS_PROD"),
        ("acme", "payments-web", "production", "C_PAYMENTS"),
        ("acme", "search", "staging", "C_ACME_ALL"),
        ("globex", "search", "production", "C_ANY_PROD"),
        ("globex", "search", "staging", "C_DEFAULT"),
    ],
)
def test_the_most_specific_route_wins(org, project, env, channel):
    router = Router("C_DEFAULT", parse_routes(ROUTES, "routes.yml"))
    assert router.channel_for(request(org, project, env)) == channel


def test_an_empty_file_routes_everything_to_the_default():
    router = Router("C_DEFAULT", parse_routes("", "routes.yml"))
    assert router.channel_for(request("acme", "x", "y")) == "C_DEFAULT"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("routes:\n  - organisation: acme\n    channel: [oops\n", "line 3"),
        ("routes:\n  - organisation: acme\n", "line 2: this route has no 'channel'"),
        ("routes:\n  - channel: C1\n    team: acme\n", "line 3: unknown key 'team'"),
        ("routes:\n  - channel: C1\n  - channel:\n", "line 3: 'channel' must be a non-empty text"),
        ("routes: C1\n", "line 1: 'routes' must be a list"),
        ("- channel: C1\n", "line 1: expected a mapping"),
        ("rutes:\n  - channel: C1\n", "unknown key 'rutes'"),
    ],
)
def test_a_bad_routing_file_names_the_line(text, expected):
    with pytest.raises(ConfigError) as caught:
        parse_routes(text, "routes.yml")
    message = str(caught.value)
    assert message.startswith("APPROVALS_ROUTES file routes.yml")
    assert expected in message
