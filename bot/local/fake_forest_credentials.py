"""Tokens and device logins (RFC 8628) of the fake forest."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from bot.local.fake_forest_records import Actor, ForestError

# RFC 8628 suggests a user code alphabet without vowels and look-alike characters.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


class GrantState(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    HANDED_OUT = "handed_out"


class PollStatus(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    SLOW_DOWN = "slow_down"


@dataclass
class AccessToken:
    token: str
    username: str
    expires_at: float


@dataclass
class RefreshToken:
    token: str
    username: str
    expires_at: float


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in_seconds: int
    expires_at: float


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    client_name: str
    client_version: str
    scopes: list[str]
    created_at: float
    expires_at: float
    interval_seconds: int
    state: GrantState = GrantState.PENDING
    username: str | None = None
    polls: list[float] = field(default_factory=list)

    @property
    def last_polled_at(self) -> float | None:
        return self.polls[-1] if self.polls else None


@dataclass(frozen=True)
class PollResult:
    status: PollStatus
    username: str | None = None
    tokens: IssuedTokens | None = None


class Credentials:
    """Issues, resolves, rotates and revokes tokens; runs device login grants."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        access_token_lifetime: float,
        refresh_token_lifetime: float,
        device_login_lifetime: int,
        device_poll_interval: int,
    ) -> None:
        self._clock = clock
        self.access_token_lifetime = access_token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.device_login_lifetime = device_login_lifetime
        self.device_poll_interval = device_poll_interval
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._apps: dict[str, str] = {}
        self._grants: dict[str, DeviceGrant] = {}

    # tokens

    def issue_user_tokens(self, username: str) -> IssuedTokens:
        now = self._clock()
        access = AccessToken(_token("fat"), username, now + self.access_token_lifetime)
        refresh = RefreshToken(_token("frt"), username, now + self.refresh_token_lifetime)
        self._access[access.token] = access
        self._refresh[refresh.token] = refresh
        return IssuedTokens(
            access_token=access.token,
            refresh_token=refresh.token,
            expires_in_seconds=int(self.access_token_lifetime),
            expires_at=access.expires_at,
        )

    def issue_access_token(self, username: str, lifetime: float | None = None) -> str:
        seconds = self.access_token_lifetime if lifetime is None else lifetime
        access = AccessToken(_token("fat"), username, self._clock() + seconds)
        self._access[access.token] = access
        return access.token

    def issue_app_token(self, organisation: str) -> str:
        token = _token("fapp")
        self._apps[token] = organisation
        return token

    def resolve(self, token: str | None) -> Actor | None:
        if not token:
            return None
        if token in self._apps:
            return Actor("app", self._apps[token], token)
        access = self.access_token(token)
        return Actor("user", access.username, token) if access else None

    def access_token(self, token: str) -> AccessToken | None:
        access = self._access.get(token)
        if access is None or access.expires_at <= self._clock():
            return None
        return access

    def refresh(self, refresh_token: str) -> tuple[str, IssuedTokens]:
        """Rotate: the presented refresh token is spent whether or not it was still valid."""
        record = self._refresh.pop(refresh_token, None)
        if record is None or record.expires_at <= self._clock():
            raise ForestError(
                grpc.StatusCode.UNAUTHENTICATED, "refresh token is invalid or expired"
            )
        return record.username, self.issue_user_tokens(record.username)

    def revoke_refresh_tokens(self, username: str) -> int:
        spent = [t for t, r in self._refresh.items() if r.username == username]
        for token in spent:
            del self._refresh[token]
        return len(spent)

    def revoke_access_tokens(self, username: str) -> int:
        spent = [t for t, a in self._access.items() if a.username == username]
        for token in spent:
            del self._access[token]
        return len(spent)

    # device login

    def start_device_login(
        self, client_name: str, client_version: str, scopes: list[str]
    ) -> DeviceGrant:
        now = self._clock()
        grant = DeviceGrant(
            device_code=_token("fdc"),
            user_code=self._new_user_code(),
            client_name=client_name,
            client_version=client_version,
            scopes=list(scopes),
            created_at=now,
            expires_at=now + self.device_login_lifetime,
            interval_seconds=self.device_poll_interval,
        )
        self._grants[grant.device_code] = grant
        return grant

    def approve_device_code(self, user_code: str, username: str) -> DeviceGrant:
        grant = self._open_grant(user_code)
        grant.state = GrantState.APPROVED
        grant.username = username
        return grant

    def deny_device_code(self, user_code: str) -> DeviceGrant:
        grant = self._open_grant(user_code)
        grant.state = GrantState.DENIED
        return grant

    def pending_device_logins(self) -> list[DeviceGrant]:
        now = self._clock()
        return [
            g for g in self._grants.values() if g.state is GrantState.PENDING and g.expires_at > now
        ]

    def poll(self, device_code: str) -> PollResult:
        grant = self._grants.get(device_code)
        if grant is None:
            raise ForestError(grpc.StatusCode.NOT_FOUND, "device login not found")
        now = self._clock()
        too_soon = _polled_too_soon(grant, now)
        grant.polls.append(now)
        if too_soon:
            return PollResult(PollStatus.SLOW_DOWN)
        if grant.state is GrantState.HANDED_OUT or now >= grant.expires_at:
            return PollResult(PollStatus.EXPIRED)
        if grant.state is GrantState.DENIED:
            return PollResult(PollStatus.DENIED)
        if grant.state is GrantState.PENDING or grant.username is None:
            return PollResult(PollStatus.PENDING)
        grant.state = GrantState.HANDED_OUT
        tokens = self.issue_user_tokens(grant.username)
        return PollResult(PollStatus.APPROVED, grant.username, tokens)

    def _open_grant(self, user_code: str) -> DeviceGrant:
        wanted = _plain_code(user_code)
        grant = next((g for g in self._grants.values() if _plain_code(g.user_code) == wanted), None)
        if grant is None:
            raise LookupError(f"no device login with user code {user_code!r}")
        if grant.state is not GrantState.PENDING or grant.expires_at <= self._clock():
            raise ValueError(f"device login {grant.user_code} is no longer pending")
        return grant

    def _new_user_code(self) -> str:
        taken = {g.user_code for g in self._grants.values()}
        while True:
            letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
            code = f"{letters[:4]}-{letters[4:]}"
            if code not in taken:
                return code


def _polled_too_soon(grant: DeviceGrant, now: float) -> bool:
    if grant.interval_seconds <= 0 or grant.last_polled_at is None:
        return False
    return now - grant.last_polled_at < grant.interval_seconds


def _plain_code(user_code: str) -> str:
    return user_code.replace("-", "").replace(" ", "").upper()


def _token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(24)}"
