"""How the notify recorder files what it receives (and that it never keeps a bot token)."""
from __future__ import annotations

import pytest

from rehearsal.notify_recorder import classify


@pytest.mark.parametrize("path, channel, via, kept", [
    ("/sns/slack", "slack", "sns", "/sns/slack"),
    ("/sns/telegram", "telegram", "sns", "/sns/telegram"),
    ("/slack/services/T0/B0/secret", "slack", "direct", "/slack/services/T0/B0/secret"),
    ("/telegram/bot111:token/sendMessage", "telegram", "direct", "/telegram/bot***/sendMessage"),
])
def test_classify(path, channel, via, kept):
    assert classify(path) == {"channel": channel, "via": via, "path": kept}
