from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeviceLoginStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_LOGIN_STATUS_UNSPECIFIED: _ClassVar[DeviceLoginStatus]
    DEVICE_LOGIN_STATUS_PENDING: _ClassVar[DeviceLoginStatus]
    DEVICE_LOGIN_STATUS_APPROVED: _ClassVar[DeviceLoginStatus]
    DEVICE_LOGIN_STATUS_DENIED: _ClassVar[DeviceLoginStatus]
    DEVICE_LOGIN_STATUS_EXPIRED: _ClassVar[DeviceLoginStatus]
    DEVICE_LOGIN_STATUS_SLOW_DOWN: _ClassVar[DeviceLoginStatus]
DEVICE_LOGIN_STATUS_UNSPECIFIED: DeviceLoginStatus
DEVICE_LOGIN_STATUS_PENDING: DeviceLoginStatus
DEVICE_LOGIN_STATUS_APPROVED: DeviceLoginStatus
DEVICE_LOGIN_STATUS_DENIED: DeviceLoginStatus
DEVICE_LOGIN_STATUS_EXPIRED: DeviceLoginStatus
DEVICE_LOGIN_STATUS_SLOW_DOWN: DeviceLoginStatus

class UserEmail(_message.Message):
    __slots__ = ("email", "verified")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    email: str
    verified: bool
    def __init__(self, email: _Optional[str] = ..., verified: _Optional[bool] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("user_id", "username", "emails")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAILS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    emails: _containers.RepeatedCompositeFieldContainer[UserEmail]
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ..., emails: _Optional[_Iterable[_Union[UserEmail, _Mapping]]] = ...) -> None: ...

class AuthTokens(_message.Message):
    __slots__ = ("access_token", "refresh_token", "expires_in_seconds")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    refresh_token: str
    expires_in_seconds: int
    def __init__(self, access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class InitiateDeviceLoginRequest(_message.Message):
    __slots__ = ("client_name", "client_version", "scopes")
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    client_name: str
    client_version: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_name: _Optional[str] = ..., client_version: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class InitiateDeviceLoginResponse(_message.Message):
    __slots__ = ("device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in_seconds", "interval_seconds")
    DEVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    USER_CODE_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_URI_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_URI_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in_seconds: int
    interval_seconds: int
    def __init__(self, device_code: _Optional[str] = ..., user_code: _Optional[str] = ..., verification_uri: _Optional[str] = ..., verification_uri_complete: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ..., interval_seconds: _Optional[int] = ...) -> None: ...

class PollDeviceLoginRequest(_message.Message):
    __slots__ = ("device_code",)
    DEVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    device_code: str
    def __init__(self, device_code: _Optional[str] = ...) -> None: ...

class PollDeviceLoginResponse(_message.Message):
    __slots__ = ("status", "user", "tokens")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    status: DeviceLoginStatus
    user: User
    tokens: AuthTokens
    def __init__(self, status: _Optional[_Union[DeviceLoginStatus, str]] = ..., user: _Optional[_Union[User, _Mapping]] = ..., tokens: _Optional[_Union[AuthTokens, _Mapping]] = ...) -> None: ...

class RefreshTokenRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class RefreshTokenResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: AuthTokens
    def __init__(self, tokens: _Optional[_Union[AuthTokens, _Mapping]] = ...) -> None: ...

class TokenInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TokenInfoResponse(_message.Message):
    __slots__ = ("user_id", "expires_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    expires_at: int
    def __init__(self, user_id: _Optional[str] = ..., expires_at: _Optional[int] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id", "username", "email")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    email: str
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...
