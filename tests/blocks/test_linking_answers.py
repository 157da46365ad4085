"""The linking flow's private answers show a forest account's name as it is, once escaped."""

import pytest

from blocks import linking

NAME = "ops&dev <!channel>"
SHOWN = "ops&amp;dev &lt;!channel&gt;"


@pytest.mark.parametrize(
    "message",
    [
        linking.linked(NAME),
        linking.whoami(NAME),
        linking.logged_out(NAME),
        linking.login_refused("not_yours", NAME),
        linking.login_refused("no_verified_email", NAME),
        linking.someone_tried_your_account("U0MALLORY", NAME),
        linking.your_account_moved("U0MALLORY", NAME),
    ],
)
def test_a_forest_account_name_is_shown_escaped_once(message):
    assert f"*{SHOWN}*" in message.text
    assert "&amp;amp;" not in message.text
    assert "<!channel>" not in message.text
