from featurestore.v1 import catalog_pb2 as _catalog_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateProjectRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: _catalog_pb2.Project
    def __init__(self, project: _Optional[_Union[_catalog_pb2.Project, _Mapping]] = ...) -> None: ...

class GetProjectRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects", "next_page_token")
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.Project]
    next_page_token: str
    def __init__(self, projects: _Optional[_Iterable[_Union[_catalog_pb2.Project, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteProjectRequest(_message.Message):
    __slots__ = ("name", "expected_revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    expected_revision: int
    def __init__(self, name: _Optional[str] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class SetProjectRolesRequest(_message.Message):
    __slots__ = ("project", "roles", "expected_revision")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    project: str
    roles: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.RoleBinding]
    expected_revision: int
    def __init__(self, project: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_catalog_pb2.RoleBinding, _Mapping]]] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class CreateEntityRequest(_message.Message):
    __slots__ = ("entity",)
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    entity: _catalog_pb2.Entity
    def __init__(self, entity: _Optional[_Union[_catalog_pb2.Entity, _Mapping]] = ...) -> None: ...

class GetEntityRequest(_message.Message):
    __slots__ = ("project", "name")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListEntitiesRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEntitiesResponse(_message.Message):
    __slots__ = ("entities", "next_page_token")
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entities: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.Entity]
    next_page_token: str
    def __init__(self, entities: _Optional[_Iterable[_Union[_catalog_pb2.Entity, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteEntityRequest(_message.Message):
    __slots__ = ("project", "name", "expected_revision")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    expected_revision: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class CreateFeatureGroupRequest(_message.Message):
    __slots__ = ("feature_group",)
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    feature_group: _catalog_pb2.FeatureGroup
    def __init__(self, feature_group: _Optional[_Union[_catalog_pb2.FeatureGroup, _Mapping]] = ...) -> None: ...

class GetFeatureGroupRequest(_message.Message):
    __slots__ = ("project", "name", "version")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListFeatureGroupsRequest(_message.Message):
    __slots__ = ("project", "name_prefix", "entity", "owner", "tags", "latest_only", "page_size", "page_token")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    LATEST_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    name_prefix: str
    entity: str
    owner: str
    tags: _containers.ScalarMap[str, str]
    latest_only: bool
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., name_prefix: _Optional[str] = ..., entity: _Optional[str] = ..., owner: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., latest_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFeatureGroupsResponse(_message.Message):
    __slots__ = ("feature_groups", "next_page_token")
    FEATURE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    feature_groups: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.FeatureGroup]
    next_page_token: str
    def __init__(self, feature_groups: _Optional[_Iterable[_Union[_catalog_pb2.FeatureGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateFeatureGroupRequest(_message.Message):
    __slots__ = ("feature_group", "expected_revision")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    feature_group: _catalog_pb2.FeatureGroup
    expected_revision: int
    def __init__(self, feature_group: _Optional[_Union[_catalog_pb2.FeatureGroup, _Mapping]] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class DeleteFeatureGroupRequest(_message.Message):
    __slots__ = ("project", "name", "version", "expected_revision")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    expected_revision: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class CreateFeatureViewRequest(_message.Message):
    __slots__ = ("feature_view",)
    FEATURE_VIEW_FIELD_NUMBER: _ClassVar[int]
    feature_view: _catalog_pb2.FeatureView
    def __init__(self, feature_view: _Optional[_Union[_catalog_pb2.FeatureView, _Mapping]] = ...) -> None: ...

class GetFeatureViewRequest(_message.Message):
    __slots__ = ("project", "name", "version")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListFeatureViewsRequest(_message.Message):
    __slots__ = ("project", "name_prefix", "group", "latest_only", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LATEST_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    name_prefix: str
    group: str
    latest_only: bool
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., name_prefix: _Optional[str] = ..., group: _Optional[str] = ..., latest_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFeatureViewsResponse(_message.Message):
    __slots__ = ("feature_views", "next_page_token")
    FEATURE_VIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    feature_views: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.FeatureView]
    next_page_token: str
    def __init__(self, feature_views: _Optional[_Iterable[_Union[_catalog_pb2.FeatureView, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteFeatureViewRequest(_message.Message):
    __slots__ = ("project", "name", "version", "expected_revision")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    version: int
    expected_revision: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class SearchFeaturesRequest(_message.Message):
    __slots__ = ("project", "query", "tags", "owner", "page_size", "page_token")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    query: str
    tags: _containers.ScalarMap[str, str]
    owner: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., query: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class FeatureHit(_message.Message):
    __slots__ = ("project", "group", "group_version", "feature", "group_owner", "group_description")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    GROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    GROUP_OWNER_FIELD_NUMBER: _ClassVar[int]
    GROUP_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    project: str
    group: str
    group_version: int
    feature: _catalog_pb2.Feature
    group_owner: str
    group_description: str
    def __init__(self, project: _Optional[str] = ..., group: _Optional[str] = ..., group_version: _Optional[int] = ..., feature: _Optional[_Union[_catalog_pb2.Feature, _Mapping]] = ..., group_owner: _Optional[str] = ..., group_description: _Optional[str] = ...) -> None: ...

class SearchFeaturesResponse(_message.Message):
    __slots__ = ("hits", "next_page_token")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[FeatureHit]
    next_page_token: str
    def __init__(self, hits: _Optional[_Iterable[_Union[FeatureHit, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchCatalogRequest(_message.Message):
    __slots__ = ("project", "send_initial_snapshot", "start_after_revision")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    SEND_INITIAL_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    START_AFTER_REVISION_FIELD_NUMBER: _ClassVar[int]
    project: str
    send_initial_snapshot: bool
    start_after_revision: int
    def __init__(self, project: _Optional[str] = ..., send_initial_snapshot: _Optional[bool] = ..., start_after_revision: _Optional[int] = ...) -> None: ...

class CatalogEvent(_message.Message):
    __slots__ = ("type", "revision", "project", "entity", "feature_group", "feature_view")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[CatalogEvent.Type]
        TYPE_PUT: _ClassVar[CatalogEvent.Type]
        TYPE_DELETE: _ClassVar[CatalogEvent.Type]
        TYPE_SYNCED: _ClassVar[CatalogEvent.Type]
    TYPE_UNSPECIFIED: CatalogEvent.Type
    TYPE_PUT: CatalogEvent.Type
    TYPE_DELETE: CatalogEvent.Type
    TYPE_SYNCED: CatalogEvent.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    FEATURE_VIEW_FIELD_NUMBER: _ClassVar[int]
    type: CatalogEvent.Type
    revision: int
    project: _catalog_pb2.Project
    entity: _catalog_pb2.Entity
    feature_group: _catalog_pb2.FeatureGroup
    feature_view: _catalog_pb2.FeatureView
    def __init__(self, type: _Optional[_Union[CatalogEvent.Type, str]] = ..., revision: _Optional[int] = ..., project: _Optional[_Union[_catalog_pb2.Project, _Mapping]] = ..., entity: _Optional[_Union[_catalog_pb2.Entity, _Mapping]] = ..., feature_group: _Optional[_Union[_catalog_pb2.FeatureGroup, _Mapping]] = ..., feature_view: _Optional[_Union[_catalog_pb2.FeatureView, _Mapping]] = ...) -> None: ...
