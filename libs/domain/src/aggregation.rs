//! Aggregated features of a group: validation of their definition and the
//! one mapping from the catalog's `Aggregation` to the arithmetic of
//! `featurestore_aggregation` (function, grains, window, result type).

use std::collections::HashSet;

use featurestore_aggregation::{
    Function, Grains, Input, Output,
    sketch::{item_of_int, item_of_str},
};
use featurestore_proto::v1::{
    Aggregation, AggregationFunction, FeatureGroup, Float64List, ScalarType, Value, ValueType,
    value::Kind,
};

use crate::{DomainError, names::validate_name, types::type_name};

/// Tile grains of a group with aggregations that names none: 5 min, 1 h, 1 d.
pub const DEFAULT_TILE_GRAIN_SECONDS: [i64; 3] = [300, 3600, 86_400];
/// Most aggregations in one group.
pub const MAX_AGGREGATIONS: usize = 200;
/// Largest `k` of last-k.
pub const MAX_LAST_K: u32 = 1000;
/// Longest window: ten years.
pub const MAX_WINDOW_SECONDS: i64 = 10 * 366 * 86_400;
/// Tiles are kept this long past the longest window (late events and reads
/// of a window that started just before it still find them).
pub const TILE_TTL_MARGIN_SECONDS: i64 = 86_400;

const MICROS: i64 = 1_000_000;

/// One aggregated feature, ready to fold and read.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatedFeature {
    /// Its place among the group's aggregations (stable: new ones are
    /// appended, none is removed or moved in place).
    pub index: usize,
    pub name: String,
    pub function: Function,
    /// Index of the input feature in the group (`None` for count).
    pub input: Option<usize>,
    /// Window in µs; `None` is lifetime.
    pub window: Option<i64>,
    /// The group's grains from this feature's grain up.
    pub grains: Grains,
    /// The type of its values.
    pub output: ValueType,
}

/// Everything a group's aggregations need: its tile grains and its
/// aggregated features.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregations {
    pub grains: Grains,
    pub features: Vec<AggregatedFeature>,
}

impl Aggregations {
    /// The aggregations of a validated group; `None` when it has none.
    pub fn of(group: &FeatureGroup) -> Option<Self> {
        if group.aggregations.is_empty() {
            return None;
        }
        Some(resolve(group).expect("a stored group's aggregations are valid"))
    }

    pub fn get(&self, name: &str) -> Option<&AggregatedFeature> {
        self.features.iter().find(|f| f.name == name)
    }

    /// Whether any feature has a finite window (then grain tiles are kept).
    pub fn has_windows(&self) -> bool {
        self.features.iter().any(|f| f.window.is_some())
    }

    /// Whether any feature aggregates over lifetime (then the lifetime tile
    /// is kept).
    pub fn has_lifetime(&self) -> bool {
        self.features.iter().any(|f| f.window.is_none())
    }

    /// How long grain tiles live, in seconds: the longest window, the
    /// coarsest grain and a margin.
    pub fn tile_ttl_seconds(&self) -> i64 {
        let longest = self
            .features
            .iter()
            .filter_map(|f| f.window)
            .max()
            .unwrap_or(0);
        let coarsest = self.grains.all().last().copied().unwrap_or(0);
        (longest + coarsest) / MICROS + TILE_TTL_MARGIN_SECONDS
    }
}

/// The result type of `function` (count and approx_distinct are INT64,
/// last-k a list of FLOAT64, every other FLOAT64).
pub fn output_type(function: Function) -> ValueType {
    let scalar = match function {
        Function::Count | Function::ApproxDistinct => ScalarType::Int64,
        _ => ScalarType::Float64,
    };
    ValueType {
        scalar: scalar as i32,
        is_list: matches!(function, Function::LastK(_)),
    }
}

