from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Project(_message.Message):
    __slots__ = ("organisation", "project")
    ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    organisation: str
    project: str
    def __init__(self, organisation: _Optional[str] = ..., project: _Optional[str] = ...) -> None: ...

class ExternalApprovalDecisionEntry(_message.Message):
    __slots__ = ("user_id", "username", "decision", "decided_at", "comment")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    decision: str
    decided_at: str
    comment: str
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ..., decision: _Optional[str] = ..., decided_at: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class ExternalApprovalState(_message.Message):
    __slots__ = ("required_approvals", "current_approvals", "decisions")
    REQUIRED_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    required_approvals: int
    current_approvals: int
    decisions: _containers.RepeatedCompositeFieldContainer[ExternalApprovalDecisionEntry]
    def __init__(self, required_approvals: _Optional[int] = ..., current_approvals: _Optional[int] = ..., decisions: _Optional[_Iterable[_Union[ExternalApprovalDecisionEntry, _Mapping]]] = ...) -> None: ...

class ExternalApproveReleaseRequest(_message.Message):
    __slots__ = ("project", "release_intent_id", "target_environment", "comment", "force_bypass")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    FORCE_BYPASS_FIELD_NUMBER: _ClassVar[int]
    project: Project
    release_intent_id: str
    target_environment: str
    comment: str
    force_bypass: bool
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ..., release_intent_id: _Optional[str] = ..., target_environment: _Optional[str] = ..., comment: _Optional[str] = ..., force_bypass: _Optional[bool] = ...) -> None: ...

class ExternalApproveReleaseResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: ExternalApprovalState
    def __init__(self, state: _Optional[_Union[ExternalApprovalState, _Mapping]] = ...) -> None: ...

class ExternalRejectReleaseRequest(_message.Message):
    __slots__ = ("project", "release_intent_id", "target_environment", "comment")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    project: Project
    release_intent_id: str
    target_environment: str
    comment: str
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ..., release_intent_id: _Optional[str] = ..., target_environment: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class ExternalRejectReleaseResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: ExternalApprovalState
    def __init__(self, state: _Optional[_Union[ExternalApprovalState, _Mapping]] = ...) -> None: ...

class GetExternalApprovalStateRequest(_message.Message):
    __slots__ = ("project", "release_intent_id", "target_environment")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    project: Project
    release_intent_id: str
    target_environment: str
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ..., release_intent_id: _Optional[str] = ..., target_environment: _Optional[str] = ...) -> None: ...

class GetExternalApprovalStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: ExternalApprovalState
    def __init__(self, state: _Optional[_Union[ExternalApprovalState, _Mapping]] = ...) -> None: ...
