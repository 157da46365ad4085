"""Logging: one JSON object per line (or plain text for humans), never a secret.

A filter on the root handler replaces every registered secret, and anything shaped like a Slack
token, before a line is written, so a mistake elsewhere cannot leak one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_SLACK_TOKEN = re.compile(r"\bx(?:ox[abposr]|app)-[0-9A-Za-z-]+")
_STANDARD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
REDACTED = "[redacted]"


class SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, *secrets: str) -> None:
        # Short values would redact ordinary words; real secrets are long.
        self._secrets.update(secret for secret in secrets if secret and len(secret) >= 8)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SLACK_TOKEN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for name, value in _extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, name, self.scrub(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_extra_fields(record))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


# slack_bolt.logger.messages: warning_client_prioritized_and_token_skipped() and
# warning_token_skipped(); a start-up test notices when Bolt rewords them.
_BOLT_TOKEN_NOTICES = frozenset(
    {
        "As you gave `client` as well, `token` will be unused.",
        "As `installation_store` or `authorize` has been used, `token` (or SLACK_BOT_TOKEN env "
        "variable) will be ignored.",
    }
)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = _extra_fields(record)
        if extra:
            text += " " + " ".join(f"{key}={value}" for key, value in extra.items())
        return text


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_FIELDS}


def _bolt_token_notice(record: logging.LogRecord) -> bool:
    """Drop Bolt's start-up warnings that its token is unused: Bolt reads SLACK_BOT_TOKEN from
    the environment itself, and the client and authorize it is given hold that same token, so
    every start would warn an operator about nothing."""
    return not (
        record.name.startswith("slack_bolt") and record.getMessage() in _BOLT_TOKEN_NOTICES
    )


def configure_logging(log_format: str, secrets: SecretFilter, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(secrets)
    handler.addFilter(_bolt_token_notice)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO is noise for operators; their warnings still show.
    # The logger slack_sdk's web client writes to is set on its own: it tests that logger's
    # own level, and an unset one would make it format a debug line with every request body.
    for noisy in (
        "slack_bolt",
        "slack_sdk",
        "slack_sdk.web.async_base_client",
        "nats",
        "aiohttp.access",
        "grpc",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