/// An input value as `function` reads it: a number (bool is 0 or 1), or
/// for approx_distinct the item it counts as (integers and bools by value,
/// whatever their width; strings by their bytes). Null and any other kind
/// are no input.
pub fn input_value(function: Function, value: &Value) -> Option<Input> {
    let kind = value.kind.as_ref()?;
    if function == Function::ApproxDistinct {
        return Some(Input::Item(match kind {
            Kind::BoolValue(b) => item_of_int(i64::from(*b)),
            Kind::Int32Value(v) => item_of_int(i64::from(*v)),
            Kind::Int64Value(v) => item_of_int(*v),
            Kind::StringValue(v) => item_of_str(v),
            _ => return None,
        }));
    }
    Some(Input::Number(match kind {
        Kind::BoolValue(b) => f64::from(u8::from(*b)),
        Kind::Int32Value(v) => f64::from(*v),
        Kind::Int64Value(v) => *v as f64,
        Kind::Float32Value(v) => f64::from(*v),
        Kind::Float64Value(v) => *v,
        _ => return None,
    }))
}

/// A result as a value of [`output_type`]; `None` is null.
pub fn output_value(output: Output) -> Option<Value> {
    let kind = match output {
        Output::Null => return None,
        Output::Int(v) => Kind::Int64Value(v),
        Output::Float(v) => Kind::Float64Value(v),
        Output::Floats(values) => Kind::Float64List(Float64List { values }),
    };
    Some(Value { kind: Some(kind) })
}

const FUNCTION_NAMES: [(AggregationFunction, &str); 12] = [
    (AggregationFunction::Count, "count"),
    (AggregationFunction::Sum, "sum"),
    (AggregationFunction::Min, "min"),
    (AggregationFunction::Max, "max"),
    (AggregationFunction::Mean, "mean"),
    (AggregationFunction::Variance, "variance"),
    (AggregationFunction::Stddev, "stddev"),
    (AggregationFunction::First, "first"),
    (AggregationFunction::Last, "last"),
    (AggregationFunction::LastK, "last_k"),
    (AggregationFunction::ApproxDistinct, "approx_distinct"),
    (AggregationFunction::ApproxPercentile, "approx_percentile"),
];

/// The spec name of a function (`count`, `last_k`, ...).
pub fn function_name(f: AggregationFunction) -> &'static str {
    FUNCTION_NAMES
        .iter()
        .find(|(g, _)| *g == f)
        .map_or("unspecified", |(_, n)| n)
}

/// The function a spec names; `None` when it is none of
/// [`function_names`].
pub fn parse_function(name: &str) -> Option<AggregationFunction> {
    FUNCTION_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(f, _)| *f)
}

/// Every function name, for messages.
pub fn function_names() -> String {
    FUNCTION_NAMES.map(|(_, n)| n).join(", ")
}

fn function(f: AggregationFunction, a: &Aggregation) -> Option<Function> {
    Some(match f {
        AggregationFunction::Unspecified => return None,
        AggregationFunction::Count => Function::Count,
        AggregationFunction::Sum => Function::Sum,
        AggregationFunction::Min => Function::Min,
        AggregationFunction::Max => Function::Max,
        AggregationFunction::Mean => Function::Mean,
        AggregationFunction::Variance => Function::Variance,
        AggregationFunction::Stddev => Function::Stddev,
        AggregationFunction::First => Function::First,
        AggregationFunction::Last => Function::Last,
        AggregationFunction::LastK => Function::LastK(a.k as usize),
        AggregationFunction::ApproxDistinct => Function::ApproxDistinct,
        AggregationFunction::ApproxPercentile => Function::Percentile(a.percentile),
    })
}

/// Validates the aggregations of `group` (whose features, keys and event
/// time are already valid) and fills in the default grains.
pub fn validate_aggregations(group: &mut FeatureGroup) -> Result<(), DomainError> {
    if group.aggregations.is_empty() {
        if !group.tile_grain_seconds.is_empty() {
            return Err(DomainError::invalid(
                "feature_group.tile_grain_seconds",
                "only a group with aggregations has tiles",
            ));
        }
        return Ok(());
    }
    if !group.online_enabled {
        return Err(DomainError::invalid(
            "feature_group.online_enabled",
            "aggregations keep their tiles in the online store: enable it",
        ));
    }
    if group.tile_grain_seconds.is_empty() {
        group.tile_grain_seconds = DEFAULT_TILE_GRAIN_SECONDS.to_vec();
    }
    resolve(group).map(|_| ())
}

