"""manifest.yml asks for exactly the scopes the code's Slack calls need."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The scope each Web API method needs (views.* and auth.test need none beyond the token).
SCOPES = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.delete": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.getPermalink": set(),
    "reactions.add": {"reactions:write"},
    "users.lookupByEmail": {"users:read", "users:read.email"},
    "users.info": {"users:read"},  # the names of people a thread vote mentions
    "conversations.history": {"channels:history", "groups:history"},
    "conversations.open": {"im:write"},
    "views.open": set(),
    "views.update": set(),
    "views.publish": set(),
    "auth.test": set(),
}
# Scopes that serve Slack features rather than a Web API call.
FEATURE_SCOPES = {
    "commands",  # the /forest slash command
    "channels:history",  # message.channels events: votes typed in threads
    "groups:history",  # message.groups events
}


def called_methods() -> set[str]:
    methods = set()
    product = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/*.py")]
    for path in [path for path in product if "local" not in path.relative_to(ROOT).parts]:
        text = path.read_text()
        methods |= {
            m.replace("_", ".", 1)
            for m in re.findall(
                r"\.(chat_\w+|users_\w+|"
                r"conversations_\w+|reactions_\w+|views_\w+|auth_test)\(",
                text,
            )
        }
        methods |= set(re.findall(r"_call\(\s*\"([a-zA-Z]+\.[a-zA-Z]+)\"", text))
    return methods


def test_every_called_method_is_known_and_its_scope_is_in_the_manifest():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    methods = called_methods()
    assert {
        "chat.postMessage",
        "chat.update",
        "users.lookupByEmail",
        "chat.getPermalink",
        "conversations.open",
        "views.publish",
    } <= methods
    unknown = methods - set(SCOPES)
    assert not unknown, f"add the scopes of {unknown} to this test and the manifest"
    needed = set().union(*(SCOPES[m] for m in methods)) | FEATURE_SCOPES
    assert granted == needed


def test_the_manifest_declares_the_command_events_and_socket_mode():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/forest"]
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "message.channels",
        "message.groups",
    }
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
