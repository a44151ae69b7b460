"""``featurestore.apply`` against ``fsctl apply``: the same plan text, the
same objects created, the same refusals with the same messages."""

from __future__ import annotations

import copy
import re
import sys
import uuid
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import yaml

from featurestore import apply
from featurestore.errors import InvalidArgumentError, NotFoundError, SpecError
from featurestore.spec import (
    function_name,
    function_names,
    load_spec,
    parse_duration,
    parse_function,
    parse_spec,
    parse_type,
    type_name,
)
from featurestore.v1 import catalog_pb2, registry_pb2

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _example_specs() -> list[Path]:
    """The YAML files under examples/ that are specs (a mapping with a
    project)."""
    found = []
    for path in sorted(EXAMPLES.rglob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and "project" in data:
            found.append(path)
    return found


def _unique(prefix: str = "sdk_apply") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _renamed(path: Path, project: str) -> tuple[str, dict]:
    """The spec's text and dict with its project renamed."""
    text = re.sub(r"(?m)^project: .*$", f"project: {project}", path.read_text(encoding="utf-8"))
    data = yaml.safe_load(text)
    assert data["project"] == project
    return text, data


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _dry_run_output(plan: apply.Plan) -> str:
    """What ``fsctl apply --dry-run`` prints for a plan."""
    summary = f"{plan.changes} change(s)"
    if plan.changes:
        summary += " (dry run: nothing applied)"
    return f"{plan}\n{summary}\n"


def _fsctl_error(stderr: str) -> str:
    """fsctl's error as one line, its causes joined with ": " (anyhow's
    ``{:#}``), without a backtrace."""
    text = stderr.split("\n\nStack backtrace:", 1)[0].strip()
    assert text.startswith("Error: "), stderr
    head, _, causes = text[len("Error: ") :].partition("\n\nCaused by:\n")
    parts = [head] + [re.sub(r"^\s+(\d+: )?", "", line) for line in causes.splitlines()]
    return ": ".join(p for p in parts if p)


def _project_exists(client, project: str) -> bool:
    try:
        client._call(client._registry.GetProject, registry_pb2.GetProjectRequest(name=project))
        return True
    except NotFoundError:
        return False


@pytest.fixture(scope="module")
def client(standalone):
    c = standalone.client()
    yield c
    c.close()


# ---- the examples: same plan, same objects ----------------------------------


@pytest.mark.parametrize("example", _example_specs(), ids=lambda p: p.name)
def test_example_plan_and_apply_match_fsctl(standalone, client, tmp_path, example):
    project = _unique()
    text, data = _renamed(example, project)
    path = _write(tmp_path, text)
    assert load_spec(data) == load_spec(path)

    plan = apply.plan(client, load_spec(data))
    assert plan.project == project
    assert all(s.action == "create" for s in plan.steps)
    assert _dry_run_output(plan) == standalone.fsctl("apply", "--dry-run", "-f", path).stdout

    assert apply.apply_plan(client, plan) == plan.changes == len(plan.steps)

    # fsctl finds exactly what it would have created: nothing to do.
    out = standalone.fsctl("apply", "--dry-run", "-f", path).stdout
    lines = out.splitlines()
    assert lines[0] == f'plan for project "{project}":'
    assert lines[-1] == "0 change(s)"
    assert len(lines) == len(plan.steps) + 2
    assert all(line.startswith("  unchanged  ") for line in lines[1:-1]), out
    again = apply.plan(client, data)
    assert again.changes == 0
    assert [(s.kind, s.name) for s in again.steps] == [(s.kind, s.name) for s in plan.steps]
    assert _dry_run_output(again) == out


def _stored(client, project: str, spec) -> list[bytes]:
    """Every object of a spec as the registry stores it, with the project
    renamed and the metadata (times, revisions) cleared."""
    r = client._registry
    objects = [client._call(r.GetProject, registry_pb2.GetProjectRequest(name=project))]
    for e in spec.entities:
        request = registry_pb2.GetEntityRequest(project=project, name=e.name)
        objects.append(client._call(r.GetEntity, request))
    for g in spec.feature_groups:
        request = registry_pb2.GetFeatureGroupRequest(project=project, name=g.name)
        objects.append(client._call(r.GetFeatureGroup, request))
    for v in spec.feature_views:
        request = registry_pb2.GetFeatureViewRequest(project=project, name=v.name)
        objects.append(client._call(r.GetFeatureView, request))
    out = []
    for obj in objects:
        obj.ClearField("meta")
        if isinstance(obj, catalog_pb2.Project):
            obj.name = "p"
        else:
            obj.project = "p"
        out.append(obj.SerializeToString(deterministic=True))
    return out


@pytest.mark.parametrize("example", _example_specs(), ids=lambda p: p.name)
def test_example_objects_are_byte_for_byte_fsctls(standalone, client, tmp_path, example):
    by_fsctl, by_sdk = _unique("sdk_fsctl"), _unique("sdk_sdk")
    text, _ = _renamed(example, by_fsctl)
    standalone.fsctl("apply", "-f", _write(tmp_path, text))
    _, data = _renamed(example, by_sdk)
    apply.apply_plan(client, apply.plan(client, data))
    spec = load_spec(data)
    assert _stored(client, by_sdk, spec) == _stored(client, by_fsctl, spec)


class _Recorder(grpc.GenericRpcHandler):
    """A registry in front of the real one: reads pass through, changes
    (Create*, Update*, Set*) are only recorded, so fsctl's requests can be
    compared with the SDK's while the registry stays as it was."""

    def __init__(self, upstream: str) -> None:
        self.upstream = grpc.insecure_channel(upstream)
        self.recorded: list[tuple[str, bytes]] = []

    def service(self, details):
        method = details.method
        name = method.rsplit("/", 1)[1]

        def handle(request: bytes, context) -> bytes:
            if name.startswith(("Create", "Update", "Set")):
                self.recorded.append((name, request))
                return b""
            try:
                return self.upstream.unary_unary(method)(request, timeout=30)
            except grpc.RpcError as e:
                context.abort(e.code(), e.details())

        return grpc.unary_unary_rpc_method_handler(handle)

    def requests(self) -> list[tuple[str, object]]:
        out = []
        for name, data in self.recorded:
            message = getattr(registry_pb2, f"{name}Request")()
            message.ParseFromString(data)
            out.append((name, message))
        return out


@contextmanager
def _recording_registry(standalone):
    recorder = _Recorder(standalone.addresses["registry"])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((recorder,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield recorder, f"http://127.0.0.1:{port}"
    finally:
        server.stop(None)
        recorder.upstream.close()


def _sdk_requests(plan: apply.Plan) -> list[tuple[str, object]]:
    return [
        (s.request.DESCRIPTOR.name[: -len("Request")], s.request)
        for s in plan.steps
        if s.request is not None
    ]


@pytest.mark.parametrize("example", _example_specs(), ids=lambda p: p.name)
def test_example_requests_equal_fsctls(standalone, client, tmp_path, example):
    project = _unique()
    text, data = _renamed(example, project)
    with _recording_registry(standalone) as (recorder, address):
        standalone.fsctl("--registry", address, "apply", "-f", _write(tmp_path, text))
    assert not _project_exists(client, project)
    plan = apply.plan(client, data)
    assert recorder.requests() == _sdk_requests(plan)
    assert len(recorder.requests()) == len(plan.steps)


# ---- an update ------------------------------------------------------------


def _orders_spec(project: str) -> dict:
    return {
        "project": project,
        "entities": [{"name": "customer", "join_keys": [{"name": "customer_id", "type": "int64"}]}],
        "feature_groups": [
            {
                "name": "orders",
                "entity": "customer",
                "ttl": "7d",
                "features": [{"name": "n_orders", "type": "int64", "default": 0}],
            }
        ],
        "feature_views": [{"name": "model", "features": [{"group": "orders"}]}],
    }


def test_adding_a_feature_updates_the_group_in_place(standalone, client, tmp_path, project):
    spec = _orders_spec(project)
    apply.apply_plan(client, apply.plan(client, spec))

    changed = copy.deepcopy(spec)
    changed["feature_groups"][0]["features"].append(
        {"name": "tags", "type": "list<string>", "default": ["new"], "tags": {"pii": "no"}}
    )
    changed["roles"] = {"reader": ["group:analysts", "cert:dash", "cert:dash"]}
    plan = apply.plan(client, changed)
    assert [(s.action, s.kind, s.name) for s in plan.steps] == [
        ("unchanged", "project", project),
        ("update", "roles", project),
        ("unchanged", "entity", "customer"),
        ("update", "feature group", "orders@1"),
        ("unchanged", "feature view", "model@1"),
    ]
    assert list(plan.steps[1].request.roles[0].members) == ["cert:dash", "group:analysts"]
    request = plan.steps[3].request
    assert isinstance(request, registry_pb2.UpdateFeatureGroupRequest)
    assert request.expected_revision > 0
    path = _write(tmp_path, yaml.safe_dump(changed, sort_keys=False))
    assert _dry_run_output(plan) == standalone.fsctl("apply", "--dry-run", "-f", path).stdout
    with _recording_registry(standalone) as (recorder, address):
        standalone.fsctl("--registry", address, "apply", "-f", path)
    assert recorder.requests() == _sdk_requests(plan)

    assert apply.apply_plan(client, plan) == 2
    group = client._call(
        client._registry.GetFeatureGroup,
        registry_pb2.GetFeatureGroupRequest(project=project, name="orders"),
    )
    assert group.version == 1
    assert [f.name for f in group.features] == ["n_orders", "tags"]
    assert list(group.features[1].default_value.string_list.values) == ["new"]
    assert dict(group.features[1].tags) == {"pii": "no"}
    assert group.ttl_seconds == 7 * 86_400
    # The group is as the spec says; the view selected "every feature" when
    # it was created, so it is behind: its next version (as fsctl plans it).
    after = apply.plan(client, changed)
    assert [(s.action, s.name) for s in after.steps[1:]] == [
        ("unchanged", project),
        ("unchanged", "customer"),
        ("unchanged", "orders@1"),
        ("create", "model@2"),
    ]
    assert _dry_run_output(after) == standalone.fsctl("apply", "--dry-run", "-f", path).stdout


def test_a_refusal_names_the_step_and_keeps_what_was_applied(standalone, client, project):
    spec = _orders_spec(project)
    group = spec["feature_groups"][0]
    group["features"].append({"name": "amount", "type": "float64"})
    # Checked by the registry, not by the spec (fsctl does the same).
    group["aggregations"] = [
        {"name": "amount_1h", "function": "sum", "input": "amount", "window": "1h", "grain": "1d"}
    ]
    plan = apply.plan(client, spec)
    assert plan.changes == 4
    with pytest.raises(InvalidArgumentError) as caught:
        apply.apply_plan(client, plan)
    assert str(caught.value).startswith("create feature group orders@1: INVALID_ARGUMENT: ")
    assert "multiple of the grain" in caught.value.message
    assert caught.value.step is plan.steps[2]
    assert _project_exists(client, project)  # like fsctl: the steps before stay


# ---- bad specs ------------------------------------------------------------

BAD_SPECS = {
    "unknown top-level field": "project: {p}\nentitees: []\n",
    "unknown group field": (
        "project: {p}\nfeature_groups:\n  - name: g\n    entity: e\n    featurs: []\n"
    ),
    "missing field": "project: {p}\nentities:\n  - name: e\n",
    "unknown feature type": (
        "project: {p}\nfeature_groups:\n  - name: g\n    entity: e\n"
        "    features: [{{name: f, type: decimal}}]\n"
    ),
    "unknown key type": (
        "project: {p}\nentities:\n  - name: e\n    join_keys: [{{name: id, type: int}}]\n"
    ),
    "default of the wrong type": (
        "project: {p}\nfeature_groups:\n  - name: g\n    entity: e\n"
        "    features: [{{name: f, type: int32, default: 3000000000}}]\n"
    ),
    "bad ttl": (
        "project: {p}\nfeature_groups:\n  - name: g\n    entity: e\n    ttl: 3 fortnights\n"
        "    features: []\n"
    ),
    "window not whole seconds": (
        "project: {p}\nfeature_groups:\n  - name: g\n    entity: e\n    features: []\n"
        "    aggregations: [{{name: a, function: count, window: 1500ms}}]\n"
    ),
    "unknown function": (
        "project: {p}\nfeature_groups:\n  - name: g\n    entity: e\n    features: []\n"
        "    aggregations: [{{name: a, function: median, window: 1h}}]\n"
    ),
    "YAML 1.2 boolean": (
        "project: {p}\nfeature_groups:\n  - name: g\n    entity: e\n    online: yes\n"
        "    features: []\n"
    ),
    "negative version": (
        "project: {p}\nfeature_groups:\n  - name: g\n    version: -1\n    entity: e\n"
        "    features: []\n"
    ),
    "broken YAML": "project: {p}\n  bad: [\n",
    "two documents": "project: {p}\n---\nproject: {p}\n",
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_bad_specs_are_refused_like_fsctl_and_create_nothing(
    standalone, client, tmp_path, project, name
):
    text = BAD_SPECS[name].format(p=project)
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        apply.plan(client, path)
    result = standalone.fsctl("apply", "-f", path, check=False)
    assert result.returncode != 0
    assert str(caught.value) == _fsctl_error(result.stderr)
    assert not _project_exists(client, project)


def test_errors_name_the_field_for_dicts_too(client, project):
    spec = _orders_spec(project)
    spec["feature_groups"][0]["featurs"] = []
    message = r"^invalid spec: feature_groups\[0\]: unknown field `featurs`"
    with pytest.raises(SpecError, match=message):
        apply.plan(client, spec)
    spec = _orders_spec(project)
    spec["feature_groups"][0]["partitions"] = "8"
    with pytest.raises(
        SpecError,
        match=r'^invalid spec: feature_groups\[0\]\.partitions: invalid type: string "8", '
        "expected u32$",
    ):
        load_spec(spec)
    spec = _orders_spec(project)
    spec["feature_groups"][0]["features"][0]["type"] = "decimal"
    with pytest.raises(SpecError, match=r'^feature orders\.n_orders: unknown type "decimal"'):
        load_spec(spec)
    assert not _project_exists(client, project)


def test_yaml_errors_carry_line_and_column():
    with pytest.raises(SpecError) as caught:
        parse_spec("project: x\nfeature_groups:\n  - name: g\n    entity: e\n    featurs: []\n")
    assert str(caught.value).startswith("invalid spec: feature_groups[0]: unknown field `featurs`")
    assert str(caught.value).endswith(" at line 5 column 5")


def test_yaml_1_2_scalars_read_as_fsctl_reads_them():
    spec = parse_spec(
        "project: x\nentities:\n  - name: 0123\n    owner: ~\n    tags: {pii: no, n: 1.50}\n"
        "    join_keys: [{name: id, type: int64}]\n"
    )
    entity = spec.entities[0]
    assert (entity.name, entity.owner, entity.tags) == ("0123", "~", {"n": "1.50", "pii": "no"})


def test_missing_pyyaml_is_explained(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(SpecError, match=r"pip install 'featurestore\[yaml\]'"):
        load_spec(_write(tmp_path, "project: x\n"))


# ---- the domain helpers ---------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("30days", (30 * 86_400, 0)),
        ("1h 30m", (5400, 0)),
        ("1.5h", (5400, 0)),
        ("2h37min", (9420, 0)),
        ("32ms", (0, 32_000_000)),
        ("1M", (2_630_016, 0)),
        ("1y", (31_557_600, 0)),
        ("0", (0, 0)),
    ],
)
def test_durations_read_like_humantime(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "value was empty"),
        ("5", "time unit needed, for example 5sec or 5ms"),
        ("m5", "expected number at 0"),
        ("5m-", "invalid character at 2"),
        ("1.x5h", "invalid character at 1"),
        ("3 fortnights", 'unknown time unit "fortnights"'),
        ("1.5ns", "number is too large"),
    ],
)
def test_bad_durations_are_worded_like_humantime(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_duration(text)


def test_type_and_function_names_round_trip():
    for text in ("bool", "int64", "timestamp", "list<float32>", "list<string>"):
        assert type_name(parse_type(text)) == text
    assert type_name(parse_type(" list< int64 > ")) == "list<int64>"
    assert parse_type("decimal") is None
    assert parse_type("list<list<int32>>") is None
    assert function_names().startswith("count, sum, min, max, mean")
    for name in function_names().split(", "):
        assert function_name(parse_function(name)) == name
    assert parse_function("median") is None