fn resolve(group: &FeatureGroup) -> Result<Aggregations, DomainError> {
    if group.aggregations.len() > MAX_AGGREGATIONS {
        return Err(DomainError::invalid(
            "feature_group.aggregations",
            format!("at most {MAX_AGGREGATIONS} aggregations"),
        ));
    }
    let seconds = &group.tile_grain_seconds;
    if let Some(bad) = seconds
        .iter()
        .find(|s| **s <= 0 || **s > MAX_WINDOW_SECONDS)
    {
        return Err(DomainError::invalid(
            "feature_group.tile_grain_seconds",
            format!("{bad} is not between 1 and {MAX_WINDOW_SECONDS} seconds"),
        ));
    }
    let grains = Grains::new(seconds.iter().map(|s| s * MICROS).collect())
        .map_err(|e| DomainError::invalid("feature_group.tile_grain_seconds", e.to_string()))?;
    let mut seen: HashSet<&str> = group.features.iter().map(|f| f.name.as_str()).collect();
    seen.extend(group.primary_key.iter().map(|k| k.name.as_str()));
    seen.insert(group.event_time_column.as_str());
    let mut features = Vec::with_capacity(group.aggregations.len());
    for (i, a) in group.aggregations.iter().enumerate() {
        let field = format!("feature_group.aggregations[{i}]");
        features.push(resolve_one(group, &grains, &field, i, a)?);
        if !seen.insert(a.name.as_str()) {
            return Err(DomainError::invalid(
                format!("{field}.name"),
                format!(
                    "duplicate name {:?} (aggregations must differ from each other, the features, the keys and the event time column)",
                    a.name
                ),
            ));
        }
    }
    Ok(Aggregations { grains, features })
}

fn resolve_one(
    group: &FeatureGroup,
    grains: &Grains,
    field: &str,
    index: usize,
    a: &Aggregation,
) -> Result<AggregatedFeature, DomainError> {
    validate_name(&format!("{field}.name"), &a.name)?;
    let Some(f) = AggregationFunction::try_from(a.function)
        .ok()
        .and_then(|f| function(f, a))
    else {
        return Err(DomainError::invalid(
            format!("{field}.function"),
            format!("unknown or unspecified ({})", function_names()),
        ));
    };
    match f {
        Function::LastK(k) if k == 0 || k > MAX_LAST_K as usize => {
            return Err(DomainError::invalid(
                format!("{field}.k"),
                format!("last_k needs k between 1 and {MAX_LAST_K}"),
            ));
        }
        Function::LastK(_) => {}
        _ if a.k != 0 => {
            return Err(DomainError::invalid(
                format!("{field}.k"),
                "only last_k takes k",
            ));
        }
        _ => {}
    }
    match f {
        Function::Percentile(p) if !(p > 0.0 && p < 1.0) => {
            return Err(DomainError::invalid(
                format!("{field}.percentile"),
                format!(
                    "approx_percentile needs a percentile strictly between 0 and 1 (0.99 is p99), not {p}"
                ),
            ));
        }
        Function::Percentile(_) => {}
        _ if a.percentile != 0.0 => {
            return Err(DomainError::invalid(
                format!("{field}.percentile"),
                "only approx_percentile takes a percentile",
            ));
        }
        _ => {}
    }
    let input = if f == Function::Count {
        if !a.input.is_empty() {
            return Err(DomainError::invalid(
                format!("{field}.input"),
                "count takes no input column",
            ));
        }
        None
    } else {
        Some(input_column(group, field, a, f)?)
    };
    let grain = if a.grain_seconds == 0 {
        grains.finest()
    } else {
        a.grain_seconds.saturating_mul(MICROS)
    };
    let Some(at) = grains.all().iter().position(|g| *g == grain) else {
        return Err(DomainError::invalid(
            format!("{field}.grain_seconds"),
            format!(
                "{} is not one of the group's tile grains ({:?} s)",
                a.grain_seconds, group.tile_grain_seconds
            ),
        ));
    };
    let window = match a.window_seconds {
        0 => None,
        w if !(0..=MAX_WINDOW_SECONDS).contains(&w) => {
            return Err(DomainError::invalid(
                format!("{field}.window_seconds"),
                format!("must be between 1 and {MAX_WINDOW_SECONDS} seconds, or 0 for lifetime"),
            ));
        }
        w if (w * MICROS) % grain != 0 => {
            return Err(DomainError::invalid(
                format!("{field}.window_seconds"),
                format!("{w} is not a multiple of the grain ({} s)", grain / MICROS),
            ));
        }
        w => Some(w * MICROS),
    };
    if a.description.len() > 4096 {
        return Err(DomainError::invalid(
            format!("{field}.description"),
            "longer than 4096 bytes",
        ));
    }
    Ok(AggregatedFeature {
        index,
        name: a.name.clone(),
        function: f,
        input,
        window,
        grains: Grains::new(grains.all()[at..].to_vec()).expect("a suffix of nested grains"),
        output: output_type(f),
    })
}

