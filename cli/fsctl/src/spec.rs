//! The declarative spec `fsctl apply -f` reads (YAML), and conversions
//! between it and the registry's protobuf objects. `fsctl describe` prints
//! objects in the same form, so a described object can be applied back.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use featurestore_domain::aggregation::{function_name, function_names, parse_function};
use featurestore_domain::types::{parse_scalar, parse_type, scalar_name, type_name};
use featurestore_proto::v1::{
    self as pb, Aggregation, Entity, Feature, FeatureGroup, FeatureSelection, FeatureView,
    KeyColumn, Project, Role, RoleBinding, ScalarType, ValueType, value::Kind,
};
use serde::{Deserialize, Serialize};

/// A spec file: objects of one project, applied in dependency order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The project every object belongs to (created if missing).
    pub project: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Who may do what in the project; absent: the roles are left as they
    /// are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<RolesSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntitySpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_groups: Vec<GroupSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_views: Vec<ViewSpec>,
}

/// Members per role: principal ids (`<issuer>#<subject>`, `cert:<name>`)
/// or `group:<name>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RolesSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reader: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writer: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin: Vec<String>,
}

impl RolesSpec {
    /// One binding per role that has members, members sorted (so equal
    /// specs give equal bindings).
    pub fn to_proto(&self) -> Vec<RoleBinding> {
        [
            (Role::Reader, &self.reader),
            (Role::Writer, &self.writer),
            (Role::Admin, &self.admin),
        ]
        .into_iter()
        .filter(|(_, members)| !members.is_empty())
        .map(|(role, members)| {
            let mut members = members.clone();
            members.sort();
            members.dedup();
            RoleBinding {
                role: role as i32,
                members,
            }
        })
        .collect()
    }

