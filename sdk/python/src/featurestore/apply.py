"""``fsctl apply`` from Python: compare a spec with the registry, plan what
to create or update, then apply the plan in dependency order.

    plan = featurestore.apply.plan(client, load_spec("examples/shop.yaml"))
    print(plan)                      # the plan exactly as fsctl prints it
    featurestore.apply.apply_plan(client, plan)

The plan follows ``cli/fsctl/src/apply.rs``: a project is created when
missing and its roles set when the spec names them; entities are created
(and must otherwise equal the registry's: they cannot change in place);
feature groups are created, updated in place (as far as the spec says:
fields it leaves empty keep the registry's values) or created as a new
version when the spec asks for one; a view that differs from its latest
version is created as the next version. Applying the same spec twice
changes nothing the second time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from featurestore._rust_text import debug_str
from featurestore.errors import FeatureStoreError, NotFoundError, SpecError
from featurestore.spec import GroupSpec, RolesSpec, Spec, ViewSpec, load_spec
from featurestore.v1 import catalog_pb2, registry_pb2

__all__ = ["Plan", "Step", "plan", "apply_plan"]

CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"


@dataclass
class Step:
    """One step of a plan: ``action`` (``create``, ``update`` or
    ``unchanged``) of an object of ``kind`` (``project``, ``roles``,
    ``entity``, ``feature group``, ``feature view``) named ``name``
    (``group@version`` for versioned objects), and the registry request
    that carries it out (``None`` when unchanged)."""

    action: str
    kind: str
    name: str
    request: Message | None = None

    def __str__(self) -> str:
        return f"  {self.action:<9}  {self.kind:<13}  {self.name}"


@dataclass
class Plan:
    """What applying a spec to ``project`` does, step by step; ``str()``
    is the plan as ``fsctl apply`` prints it."""

    project: str
    steps: list[Step] = field(default_factory=list)

    @property
    def changes(self) -> int:
        """How many steps change something."""
        return sum(1 for s in self.steps if s.action != UNCHANGED)

    def __str__(self) -> str:
        lines = [f"plan for project {debug_str(self.project)}:"]
        lines.extend(str(s) for s in self.steps)
        return "\n".join(lines)


def _found(client: Any, method: Any, request: Message) -> Message | None:
    """The object a Get call returns, or ``None`` when it does not exist."""
    try:
        return client._call(method, request)
    except NotFoundError:
        return None


def _revision(obj: Message) -> int:
    return obj.meta.revision if obj.HasField("meta") else 0


def plan(client: Any, spec: Spec | str | os.PathLike | Mapping[str, Any]) -> Plan:
    """Compares a spec (a :class:`Spec`, or what :func:`load_spec` reads)
    with the registry and returns the plan; nothing is changed. Raises
    :class:`SpecError` for a spec that cannot apply (a bad field, an entity
    that differs from the registry's, a group version that does not
    exist)."""
    spec = load_spec(spec)
    registry = client._registry
    project = spec.project
    result = Plan(project)
    existing = _found(client, registry.GetProject, registry_pb2.GetProjectRequest(name=project))
    exists = existing is not None
    if exists:
        result.steps.append(Step(UNCHANGED, "project", project))
    else:
        request = registry_pb2.CreateProjectRequest(project=spec.project_proto())
        result.steps.append(Step(CREATE, "project", project, request))
    if existing is not None and spec.roles is not None:
        result.steps.append(_roles_step(existing, spec.roles))
    entities = _plan_entities(client, spec, exists, result)
    for group in spec.feature_groups:
        result.steps.append(_group_step(client, spec, group, entities, exists))
    for view in spec.feature_views:
        result.steps.append(_view_step(client, spec, view, exists))
    return result


def _roles_step(existing: catalog_pb2.Project, roles: RolesSpec) -> Step:
    desired = roles.to_proto()
    if RolesSpec.from_proto(existing.roles).to_proto() == desired:
        return Step(UNCHANGED, "roles", existing.name)
    request = registry_pb2.SetProjectRolesRequest(
        project=existing.name, roles=desired, expected_revision=_revision(existing)
    )
    return Step(UPDATE, "roles", existing.name, request)


def _plan_entities(client: Any, spec: Spec, exists: bool, result: Plan) -> list[catalog_pb2.Entity]:
    """Adds the entities' steps; returns each entity as the registry has it
    (or will have it)."""
    entities = []
    for entity in spec.entities:
        desired = entity.to_proto(spec.project)
        current = None
        if exists:
            request = registry_pb2.GetEntityRequest(project=spec.project, name=entity.name)
            current = _found(client, client._registry.GetEntity, request)
        if current is None:
            request = registry_pb2.CreateEntityRequest(entity=desired)
            result.steps.append(Step(CREATE, "entity", entity.name, request))
        elif _same_entity(current, desired):
            result.steps.append(Step(UNCHANGED, "entity", entity.name))
        else:
            raise SpecError(
                f"entity {debug_str(entity.name)} differs from the registry; entities cannot "
                "change in place (delete it and apply again)"
            )
        entities.append(current if current is not None else desired)
    return entities


def _group_entity(
    client: Any, spec: Spec, name: str, entities: list, exists: bool
) -> catalog_pb2.Entity | None:
    """The group's entity: from the spec, else from the registry."""
    for entity in entities:
        if entity.name == name:
            return entity
    if not exists:
        return None
    request = registry_pb2.GetEntityRequest(project=spec.project, name=name)
    return _found(client, client._registry.GetEntity, request)