fn input_column(
    group: &FeatureGroup,
    field: &str,
    a: &Aggregation,
    f: Function,
) -> Result<usize, DomainError> {
    let Some(i) = group.features.iter().position(|f| f.name == a.input) else {
        return Err(DomainError::invalid(
            format!("{field}.input"),
            if a.input.is_empty() {
                "names the input feature (every function but count has one)".to_string()
            } else {
                format!("{:?} is not a feature of the group", a.input)
            },
        ));
    };
    let ty = group.features[i].r#type.unwrap_or_default();
    if f == Function::ApproxDistinct {
        let countable = matches!(
            ty.scalar(),
            ScalarType::Bool | ScalarType::Int32 | ScalarType::Int64 | ScalarType::String
        );
        if ty.is_list || !countable {
            return Err(DomainError::invalid(
                format!("{field}.input"),
                format!(
                    "{:?} is {}: approx_distinct counts a bool, int32, int64 or string scalar",
                    a.input,
                    type_name(&ty)
                ),
            ));
        }
        return Ok(i);
    }
    let numeric = matches!(
        ty.scalar(),
        ScalarType::Bool
            | ScalarType::Int32
            | ScalarType::Int64
            | ScalarType::Float32
            | ScalarType::Float64
    );
    if ty.is_list || !numeric {
        return Err(DomainError::invalid(
            format!("{field}.input"),
            format!(
                "{:?} is {}: aggregations take a numeric scalar (bool, int32, int64, float32, float64)",
                a.input,
                type_name(&ty)
            ),
        ));
    }
    Ok(i)
}

