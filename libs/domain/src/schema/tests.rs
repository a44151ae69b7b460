use featurestore_proto::v1::ScalarType;

use super::*;
use crate::fixtures::{entity, feature, group, key, view};

fn customer() -> Entity {
    entity("shop", "customer", &[("customer_id", ScalarType::Int64)])
}

fn field_of(err: DomainError) -> String {
    match err {
        DomainError::InvalidArgument { field, .. }
        | DomainError::FailedPrecondition { field, .. } => field,
        DomainError::NotFound { what } => what,
    }
}

#[test]
fn group_defaults_are_filled_in() {
    let mut g = group("shop", "orders", "customer", &[("amount", "float64")]);
    normalize_feature_group(&mut g, &customer(), 8).unwrap();
    assert_eq!(g.primary_key, customer().join_keys);
    assert_eq!(g.event_time_column, "event_time");
    assert_eq!(g.partitions, 8);
}

#[test]
fn bad_groups_name_the_field() {
    let cases: Vec<(FeatureGroup, &str)> = vec![
        (
            group("shop", "Drop table;", "customer", &[("a", "int64")]),
            "feature_group.name",
        ),
        (
            group("shop", "orders", "customer", &[("a", "decimal")]),
            "feature_group.features[0].type",
        ),
        (
            group(
                "shop",
                "orders",
                "customer",
                &[("a", "int64"), ("a", "string")],
            ),
            "feature_group.features[1].name",
        ),
        (
            group("shop", "orders", "customer", &[("customer_id", "int64")]),
            "feature_group.features[0].name",
        ),
        (
            FeatureGroup {
                primary_key: vec![key("merchant_id", ScalarType::Int64)],
                ..group("shop", "orders", "customer", &[("a", "int64")])
            },
            "feature_group.primary_key[0]",
        ),
        (
            FeatureGroup {
                primary_key: vec![key("customer_id", ScalarType::String)],
                ..group("shop", "orders", "customer", &[("a", "int64")])
            },
            "feature_group.primary_key[0].type",
        ),
        (
            group("shop", "orders", "customer", &[]),
            "feature_group.features",
        ),
    ];
    for (mut g, field) in cases {
        let err = normalize_feature_group(&mut g, &customer(), 8).unwrap_err();
        assert_eq!(field_of(err), field);
    }
}

#[test]
fn missing_entity_key_in_primary_key_is_rejected() {
    let e = entity(
        "shop",
        "customer",
        &[
            ("customer_id", ScalarType::Int64),
            ("country", ScalarType::String),
        ],
    );
    let mut g = FeatureGroup {
        primary_key: vec![key("customer_id", ScalarType::Int64)],
        ..group("shop", "orders", "customer", &[("a", "int64")])
    };
    let err = normalize_feature_group(&mut g, &e, 8).unwrap_err();
    assert!(err.to_string().contains("\"country\""), "{err}");
}

#[test]
fn adding_features_is_compatible_and_removing_is_not() {
    let mut old = group("shop", "orders", "customer", &[("a", "int64")]);
    normalize_feature_group(&mut old, &customer(), 8).unwrap();
    let mut added = old.clone();
    added.features.push(feature("b", "string"));
    added.description = "now with b".into();
    check_in_place_update(&old, &added).unwrap();

    let mut removed = added.clone();
    removed.features.remove(0);
    let err = check_in_place_update(&old, &removed).unwrap_err();
    assert!(matches!(err, DomainError::FailedPrecondition { .. }));

    let mut retyped = old.clone();
    retyped.features[0] = feature("a", "string");
    assert_eq!(
        field_of(check_in_place_update(&old, &retyped).unwrap_err()),
        "feature_group.features[0].type"
    );
}

#[test]
fn views_resolve_features_and_union_keys() {
    let mut orders = group(
        "shop",
        "orders",
        "customer",
        &[("amount", "float64"), ("n", "int64")],
    );
    normalize_feature_group(&mut orders, &customer(), 8).unwrap();
    orders.version = 2;
    let merchant = entity("shop", "merchant", &[("merchant_id", ScalarType::String)]);
    let mut risk = group("shop", "risk", "merchant", &[("score", "float32")]);
    normalize_feature_group(&mut risk, &merchant, 8).unwrap();
    risk.version = 1;

    let mut v = view("shop", "fraud", &[("orders", &["amount"]), ("risk", &[])]);
    resolve_feature_view(&mut v, &[orders.clone(), risk.clone()]).unwrap();
    assert_eq!(v.selections[0].group_version, 2);
    assert_eq!(v.selections[1].features, vec!["score".to_string()]);
    let keys: Vec<_> = v.join_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(keys, ["customer_id", "merchant_id"]);

    let mut missing = view("shop", "fraud", &[("orders", &["nope"])]);
    let err = resolve_feature_view(&mut missing, &[orders.clone()]).unwrap_err();
    assert!(matches!(err, DomainError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("nope"));

    let other_customer = entity("shop", "customer2", &[("customer_id", ScalarType::String)]);
    let mut clash = group("shop", "clash", "customer2", &[("x", "int64")]);
    normalize_feature_group(&mut clash, &other_customer, 8).unwrap();
    let mut bad = view("shop", "fraud", &[("orders", &[]), ("clash", &[])]);
    let err = resolve_feature_view(&mut bad, &[orders, clash]).unwrap_err();
    assert!(err.to_string().contains("keys do not join"), "{err}");
}

#[test]
fn role_bindings_name_the_wrong_field() {
    let binding = |role: Role, members: &[&str]| RoleBinding {
        role: role as i32,
        members: members.iter().map(|m| m.to_string()).collect(),
    };
    let ok = [
        binding(Role::Reader, &["group:analysts", "https://idp#rita"]),
        binding(Role::Admin, &["cert:ops"]),
    ];
    assert!(validate_roles("roles", &ok).is_ok());
    let cases = [
        (binding(Role::Unspecified, &["x"]), "roles[0].role"),
        (binding(Role::Writer, &[]), "roles[0].members"),
        (binding(Role::Writer, &["a", "b c"]), "roles[0].members[1]"),
        (binding(Role::Writer, &["group:"]), "roles[0].members[0]"),
    ];
    for (bad, field) in cases {
        assert_eq!(
            field_of(validate_roles("roles", &[bad]).unwrap_err()),
            field
        );
    }
}