    pub fn from_proto(bindings: &[RoleBinding]) -> Self {
        let mut spec = RolesSpec::default();
        for b in bindings {
            let members = match Role::try_from(b.role) {
                Ok(Role::Reader) => &mut spec.reader,
                Ok(Role::Writer) => &mut spec.writer,
                Ok(Role::Admin) => &mut spec.admin,
                _ => continue,
            };
            members.extend(b.members.iter().cloned());
        }
        spec
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    pub name: String,
    pub join_keys: Vec<KeySpec>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Served when the value is missing; must match the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_yaml_ng::Value>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    /// Omit to mean "version 1, or the latest"; set to latest + 1 to create
    /// a new version for a breaking change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    pub entity: String,
    /// Defaults to the entity's join keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time_column: Option<String>,
    pub features: Vec<FeatureSpec>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub online: bool,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub offline: bool,
    /// Like `30d` or `12h`; omitted = no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Windowed aggregations of the group's rows (raw events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregations: Vec<AggregationSpec>,
    /// Tile grains, finest first (default 5m, 1h, 1d).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tile_grains: Vec<String>,
}

/// An aggregated feature: `function` of `input` over `window`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AggregationSpec {
    pub name: String,
    /// count, sum, min, max, mean, variance, stddev, first, last, last_k,
    /// approx_distinct, approx_percentile.
    pub function: String,
    /// The input feature; omitted for count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Like `1h`, `7d`, `90d`, or `lifetime`.
    pub window: String,
    /// One of the group's tile grains; omitted = the finest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grain: Option<String>,
    /// For last_k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u32>,
    /// For approx_percentile: strictly between 0 and 1 (0.99 is p99).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SelectionSpec {
    pub group: String,
    /// Omitted = the latest version when the view is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Omitted = every feature of the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ViewSpec {
    pub name: String,
    pub features: Vec<SelectionSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Spec {
    pub fn parse(text: &str) -> Result<Self> {
        let spec: Spec = serde_yaml_ng::from_str(text).context("invalid spec")?;
        if spec.project.is_empty() {
            bail!("invalid spec: `project` is required");
        }
        Ok(spec)
    }

    pub fn project(&self) -> Project {
        Project {
            name: self.project.clone(),
            description: self.description.clone(),
            roles: self
                .roles
                .as_ref()
                .map(RolesSpec::to_proto)
                .unwrap_or_default(),
            ..Default::default()
        }
    }
}

fn tags(map: &BTreeMap<String, String>) -> std::collections::HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn sorted(map: &std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn key_column(spec: &KeySpec) -> Result<KeyColumn> {
    let ty = parse_scalar(&spec.ty)
        .ok_or_else(|| anyhow!("join key {:?}: unknown type {:?}", spec.name, spec.ty))?;
    Ok(KeyColumn {
        name: spec.name.clone(),
        r#type: ty as i32,
        description: spec.description.clone(),
    })
}

impl EntitySpec {
    pub fn to_proto(&self, project: &str) -> Result<Entity> {
        Ok(Entity {
            project: project.into(),
            name: self.name.clone(),
            join_keys: self
                .join_keys
                .iter()
                .map(key_column)
                .collect::<Result<_>>()?,
            description: self.description.clone(),
            tags: tags(&self.tags),
            owner: self.owner.clone(),
            meta: None,
        })
    }

    pub fn from_proto(e: &Entity) -> Self {
        Self {
            name: e.name.clone(),
            join_keys: e
                .join_keys
                .iter()
                .map(|k| KeySpec {
                    name: k.name.clone(),
                    ty: scalar_name(k.r#type()).into(),
                    description: k.description.clone(),
                })
                .collect(),
            description: e.description.clone(),
            owner: e.owner.clone(),
            tags: sorted(&e.tags),
        }
    }
}

impl GroupSpec {
    /// The group as the registry should store it. Key column types come
    /// from `entity`.
    pub fn to_proto(&self, project: &str, entity: Option<&Entity>) -> Result<FeatureGroup> {
        let ttl_seconds = match &self.ttl {
            None => 0,
            Some(text) => humantime::parse_duration(text)
                .with_context(|| format!("feature group {:?}: ttl {text:?}", self.name))?
                .as_secs() as i64,
        };
        let primary_key = self
            .primary_key
            .iter()
            .map(|name| {
                let ty = entity
                    .and_then(|e| e.join_keys.iter().find(|k| &k.name == name))
                    .map(|k| k.r#type)
                    .unwrap_or(ScalarType::Unspecified as i32);
                KeyColumn {
                    name: name.clone(),
                    r#type: ty,
                    description: String::new(),
                }
            })
            .collect();
        Ok(FeatureGroup {
            project: project.into(),
            name: self.name.clone(),
            version: self.version.unwrap_or(0),
            entity: self.entity.clone(),
            primary_key,
            event_time_column: self.event_time_column.clone().unwrap_or_default(),
            features: self
                .features
                .iter()
                .map(|f| feature(&self.name, f))
                .collect::<Result<_>>()?,
            online_enabled: self.online,
            offline_enabled: self.offline,
            ttl_seconds,
            partitions: self.partitions.unwrap_or(0),
            owner: self.owner.clone(),
            description: self.description.clone(),
            tags: tags(&self.tags),
            meta: None,
            aggregations: self
                .aggregations
                .iter()
                .map(|a| aggregation(&self.name, a))
                .collect::<Result<_>>()?,
            tile_grain_seconds: self
                .tile_grains
                .iter()
                .map(|g| seconds(&format!("feature group {:?}: tile grain", self.name), g))
                .collect::<Result<_>>()?,
        })
    }

    pub fn from_proto(g: &FeatureGroup) -> Self {
        Self {
            name: g.name.clone(),
            version: Some(g.version),
            entity: g.entity.clone(),
            primary_key: g.primary_key.iter().map(|k| k.name.clone()).collect(),
            event_time_column: Some(g.event_time_column.clone()),
            features: g
                .features
                .iter()
                .map(|f| FeatureSpec {
                    name: f.name.clone(),
                    ty: f.r#type.as_ref().map(type_name).unwrap_or_default(),
                    description: f.description.clone(),
                    tags: sorted(&f.tags),
                    default: f
                        .default_value
                        .as_ref()
                        .and_then(|v| yaml_of(v.kind.as_ref())),
                })
                .collect(),
            online: g.online_enabled,
            offline: g.offline_enabled,
            ttl: (g.ttl_seconds > 0).then(|| {
                humantime::format_duration(std::time::Duration::from_secs(g.ttl_seconds as u64))
                    .to_string()
            }),
            partitions: Some(g.partitions),
            owner: g.owner.clone(),
            description: g.description.clone(),
            tags: sorted(&g.tags),
            aggregations: g
                .aggregations
                .iter()
                .map(|a| AggregationSpec {
                    name: a.name.clone(),
                    function: function_name(a.function()).to_string(),
                    input: (!a.input.is_empty()).then(|| a.input.clone()),
                    window: match a.window_seconds {
                        0 => "lifetime".to_string(),
                        s => duration_text(s),
                    },
                    grain: (a.grain_seconds > 0).then(|| duration_text(a.grain_seconds)),
                    k: (a.k > 0).then_some(a.k),
                    percentile: (a.percentile != 0.0).then_some(a.percentile),
                    description: a.description.clone(),
                })
                .collect(),
            tile_grains: g
                .tile_grain_seconds
                .iter()
                .map(|s| duration_text(*s))
                .collect(),
        }
    }
}

fn duration_text(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}

/// Whole seconds of a duration like `5m` or `30d`.
fn seconds(what: &str, text: &str) -> Result<i64> {
    let d = humantime::parse_duration(text).with_context(|| format!("{what} {text:?}"))?;
    anyhow::ensure!(
        d.subsec_nanos() == 0 && d.as_secs() > 0,
        "{what} {text:?}: a whole number of seconds, at least 1"
    );
    Ok(d.as_secs() as i64)
}

fn aggregation(group: &str, spec: &AggregationSpec) -> Result<Aggregation> {
    let what = format!("feature group {group:?}: aggregation {:?}", spec.name);
    let function = parse_function(&spec.function).with_context(|| {
        format!(
            "{what}: unknown function {:?} (one of {})",
            spec.function,
            function_names()
        )
    })?;
    Ok(Aggregation {
        name: spec.name.clone(),
        function: function as i32,
        input: spec.input.clone().unwrap_or_default(),
        window_seconds: match spec.window.as_str() {
            "lifetime" => 0,
            w => seconds(&format!("{what}: window"), w)?,
        },
        grain_seconds: match &spec.grain {
            None => 0,
            Some(g) => seconds(&format!("{what}: grain"), g)?,
        },
        k: spec.k.unwrap_or(0),
        percentile: spec.percentile.unwrap_or(0.0),
        description: spec.description.clone(),
    })
}

fn feature(group: &str, spec: &FeatureSpec) -> Result<Feature> {
    let ty = parse_type(&spec.ty).ok_or_else(|| {
        anyhow!(
            "feature {group}.{}: unknown type {:?} (use bool, int32, int64, float32, float64, string, bytes, timestamp or list<...>)",
            spec.name,
            spec.ty
        )
    })?;
    let default_value = spec
        .default
        .as_ref()
        .map(|v| {
            value_of(&ty, v).with_context(|| format!("feature {group}.{}: default", spec.name))
        })
        .transpose()?;
    Ok(Feature {
        name: spec.name.clone(),
        r#type: Some(ty),
        description: spec.description.clone(),
        tags: tags(&spec.tags),
        default_value,
    })
}

/// A YAML scalar or sequence as a value of type `ty`.
pub fn value_of(ty: &ValueType, yaml: &serde_yaml_ng::Value) -> Result<pb::Value> {
    use serde_yaml_ng::Value as Y;
    if yaml.is_null() {
        return Ok(pb::Value {
            kind: Some(Kind::NullValue(0)),
        });
    }
    let scalar = ty.scalar();
    let wrong = || anyhow!("{yaml:?} is not a {}", type_name(ty));
    let kind = if ty.is_list {
        let Y::Sequence(items) = yaml else {
            return Err(wrong());
        };
        macro_rules! list {
            ($variant:ident, $list:ident, $conv:expr) => {
                Kind::$variant(pb::$list {
                    values: items
                        .iter()
                        .map($conv)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(wrong)?,
                })
            };
        }
        match scalar {
            ScalarType::Bool => list!(BoolList, BoolList, |v| v.as_bool()),
            ScalarType::Int32 => list!(Int32List, Int32List, |v| v
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())),
            ScalarType::Int64 => list!(Int64List, Int64List, |v| v.as_i64()),
            ScalarType::Timestamp => list!(TimestampList, TimestampList, |v| v.as_i64()),
            ScalarType::Float32 => {
                list!(Float32List, Float32List, |v| v.as_f64().map(|f| f as f32))
            }
            ScalarType::Float64 => list!(Float64List, Float64List, |v| v.as_f64()),
            ScalarType::String => list!(StringList, StringList, |v| v.as_str().map(String::from)),
            ScalarType::Bytes => list!(BytesList, BytesList, |v| v
                .as_str()
                .map(|s| s.as_bytes().to_vec())),
            ScalarType::Unspecified => return Err(wrong()),
        }
    } else {
        match scalar {
            ScalarType::Bool => Kind::BoolValue(yaml.as_bool().ok_or_else(wrong)?),
            ScalarType::Int32 => Kind::Int32Value(
                yaml.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(wrong)?,
            ),
            ScalarType::Int64 => Kind::Int64Value(yaml.as_i64().ok_or_else(wrong)?),
            ScalarType::Timestamp => Kind::TimestampValue(yaml.as_i64().ok_or_else(wrong)?),
            ScalarType::Float32 => Kind::Float32Value(yaml.as_f64().ok_or_else(wrong)? as f32),
            ScalarType::Float64 => Kind::Float64Value(yaml.as_f64().ok_or_else(wrong)?),
            ScalarType::String => Kind::StringValue(yaml.as_str().ok_or_else(wrong)?.into()),
            ScalarType::Bytes => {
                Kind::BytesValue(yaml.as_str().ok_or_else(wrong)?.as_bytes().to_vec())
            }
            ScalarType::Unspecified => return Err(wrong()),
        }
    };
    Ok(pb::Value { kind: Some(kind) })
}

/// A value as YAML (for describe); `None` when unset.
pub fn yaml_of(kind: Option<&Kind>) -> Option<serde_yaml_ng::Value> {
    use serde_yaml_ng::Value as Y;
    fn seq<T: Into<Y> + Clone>(items: &[T]) -> Y {
        Y::Sequence(items.iter().cloned().map(Into::into).collect())
    }
    Some(match kind? {
        Kind::NullValue(_) => Y::Null,
        Kind::BoolValue(b) => Y::from(*b),
        Kind::Int32Value(n) => Y::from(*n),
        Kind::Int64Value(n) | Kind::TimestampValue(n) => Y::from(*n),
        Kind::Float32Value(f) => Y::from(f64::from(*f)),
        Kind::Float64Value(f) => Y::from(*f),
        Kind::StringValue(s) => Y::from(s.clone()),
        Kind::BytesValue(b) => Y::from(String::from_utf8_lossy(b).into_owned()),
        Kind::BoolList(l) => seq(&l.values),
        Kind::Int32List(l) => seq(&l.values),
        Kind::Int64List(l) => seq(&l.values),
        Kind::TimestampList(l) => seq(&l.values),
        Kind::Float32List(l) => {
            Y::Sequence(l.values.iter().map(|f| Y::from(f64::from(*f))).collect())
        }
        Kind::Float64List(l) => seq(&l.values),
        Kind::StringList(l) => seq(&l.values),
        Kind::BytesList(l) => Y::Sequence(
            l.values
                .iter()
                .map(|b| Y::from(String::from_utf8_lossy(b).into_owned()))
                .collect(),
        ),
    })
}

impl ViewSpec {
    pub fn to_proto(&self, project: &str) -> FeatureView {
        FeatureView {
            project: project.into(),
            name: self.name.clone(),
            version: 0,
            selections: self
                .features
                .iter()
                .map(|s| FeatureSelection {
                    group: s.group.clone(),
                    group_version: s.version.unwrap_or(0),
                    features: s.features.clone(),
                })
                .collect(),
            join_keys: vec![],
            label_columns: self.labels.clone(),
            description: self.description.clone(),
            tags: tags(&self.tags),
            owner: self.owner.clone(),
            meta: None,
        }
    }

    pub fn from_proto(v: &FeatureView) -> Self {
        Self {
            name: v.name.clone(),
            features: v
                .selections
                .iter()
                .map(|s| SelectionSpec {
                    group: s.group.clone(),
                    version: Some(s.group_version),
                    features: s.features.clone(),
                })
                .collect(),
            labels: v.label_columns.clone(),
            description: v.description.clone(),
            owner: v.owner.clone(),
            tags: sorted(&v.tags),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_spec_parses_and_converts() {
        let text = include_str!("../../../examples/shop.yaml");
        let spec = Spec::parse(text).unwrap();
        assert_eq!(spec.project, "shop");
        let entity = spec.entities[0].to_proto("shop").unwrap();
        let group = spec.feature_groups[0]
            .to_proto("shop", Some(&entity))
            .unwrap();
        assert!(group.ttl_seconds > 0);
        // Described objects convert back to the same spec.
        let back = GroupSpec::from_proto(&group);
        assert_eq!(
            back.to_proto("shop", Some(&entity)).unwrap().features,
            group.features
        );
    }

    #[test]
    fn aggregations_convert_both_ways_and_bad_ones_are_named() {
        let spec = Spec::parse(
            r#"
project: rides
feature_groups:
  - name: trips
    entity: driver
    features: [{name: fare, type: float64}]
    tile_grains: [5m, 1h, 1d]
    aggregations:
      - {name: n_1h, function: count, window: 1h}
      - {name: fare_life, function: max, input: fare, window: lifetime}
      - {name: last3, function: last_k, k: 3, input: fare, window: 7d, grain: 1h}
      - {name: fare_p99_1d, function: approx_percentile, percentile: 0.99, input: fare, window: 1d}
"#,
        )
        .unwrap();
        let g = spec.feature_groups[0].to_proto("rides", None).unwrap();
        assert_eq!(g.tile_grain_seconds, vec![300, 3600, 86_400]);
        assert_eq!(g.aggregations[0].window_seconds, 3600);
        assert_eq!(g.aggregations[1].window_seconds, 0);
        assert_eq!(g.aggregations[2].grain_seconds, 3600);
        assert_eq!(g.aggregations[2].k, 3);
        assert_eq!(g.aggregations[3].percentile, 0.99);
        let back = GroupSpec::from_proto(&g);
        assert_eq!(
            back.to_proto("rides", None).unwrap().aggregations,
            g.aggregations
        );
        let mut bad = spec.feature_groups[0].clone();
        bad.aggregations[0].function = "median".into();
        let err = bad.to_proto("rides", None).unwrap_err().to_string();
        assert!(err.contains("\"n_1h\"") && err.contains("median"), "{err}");
        bad.aggregations[0].function = "count".into();
        bad.aggregations[0].window = "90 fortnights".into();
        assert!(bad.to_proto("rides", None).is_err());
    }

    #[test]
    fn typos_and_bad_types_are_rejected() {
        assert!(Spec::parse("project: x\nentitees: []\n").is_err());
        let bad = GroupSpec {
            name: "g".into(),
            entity: "e".into(),
            features: vec![FeatureSpec {
                name: "f".into(),
                ty: "decimal".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let err = bad.to_proto("p", None).unwrap_err().to_string();
        assert!(err.contains("decimal"), "{err}");
    }

    #[test]
    fn defaults_follow_the_feature_type() {
        let ty = parse_type("list<float32>").unwrap();
        let v = value_of(&ty, &serde_yaml_ng::from_str("[1.5, 2]").unwrap()).unwrap();
        assert_eq!(
            v.kind,
            Some(Kind::Float32List(pb::Float32List {
                values: vec![1.5, 2.0]
            }))
        );
        assert!(value_of(&parse_type("int64").unwrap(), &"x".into()).is_err());
    }

    #[test]
    fn roles_become_sorted_bindings_and_back() {
        let spec = Spec::parse(
            "project: fraud\nroles:\n  reader: [\"group:analysts\", \"cert:dash\"]\n  admin: [\"https://idp#olga\"]\n",
        )
        .unwrap();
        let bindings = spec.roles.as_ref().unwrap().to_proto();
        assert_eq!(bindings.len(), 2);
        assert_eq!(bindings[0].role, Role::Reader as i32);
        assert_eq!(bindings[0].members, ["cert:dash", "group:analysts"]);
        assert_eq!(spec.project().roles, bindings);
        assert_eq!(RolesSpec::from_proto(&bindings).to_proto(), bindings);
        assert!(Spec::parse("project: x\nroles:\n  owner: [a]\n").is_err());
    }
}