/// Checks that the aggregations of `new` may replace those of `old` in
/// place: the grains stay, existing aggregations stay as they were (only
/// their description may change), new ones go at the end.
pub fn check_in_place_update(old: &FeatureGroup, new: &FeatureGroup) -> Result<(), DomainError> {
    let breaking = |field: String, what: String| {
        Err(DomainError::precondition(
            format!("feature_group.{field}"),
            format!("{what}: a breaking change needs a new version of the group"),
        ))
    };
    if !old.aggregations.is_empty() && new.tile_grain_seconds != old.tile_grain_seconds {
        return breaking(
            "tile_grain_seconds".into(),
            "the tile grains cannot change".into(),
        );
    }
    for (i, old_a) in old.aggregations.iter().enumerate() {
        let same = new.aggregations.get(i).is_some_and(|a| {
            Aggregation {
                description: String::new(),
                ..a.clone()
            } == Aggregation {
                description: String::new(),
                ..old_a.clone()
            }
        });
        if !same {
            return breaking(
                format!("aggregations[{i}]"),
                format!(
                    "aggregation {:?} was removed, changed or moved (new aggregations go at the end)",
                    old_a.name
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use featurestore_proto::v1::ScalarType;

    use super::*;
    use crate::{fixtures, schema::normalize_feature_group};

    fn agg(name: &str, function: AggregationFunction, input: &str, window: i64) -> Aggregation {
        Aggregation {
            name: name.into(),
            function: function as i32,
            input: input.into(),
            window_seconds: window,
            ..Default::default()
        }
    }

    fn trips(aggregations: Vec<Aggregation>) -> Result<FeatureGroup, DomainError> {
        let mut g = fixtures::group(
            "rides",
            "trips",
            "driver",
            &[
                ("fare", "float64"),
                ("city", "string"),
                ("tags", "list<int64>"),
            ],
        );
        g.aggregations = aggregations;
        let driver = fixtures::entity("rides", "driver", &[("driver_id", ScalarType::Int64)]);
        normalize_feature_group(&mut g, &driver, 4).map(|_| g)
    }

    #[test]
    fn valid_aggregations_resolve_with_default_grains() {
        let sketches = trips(vec![
            agg(
                "cities_1d",
                AggregationFunction::ApproxDistinct,
                "city",
                86_400,
            ),
            Aggregation {
                percentile: 0.99,
                ..agg("fare_p99", AggregationFunction::ApproxPercentile, "fare", 0)
            },
        ])
        .unwrap();
        let a = Aggregations::of(&sketches).unwrap();
        assert_eq!(
            a.get("cities_1d").unwrap().function,
            Function::ApproxDistinct
        );
        assert_eq!(
            a.get("cities_1d").unwrap().output,
            output_type(Function::Count)
        );
        assert_eq!(
            a.get("fare_p99").unwrap().function,
            Function::Percentile(0.99)
        );
        let g = trips(vec![
            agg("trips_1h", AggregationFunction::Count, "", 3600),
            agg("fare_7d", AggregationFunction::Sum, "fare", 7 * 86_400),
            agg("fare_life", AggregationFunction::Max, "fare", 0),
            Aggregation {
                grain_seconds: 86_400,
                k: 3,
                ..agg(
                    "last_fares",
                    AggregationFunction::LastK,
                    "fare",
                    30 * 86_400,
                )
            },
        ])
        .unwrap();
        assert_eq!(g.tile_grain_seconds, DEFAULT_TILE_GRAIN_SECONDS.to_vec());
        let a = Aggregations::of(&g).unwrap();
        assert!(a.has_windows() && a.has_lifetime());
        assert_eq!(
            a.get("trips_1h").unwrap().output,
            output_type(Function::Count)
        );
        assert_eq!(a.get("fare_7d").unwrap().input, Some(0));
        assert_eq!(a.get("fare_life").unwrap().window, None);
        assert_eq!(
            a.get("last_fares").unwrap().grains.finest(),
            86_400 * MICROS
        );
        assert_eq!(a.tile_ttl_seconds(), 31 * 86_400 + 86_400);
        assert_eq!(
            Some(a.get("last_fares").unwrap().output),
            Some(ValueType {
                scalar: ScalarType::Float64 as i32,
                is_list: true
            })
        );
    }

    #[test]
    fn bad_aggregations_name_the_field_and_the_reason() {
        let cases = [
            (
                agg("x", AggregationFunction::Unspecified, "fare", 3600),
                "aggregations[0].function",
                "unknown",
            ),
            (
                agg("x", AggregationFunction::Sum, "city", 3600),
                "aggregations[0].input",
                "string",
            ),
            (
                agg("x", AggregationFunction::Sum, "tags", 3600),
                "aggregations[0].input",
                "list",
            ),
            (
                agg("x", AggregationFunction::Sum, "nope", 3600),
                "aggregations[0].input",
                "not a feature",
            ),
            (
                agg("x", AggregationFunction::Sum, "", 3600),
                "aggregations[0].input",
                "names the input",
            ),
            (
                agg("x", AggregationFunction::Count, "fare", 3600),
                "aggregations[0].input",
                "no input",
            ),
            (
                agg("x", AggregationFunction::Sum, "fare", 3601),
                "aggregations[0].window_seconds",
                "multiple of the grain",
            ),
            (
                agg("x", AggregationFunction::Sum, "fare", -1),
                "aggregations[0].window_seconds",
                "between",
            ),
            (
                agg("fare", AggregationFunction::Sum, "fare", 3600),
                "aggregations[0].name",
                "duplicate",
            ),
            (
                agg("Bad", AggregationFunction::Sum, "fare", 3600),
                "aggregations[0].name",
                "",
            ),
            (
                agg("x", AggregationFunction::LastK, "fare", 3600),
                "aggregations[0].k",
                "between 1",
            ),
            (
                Aggregation {
                    k: 2,
                    ..agg("x", AggregationFunction::Sum, "fare", 3600)
                },
                "aggregations[0].k",
                "only last_k",
            ),
            (
                Aggregation {
                    grain_seconds: 60,
                    ..agg("x", AggregationFunction::Sum, "fare", 3600)
                },
                "aggregations[0].grain_seconds",
                "not one of",
            ),
            (
                agg("x", AggregationFunction::ApproxPercentile, "fare", 3600),
                "aggregations[0].percentile",
                "strictly between 0 and 1",
            ),
            (
                Aggregation {
                    percentile: 1.0,
                    ..agg("x", AggregationFunction::ApproxPercentile, "fare", 3600)
                },
                "aggregations[0].percentile",
                "not 1",
            ),
            (
                Aggregation {
                    percentile: 0.5,
                    ..agg("x", AggregationFunction::Max, "fare", 3600)
                },
                "aggregations[0].percentile",
                "only approx_percentile",
            ),
            (
                Aggregation {
                    percentile: 0.5,
                    ..agg("x", AggregationFunction::ApproxPercentile, "city", 3600)
                },
                "aggregations[0].input",
                "string",
            ),
            (
                agg("x", AggregationFunction::ApproxDistinct, "fare", 3600),
                "aggregations[0].input",
                "approx_distinct counts a bool, int32, int64 or string",
            ),
            (
                agg("x", AggregationFunction::ApproxDistinct, "tags", 3600),
                "aggregations[0].input",
                "list",
            ),
        ];
        for (a, field, reason) in cases {
            match trips(vec![a.clone()]) {
                Err(DomainError::InvalidArgument {
                    field: f,
                    reason: r,
                }) => {
                    assert_eq!(f, format!("feature_group.{field}"), "{a:?}");
                    assert!(r.contains(reason), "{a:?}: {r}");
                }
                other => panic!("{a:?}: {other:?}"),
            }
        }
        let mut g = fixtures::group("rides", "trips", "driver", &[("fare", "float64")]);
        g.aggregations = vec![agg("n", AggregationFunction::Count, "", 600)];
        g.tile_grain_seconds = vec![300, 400];
        let driver = fixtures::entity("rides", "driver", &[("driver_id", ScalarType::Int64)]);
        let err = normalize_feature_group(&mut g, &driver, 4).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("feature_group.tile_grain_seconds"),
            "{err}"
        );
        g.tile_grain_seconds = vec![];
        g.online_enabled = false;
        let err = normalize_feature_group(&mut g, &driver, 4).unwrap_err();
        assert!(
            err.to_string().starts_with("feature_group.online_enabled"),
            "{err}"
        );
    }

    #[test]
    fn aggregations_are_added_in_place_but_never_changed() {
        let old = trips(vec![agg("n", AggregationFunction::Count, "", 3600)]).unwrap();
        let added = trips(vec![
            agg("n", AggregationFunction::Count, "", 3600),
            agg("s", AggregationFunction::Sum, "fare", 3600),
        ])
        .unwrap();
        assert!(check_in_place_update(&old, &added).is_ok());
        let changed = trips(vec![agg("n", AggregationFunction::Count, "", 7200)]).unwrap();
        let err = check_in_place_update(&old, &changed).unwrap_err();
        assert!(
            matches!(err, DomainError::FailedPrecondition { ref field, .. } if field == "feature_group.aggregations[0]"),
            "{err}"
        );
        let mut regrained = old.clone();
        regrained.tile_grain_seconds = vec![600, 3600];
        assert!(check_in_place_update(&old, &regrained).is_err());
        let plain = trips(vec![]).unwrap();
        assert!(check_in_place_update(&plain, &old).is_ok());
    }

    #[test]
    fn values_map_in_and_out() {
        use featurestore_proto::v1::value::Kind;
        let v = |k| Value { kind: Some(k) };
        let number = |k| input_value(Function::Sum, &v(k));
        assert_eq!(number(Kind::BoolValue(true)), Some(Input::Number(1.0)));
        assert_eq!(number(Kind::Int32Value(-3)), Some(Input::Number(-3.0)));
        assert_eq!(number(Kind::NullValue(0)), None);
        let item = |k| input_value(Function::ApproxDistinct, &v(k));
        assert_eq!(item(Kind::Int32Value(7)), item(Kind::Int64Value(7)));
        assert_ne!(item(Kind::Int64Value(7)), item(Kind::Int64Value(8)));
        assert_eq!(
            item(Kind::StringValue("card-1".into())),
            Some(Input::Item(item_of_str("card-1")))
        );
        assert_eq!(item(Kind::Float64Value(1.0)), None);
        assert_eq!(output_value(Output::Null), None);
        assert_eq!(output_value(Output::Int(4)), Some(v(Kind::Int64Value(4))));
    }
}