def _group_step(client: Any, spec: Spec, group: GroupSpec, entities: list, exists: bool) -> Step:
    entity = _group_entity(client, spec, group.entity, entities, exists)
    desired = group.to_proto(spec.project, entity)

    def get(version: int) -> catalog_pb2.FeatureGroup | None:
        request = registry_pb2.GetFeatureGroupRequest(
            project=spec.project, name=group.name, version=version
        )
        return _found(client, client._registry.GetFeatureGroup, request)

    current = get(0) if exists else None
    # A spec pinned to an older version is compared with that version.
    latest = current.version if current is not None else 0
    if desired.version != 0 and desired.version < latest:
        current = get(desired.version)
        if current is None:
            raise SpecError(
                f"feature group {debug_str(group.name)} version {desired.version} does not "
                f"exist (latest is {latest})"
            )
    if current is None or desired.version > current.version:
        label = f"{group.name}@{max(desired.version, 1)}"
        request = registry_pb2.CreateFeatureGroupRequest(feature_group=desired)
        return Step(CREATE, "feature group", label, request)
    label = f"{group.name}@{current.version}"
    merged = catalog_pb2.FeatureGroup()
    merged.CopyFrom(desired)
    merged.version = current.version
    if _same_group(current, merged):
        return Step(UNCHANGED, "feature group", label)
    request = registry_pb2.UpdateFeatureGroupRequest(
        feature_group=merged, expected_revision=_revision(current)
    )
    return Step(UPDATE, "feature group", label, request)


def _view_step(client: Any, spec: Spec, view: ViewSpec, exists: bool) -> Step:
    desired = view.to_proto(spec.project)
    current = None
    if exists:
        request = registry_pb2.GetFeatureViewRequest(project=spec.project, name=view.name)
        current = _found(client, client._registry.GetFeatureView, request)
    if current is None:
        request = registry_pb2.CreateFeatureViewRequest(feature_view=desired)
        return Step(CREATE, "feature view", f"{view.name}@1", request)
    if _same_view(client, current, desired):
        return Step(UNCHANGED, "feature view", f"{view.name}@{current.version}")
    desired.version = current.version + 1
    request = registry_pb2.CreateFeatureViewRequest(feature_view=desired)
    return Step(CREATE, "feature view", f"{view.name}@{desired.version}", request)


def _same_entity(a: catalog_pb2.Entity, b: catalog_pb2.Entity) -> bool:
    return (
        list(a.join_keys) == list(b.join_keys)
        and a.description == b.description
        and a.owner == b.owner
        and dict(a.tags) == dict(b.tags)
    )


def _same_group(current: catalog_pb2.FeatureGroup, desired: catalog_pb2.FeatureGroup) -> bool:
    """Equal as far as a spec can say: fields the spec left empty take the
    registry's values."""
    d = catalog_pb2.FeatureGroup()
    d.CopyFrom(desired)
    if not d.primary_key:
        d.primary_key.extend(current.primary_key)
    if not d.event_time_column:
        d.event_time_column = current.event_time_column
    if d.partitions == 0:
        d.partitions = current.partitions
    if not d.tile_grain_seconds:
        d.tile_grain_seconds.extend(current.tile_grain_seconds)
    if current.HasField("meta"):
        d.meta.CopyFrom(current.meta)
    else:
        d.ClearField("meta")
    return d == current


def _same_view(
    client: Any, current: catalog_pb2.FeatureView, desired: catalog_pb2.FeatureView
) -> bool:
    """Whether the latest stored view already is what the spec describes,
    after resolving the spec's "latest version" and "all features" against
    the registry."""
    if (
        len(current.selections) != len(desired.selections)
        or list(current.label_columns) != list(desired.label_columns)
        or current.description != desired.description
        or current.owner != desired.owner
        or dict(current.tags) != dict(desired.tags)
    ):
        return False
    for c, d in zip(current.selections, desired.selections, strict=False):
        if c.group != d.group:
            return False
        request = registry_pb2.GetFeatureGroupRequest(
            project=current.project, name=d.group, version=d.group_version
        )
        group = _found(client, client._registry.GetFeatureGroup, request)
        if group is None:
            return False
        features = list(d.features) or [f.name for f in group.features]
        if c.group_version != group.version or list(c.features) != features:
            return False
    return True


def _method(client: Any, request: Message) -> Any:
    """The registry call a request is for (``CreateEntityRequest`` is
    ``CreateEntity``)."""
    name = request.DESCRIPTOR.name
    return getattr(client._registry, name[: -len("Request")])


def apply_plan(client: Any, plan: Plan) -> int:
    """Executes the plan's steps in order and returns how many changed
    something. Stops at the first refusal: the :class:`FeatureStoreError`
    is raised with the step prefixed to its message (``create feature
    group orders@1: INVALID_ARGUMENT: ...``) and the step as ``.step``;
    the steps before it stay applied."""
    applied = 0
    for step in plan.steps:
        if step.request is None:
            continue
        try:
            client._call(_method(client, step.request), step.request)
        except FeatureStoreError as e:
            e.args = (f"{step.action} {step.kind} {step.name}: {e}",)
            e.step = step
            raise
        applied += 1
    return applied
