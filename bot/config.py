"""Configuration from environment variables.

The variable names are a contract: deployment tooling sets them, so they never change. A missing
or malformed value stops start-up with one line that names the variable and what it expects;
every such line at once, so that one run tells a newcomer everything to set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_FOREST_GRPC_URL = "http://127.0.0.1:4040"
MIN_SECRET_KEY_LENGTH = 32
DEFAULT_REMIND_AFTER_SECONDS = 4 * 3600.0
MAX_NATS_REPLICAS = 5  # JetStream's own limit for a stream's replicas
_NATS_SCHEMES = ("nats", "tls", "ws", "wss")
# 4h, 30m, 90s, or a combination in that order such as 1h30m.
# Forest's organisation names; also a NATS subject token (forest.events.<organisation>).
_ORGANISATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


# Every variable the bot reads, for `--help` and the README: (name, when it is required, meaning).
VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("SLACK_BOT_TOKEN", "required", "the bot token, xoxb-…"),
    ("SLACK_SIGNING_SECRET", "in HTTP mode", "verifies Slack's requests"),
    ("SLACK_APP_TOKEN", "optional", "an app-level token xapp-…; when set, Socket Mode"),
    ("SLACK_API_URL", "optional", "base URL of the Slack Web API"),
    ("NATS_URL", "optional", f"the bot's NATS, with JetStream (default {DEFAULT_NATS_URL})"),
    ("NATS_REPLICAS", "optional", "copies of each stream and bucket: 1 (default), 3 on a cluster"),
    ("FOREST_NATS_URL", "optional", "forest's own NATS, core subjects only (default NATS_URL)"),
    ("FOREST_ORGANISATION", "optional", "the organisation of FOREST_APP_TOKEN; the bot watches it"),
    ("FOREST_GRPC_URL", "optional", f"forest's gRPC address (default {DEFAULT_FOREST_GRPC_URL})"),
    ("FOREST_APP_TOKEN", "required", "forest app token of the organisation, for reads"),
    ("FOREST_WEB_URL", "optional", "forage's address, for links"),
    ("APPROVALS_CHANNEL", "required", "the default Slack channel id for approval messages"),
    ("APPROVALS_ROUTES", "optional", "path of the routing file"),
    ("APPROVALS_REMIND_AFTER", "optional", "wait before one reminder: 4h (default), 30m, 0 off"),
    ("BOT_SECRET_KEY", "required", "keys of 32+ characters, comma-separated: the first seals"),
    ("HOST", "optional", "the HTTP listener's address (default 0.0.0.0)"),
    ("PORT", "optional", "the HTTP listener's port (default 3000)"),
)


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable

    def lines(self) -> list[str]:
        return [str(self)]


class ConfigErrors(ConfigError):
    """Several variables are missing or malformed: one line each, in the order they are read."""

    def __init__(self, problems: list[ConfigError]) -> None:
        Exception.__init__(self, "\n".join(str(problem) for problem in problems))
        self.variable = problems[0].variable
        self.problems = problems

    def lines(self) -> list[str]:
        return [str(problem) for problem in self.problems]


P = ParamSpec("P")
T = TypeVar("T")


def _collecting(read: Callable[P, T]) -> Callable[P, T | None]:
    """A reader method that records its ConfigError on the reader and answers None, so that
    every bad variable is found in one pass."""

    @wraps(read)
    def reading(*args: P.args, **kwargs: P.kwargs) -> T | None:
        try:
            return read(*args, **kwargs)
        except ConfigError as problem:
            reader = args[0]
            assert isinstance(reader, _Reader)
            reader.problems.append(problem)
            return None

    return reading


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    slack_app_token: str | None
    slack_api_url: str | None
    nats_url: str
    forest_grpc_url: str
    forest_app_token: str
    forest_web_url: str
    approvals_channel: str
    approvals_routes: Path | None
    # The first seals stored tokens, every one opens them: a new key goes first, the old one
    # stays listed until every replica runs with the new one.
    bot_secret_keys: tuple[str, ...]
    host: str
    port: int
    # How long an approval waits for votes before a reminder; 0 turns reminders off.
    approvals_remind_after: float = DEFAULT_REMIND_AFTER_SECONDS
    # Copies JetStream keeps of every stream and bucket the bot creates (3 on a 3-node cluster).
    nats_replicas: int = 1
    # Forest's own NATS (core subjects only, often without JetStream); NATS_URL when unset.
    forest_nats_url: str = ""
    # The organisation of FOREST_APP_TOKEN; when set, the bot watches it in forest itself.
    forest_organisation: str | None = None

    @property
    def forest_nats(self) -> str:
        return self.forest_nats_url or self.nats_url

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        candidates = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.forest_app_token,
            *self.bot_secret_keys,
            *_url_credentials(self.nats_url),
            *_url_credentials(self.forest_nats_url),
        ]
        return [value for value in candidates if value]


def load_settings(env: Mapping[str, str], allow_any_port: bool = False) -> Settings:
    """Read and check every variable; raise ConfigError naming the bad one, or ConfigErrors
    naming each of several.

    ``allow_any_port`` admits PORT=0 (the system picks), for tests and the local demo.
    """
    reader = _Reader(env, allow_any_port)
    app_token = reader.optional("SLACK_APP_TOKEN")
    if app_token is not None and not app_token.startswith("xapp-"):
        reader.problems.append(
            ConfigError("SLACK_APP_TOKEN", "must be an app-level token starting with 'xapp-'")
        )
    settings = Settings(
        slack_bot_token=reader.prefixed("SLACK_BOT_TOKEN", "xoxb-", "a Slack bot token"),
        # Socket Mode authenticates over the websocket, so only HTTP mode needs the secret.
        slack_signing_secret=(
            reader.optional("SLACK_SIGNING_SECRET") or ""
            if app_token
            else reader.required("SLACK_SIGNING_SECRET", "the Slack app's signing secret")
        ),
        slack_app_token=app_token,
        slack_api_url=reader.url("SLACK_API_URL", None, ("http", "https"), trailing_slash=True),
        nats_url=reader.url_list("NATS_URL", DEFAULT_NATS_URL, _NATS_SCHEMES),
        nats_replicas=reader.count("NATS_REPLICAS", 1, MAX_NATS_REPLICAS),
        forest_nats_url=reader.url("FOREST_NATS_URL", "", ("nats", "tls", "ws", "wss")) or "",
        forest_organisation=reader.organisation("FOREST_ORGANISATION"),
        forest_grpc_url=reader.url("FOREST_GRPC_URL", DEFAULT_FOREST_GRPC_URL, ("http", "https")),
        forest_app_token=reader.required("FOREST_APP_TOKEN", "forest's app token for reads"),
        forest_web_url=reader.url("FOREST_WEB_URL", "", ("http", "https")) or "",
        approvals_channel=reader.required("APPROVALS_CHANNEL", "a Slack channel id, e.g. C0123ABC"),
        approvals_routes=reader.path("APPROVALS_ROUTES"),
        bot_secret_keys=reader.secret_keys("BOT_SECRET_KEY") or (),
        host=reader.optional("HOST") or "0.0.0.0",
        port=reader.port("PORT", 3000),
        approvals_remind_after=reader.duration(
            "APPROVALS_REMIND_AFTER", DEFAULT_REMIND_AFTER_SECONDS
        ),
    )
    reader.raise_problems()
    return settings


def nats_servers(nats_url: str) -> list[str]:
    """The servers of ``NATS_URL``: one URL, or several separated by commas (a cluster)."""
    return [part.strip() for part in nats_url.split(",") if part.strip()]


def redacted_servers(nats_url: str) -> str:
    """``NATS_URL`` for a log line: each server without its user, password or token."""
    return ",".join(_without_credentials(url) for url in nats_servers(nats_url))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _url_credentials(nats_url: str) -> list[str]:
    found: list[str] = []
    for url in nats_servers(nats_url):
        parts = urlsplit(url)
        found += [value for value in (parts.username, parts.password) if value]
    return found


class _Reader:
    def __init__(self, env: Mapping[str, str], allow_any_port: bool) -> None:
        self._env = env
        self._lowest_port = 0 if allow_any_port else 1
        self.problems: list[ConfigError] = []

    def raise_problems(self) -> None:
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise ConfigErrors(self.problems)

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def _required(self, name: str, expected: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ConfigError(name, f"is not set: expected {expected}")
        return value

    def _prefixed(self, name: str, prefix: str, expected: str) -> str:
        value = self._required(name, f"{expected} ({prefix}…)")
        if not value.startswith(prefix):
            raise ConfigError(name, f"must be {expected} starting with '{prefix}'")
        return value

    def _url(
        self,
        name: str,
        default: str | None,
        schemes: tuple[str, ...],
        trailing_slash: bool = False,
    ) -> str | None:
        value = self.optional(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            allowed = " or ".join(f"{scheme}://" for scheme in schemes)
            raise ConfigError(name, f"must be a URL starting with {allowed}, got {value!r}")
        if trailing_slash and not value.endswith("/"):
            value += "/"
        return value

    def _url_list(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        """One URL or several separated by commas, each checked like ``url``."""
        value = self.optional(name)
        if value is None:
            return default
        servers = nats_servers(value)
        if not servers:
            raise ConfigError(name, f"must list at least one URL, got {value!r}")
        for server in servers:
            parts = urlsplit(server)
            if parts.scheme not in schemes or not parts.netloc:
                allowed = " or ".join(f"{scheme}://" for scheme in schemes)
                shown = _without_credentials(server)
                raise ConfigError(
                    name,
                    f"must be a URL starting with {allowed} (several: separated by commas), "
                    f"got {shown!r}",
                )
        return ",".join(servers)

    def _count(self, name: str, default: int, highest: int) -> int:
        value = self.optional(name)
        if value is None:
            return default
        if not value.isdigit() or not 1 <= int(value) <= highest:
            raise ConfigError(name, f"must be a whole number from 1 to {highest}, got {value!r}")
        return int(value)

    def _organisation(self, name: str) -> str | None:
        value = self.optional(name)
        if value is not None and not _ORGANISATION.fullmatch(value):
            raise ConfigError(
                name,
                f"must be the name of a forest organisation (letters, digits, '-' or '_'), "
                f"got {value!r}",
            )
        return value

    def _path(self, name: str) -> Path | None:
        value = self.optional(name)
        if value is None:
            return None
        path = Path(value)
        if not path.is_file():
            raise ConfigError(name, f"must name a readable routing file; {value!r} does not exist")
        return path

    def _secret_keys(self, name: str) -> tuple[str, ...]:
        """One key, or several separated by commas (the first seals, all open)."""
        value = self._required(
            name, f"a random secret of at least {MIN_SECRET_KEY_LENGTH} characters"
        )
        keys = tuple(key.strip() for key in value.split(",") if key.strip())
        if not keys:
            raise ConfigError(name, "lists no key between its commas")
        for position, key in enumerate(keys, start=1):
            if len(key) < MIN_SECRET_KEY_LENGTH:
                # Which one, by position: the value itself is a secret.
                which = f"key {position} of {len(keys)}" if len(keys) > 1 else "the key"
                raise ConfigError(
                    name,
                    f"is too short: {which} has fewer than {MIN_SECRET_KEY_LENGTH} characters "
                    "(e.g. the output of `openssl rand -hex 32`)",
                )
        return keys

    def _duration(self, name: str, default: float) -> float:
        """Seconds from ``4h``, ``30m``, ``90s`` or ``1h30m``; ``0`` is zero."""
        value = self.optional(name)
        if value is None:
            return default
        if value == "0":
            return 0.0
        match = _DURATION.fullmatch(value.lower())
        if match is None or not any(match.groups()):
            raise ConfigError(
                name,
                f"must be a duration such as 4h, 30m, 90s or 1h30m, or 0 for off; got {value!r}",
            )
        hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return float(hours * 3600 + minutes * 60 + seconds)

    def _port(self, name: str, default: int) -> int:
        value = self.optional(name)
        if value is None:
            return default
        if not value.isdigit() or not self._lowest_port <= int(value) < 65536:
            raise ConfigError(name, f"must be a TCP port number from 1 to 65535, got {value!r}")
        return int(value)

    required = _collecting(_required)
    prefixed = _collecting(_prefixed)
    url = _collecting(_url)
    url_list = _collecting(_url_list)
    count = _collecting(_count)
    path = _collecting(_path)
    organisation = _collecting(_organisation)
    secret_keys = _collecting(_secret_keys)
    duration = _collecting(_duration)
    port = _collecting(_port)
