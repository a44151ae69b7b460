//! `fsctl get-vectors`: feature vectors from the online serving service, for
//! entity keys given on the command line (typed by the view's join keys,
//! which the registry knows).

use anyhow::{Result, anyhow, bail};
use featurestore_proto::v1::{
    Consistency, FeatureSelector, FeatureStatus, FeatureVector, GetFeatureVectorsRequest,
    GetFeatureViewRequest, KeyColumn, Row, ScalarType, Value, feature_selector::Selector,
    online_serving_service_client::OnlineServingServiceClient, value::Kind,
};
use serde_json::{Map, Value as Json, json};
use tonic::transport::Channel;

use crate::{Client, Output, print, status_error, table, view_ref};

/// A key value typed as the view's join key wants it.
fn key_value(column: &KeyColumn, text: &str) -> Result<Value> {
    let bad = || anyhow!("key {}={text:?}: not a {:?}", column.name, column.r#type());
    let kind = match column.r#type() {
        ScalarType::Int64 => Kind::Int64Value(text.parse().map_err(|_| bad())?),
        ScalarType::Int32 => Kind::Int32Value(text.parse().map_err(|_| bad())?),
        ScalarType::String => Kind::StringValue(text.to_string()),
        ScalarType::Bool => Kind::BoolValue(text.parse().map_err(|_| bad())?),
        ScalarType::Bytes => Kind::BytesValue(text.as_bytes().to_vec()),
        other => bail!(
            "key {}: keys of type {other:?} are not supported here",
            column.name
        ),
    };
    Ok(Value { kind: Some(kind) })
}

/// One `--key a=1,b=x` as a row in the order of `join_keys`.
fn entity_row(join_keys: &[KeyColumn], spec: &str) -> Result<Row> {
    let mut given: Vec<(&str, &str)> = Vec::new();
    for part in spec.split(',') {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| anyhow!("--key {spec:?}: write name=value[,name=value]"))?;
        given.push((name.trim(), value.trim()));
    }
    if let Some((name, _)) = given
        .iter()
        .find(|(n, _)| !join_keys.iter().any(|k| k.name == *n))
    {
        bail!(
            "--key {spec:?}: {name:?} is not a join key of the view ({})",
            names(join_keys)
        );
    }
    let values = join_keys
        .iter()
        .map(|k| match given.iter().find(|(n, _)| *n == k.name) {
            Some((_, text)) => key_value(k, text),
            None => bail!(
                "--key {spec:?}: missing {:?} (the view's keys: {})",
                k.name,
                names(join_keys)
            ),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Row { values })
}

fn names(keys: &[KeyColumn]) -> String {
    keys.iter()
        .map(|k| k.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as JSON: numbers, strings, lists; timestamps as RFC 3339.
fn json_of(value: &Value) -> Json {
    let time = |micros: i64| -> Json {
        let at =
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros.max(0).unsigned_abs());
        json!(humantime::format_rfc3339_micros(at).to_string())
    };
    let hex =
        |b: &[u8]| -> Json { json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>()) };
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => json!(b),
        Some(Kind::Int32Value(i)) => json!(i),
        Some(Kind::Int64Value(i)) => json!(i),
        Some(Kind::Float32Value(f)) => json!(f),
        Some(Kind::Float64Value(f)) => json!(f),
        Some(Kind::StringValue(s)) => json!(s),
        Some(Kind::BytesValue(b)) => hex(b),
        Some(Kind::TimestampValue(t)) => time(*t),
        Some(Kind::BoolList(l)) => json!(l.values),
        Some(Kind::Int32List(l)) => json!(l.values),
        Some(Kind::Int64List(l)) => json!(l.values),
        Some(Kind::Float32List(l)) => json!(l.values),
        Some(Kind::Float64List(l)) => json!(l.values),
        Some(Kind::StringList(l)) => json!(l.values),
        Some(Kind::BytesList(l)) => Json::Array(l.values.iter().map(|b| hex(b)).collect()),
        Some(Kind::TimestampList(l)) => Json::Array(l.values.iter().map(|t| time(*t)).collect()),
    }
}

fn status_name(status: i32) -> String {
    FeatureStatus::try_from(status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("FEATURE_STATUS_")
                .to_string()
        })
        .unwrap_or_default()
}

/// A cell of the table: the value, or the status when it is not PRESENT.
fn cell(vector: &FeatureVector, i: usize) -> String {
    let status = vector.statuses.get(i).copied().unwrap_or_default();
    match (FeatureStatus::try_from(status), vector.values.get(i)) {
        (Ok(FeatureStatus::Present), Some(v)) => match json_of(v) {
            Json::String(s) => s,
            other => other.to_string(),
        },
        // A default served for a missing row: the value, and why.
        (_, Some(v)) if !matches!(v.kind, None | Some(Kind::NullValue(_))) => {
            format!("{} ({})", json_of(v), status_name(status))
        }
        _ => status_name(status),
    }
}

pub async fn run(
    registry: &mut Client,
    serving: Channel,
    project: String,
    view: &str,
    keys: &[String],
    output: Output,
    consistency: Option<Consistency>,
) -> Result<()> {
    if keys.is_empty() {
        bail!("give at least one --key name=value");
    }
    let view = view_ref(view)?;
    let found = registry
        .get_feature_view(GetFeatureViewRequest {
            project: project.clone(),
            name: view.name.clone(),
            version: view.version,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let join_keys = found.join_keys;
    let rows = keys
        .iter()
        .map(|spec| entity_row(&join_keys, spec))
        .collect::<Result<Vec<_>>>()?;
    let response = OnlineServingServiceClient::new(crate::credentials::authorized(serving))
        .get_feature_vectors(GetFeatureVectorsRequest {
            project,
            selector: Some(FeatureSelector {
                selector: Some(Selector::View(view)),
            }),
            join_keys: join_keys.iter().map(|k| k.name.clone()).collect(),
            entity_rows: rows.clone(),
            include_event_times: false,
            consistency,
            include_freshness: false,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if output == Output::Table {
        let mut header: Vec<&str> = join_keys.iter().map(|k| k.name.as_str()).collect();
        header.extend(response.feature_names.iter().map(String::as_str));
        let rows = rows
            .iter()
            .zip(&response.vectors)
            .map(|(key, vector)| {
                let mut row: Vec<String> = key
                    .values
                    .iter()
                    .map(|v| match json_of(v) {
                        Json::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect();
                row.extend((0..response.feature_names.len()).map(|i| cell(vector, i)));
                row
            })
            .collect();
        table(&header, rows);
        return Ok(());
    }
    let vectors: Vec<Json> = keys
        .iter()
        .zip(&response.vectors)
        .map(|(spec, vector)| {
            let mut features = Map::new();
            for (i, name) in response.feature_names.iter().enumerate() {
                let value = vector.values.get(i).map(json_of).unwrap_or(Json::Null);
                let status = status_name(vector.statuses.get(i).copied().unwrap_or_default());
                features.insert(name.clone(), json!({"value": value, "status": status}));
            }
            json!({"key": spec, "features": features})
        })
        .collect();
    print(output, &vectors)
}
