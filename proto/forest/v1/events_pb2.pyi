from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeEventsRequest(_message.Message):
    __slots__ = ("organisation", "project", "resource_types", "actions", "since_sequence")
    ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    SINCE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    organisation: str
    project: str
    resource_types: _containers.RepeatedScalarFieldContainer[str]
    actions: _containers.RepeatedScalarFieldContainer[str]
    since_sequence: int
    def __init__(self, organisation: _Optional[str] = ..., project: _Optional[str] = ..., resource_types: _Optional[_Iterable[str]] = ..., actions: _Optional[_Iterable[str]] = ..., since_sequence: _Optional[int] = ...) -> None: ...

class OrgEvent(_message.Message):
    __slots__ = ("sequence", "event_id", "timestamp", "organisation", "project", "resource_type", "action", "resource_id", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    event_id: str
    timestamp: str
    organisation: str
    project: str
    resource_type: str
    action: str
    resource_id: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, sequence: _Optional[int] = ..., event_id: _Optional[str] = ..., timestamp: _Optional[str] = ..., organisation: _Optional[str] = ..., project: _Optional[str] = ..., resource_type: _Optional[str] = ..., action: _Optional[str] = ..., resource_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...
