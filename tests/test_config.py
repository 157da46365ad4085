import pytest

from bot.config import ConfigError, load_settings, nats_servers, redacted_servers

VALID = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "FOREST_APP_TOKEN": "forest-app-token",
    "APPROVALS_CHANNEL": "C0APPROVALS",
    "BOT_SECRET_KEY": "k" * 40,
}


def test_defaults_serve_a_local_setup():
    settings = load_settings(VALID)
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.forest_grpc_url == "http://127.0.0.1:4040"
    assert settings.port == 3000
    assert settings.socket_mode is False


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SLACK_BOT_TOKEN", None, "SLACK_BOT_TOKEN is not set"),
        ("SLACK_BOT_TOKEN", "xapp-wrong-kind", "SLACK_BOT_TOKEN must be a Slack bot token"),
        ("SLACK_SIGNING_SECRET", None, "SLACK_SIGNING_SECRET is not set"),
        ("FOREST_APP_TOKEN", "", "FOREST_APP_TOKEN is not set"),
        ("APPROVALS_CHANNEL", None, "APPROVALS_CHANNEL is not set"),
        ("BOT_SECRET_KEY", "short", "BOT_SECRET_KEY is too short"),
        ("NATS_URL", "localhost:4222", "NATS_URL must be a URL starting with nats://"),
        ("NATS_URL", "nats://a:4222,b:4222", "NATS_URL must be a URL starting with nats://"),
        ("NATS_REPLICAS", "0", "NATS_REPLICAS must be a whole number from 1 to 5"),
        ("NATS_REPLICAS", "three", "NATS_REPLICAS must be a whole number from 1 to 5"),
        ("NATS_REPLICAS", "7", "NATS_REPLICAS must be a whole number from 1 to 5"),
        ("FOREST_GRPC_URL", "grpc://forest", "FOREST_GRPC_URL must be a URL starting with http://"),
        ("PORT", "eighty", "PORT must be a TCP port number"),
        ("PORT", "70000", "PORT must be a TCP port number"),
        ("SLACK_APP_TOKEN", "xoxb-not-app", "SLACK_APP_TOKEN must be an app-level token"),
        ("APPROVALS_ROUTES", "/nonexistent/routes.yml", "APPROVALS_ROUTES must name a readable"),
    ],
)
def test_a_bad_value_names_the_variable(name, value, expected):
    env = dict(VALID)
    if value is None:
        env.pop(name)
    else:
        env[name] = value
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert str(caught.value).startswith(expected)
    assert caught.value.variable == name
    assert "\n" not in str(caught.value)


def test_every_bad_variable_is_named_at_once():
    env = {"PORT": "eighty", "NATS_URL": "localhost:4222"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    lines = caught.value.lines()
    assert str(caught.value).splitlines() == lines
    named = [line.split(" ", 1)[0] for line in lines]
    assert named == [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "NATS_URL",
        "FOREST_APP_TOKEN",
        "APPROVALS_CHANNEL",
        "BOT_SECRET_KEY",
        "PORT",
    ]
    assert "SLACK_BOT_TOKEN is not set: expected a Slack bot token (xoxb-…)" in lines
    assert "PORT must be a TCP port number from 1 to 65535, got 'eighty'" in lines


def test_socket_mode_needs_no_signing_secret():
    env = {k: v for k, v in VALID.items() if k != "SLACK_SIGNING_SECRET"}
    env["SLACK_APP_TOKEN"] = "xapp-1-abc"
    settings = load_settings(env)
    assert settings.socket_mode is True


def test_slack_api_url_gets_the_trailing_slash_slack_sdk_needs():
    settings = load_settings({**VALID, "SLACK_API_URL": "http://127.0.0.1:9999/api"})
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"


def test_secrets_lists_every_secret_value():
    settings = load_settings({**VALID, "SLACK_APP_TOKEN": "xapp-1-abc"})
    assert set(settings.secrets()) == {
        "xoxb-1-2-abc",
        "signing-secret",
        "xapp-1-abc",
        "forest-app-token",
        "k" * 40,
    }


def test_a_nats_cluster_is_several_urls_and_a_replica_count():
    settings = load_settings(
        {
            **VALID,
            "NATS_URL": "nats://a:4222, nats://bot:pw-1234@b:4222",
            "NATS_REPLICAS": "3",
        }
    )
    assert nats_servers(settings.nats_url) == ["nats://a:4222", "nats://bot:pw-1234@b:4222"]
    assert settings.nats_replicas == 3
    assert load_settings(VALID).nats_replicas == 1
    # Logged without credentials, and the password is scrubbed from every log line.
    assert redacted_servers(settings.nats_url) == "nats://a:4222,nats://b:4222"
    assert "pw-1234" in settings.secrets()


def test_forest_nats_credentials_are_secrets_too():
    settings = load_settings({**VALID, "FOREST_NATS_URL": "nats://forest:fpw-5678@forest-nats:4222"})
    assert "fpw-5678" in settings.secrets()


def test_bot_secret_key_lists_keys_newest_first():
    new, old = "n" * 40, "o" * 64
    settings = load_settings({**VALID, "BOT_SECRET_KEY": f" {new} , {old},"})
    assert settings.bot_secret_keys == (new, old)
    assert new in settings.secrets() and old in settings.secrets()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("k" * 40 + ",short", "BOT_SECRET_KEY is too short: key 2 of 2 has fewer than 32"),
        (" , ,", "BOT_SECRET_KEY lists no key between its commas"),
    ],
)
def test_a_bad_key_in_the_list_is_named_by_position_not_shown(value, expected):
    with pytest.raises(ConfigError) as caught:
        load_settings({**VALID, "BOT_SECRET_KEY": value})
    assert str(caught.value).startswith(expected)
    assert "k" * 32 not in str(caught.value)
