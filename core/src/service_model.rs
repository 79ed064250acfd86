//! The ElastiCache 2015-02-02 service model: each action's input parameters
//! and their shapes, as a Query request carries them. The tables are made at
//! build time (`core/build.rs`) from the checked-in trimmed copy of
//! botocore's model (`core/model/`, see its `SOURCE.md`), so they are plain
//! statics: nothing is parsed or allocated at start.
//!
//! Besides the model's own facts (types, required members, Query names,
//! enums, lengths), each member says how AWS compares the names it holds
//! ([`Member::case`]) and whether its value is a secret ([`Member::is_secret`]).

use std::fmt;

use crate::names::NameCase;

include!(concat!(env!("OUT_DIR"), "/service_model.rs"));

// Operations and shapes print as their names: shapes refer to each other,
// and the name says which one it is.
macro_rules! debug_as_name {
    ($($type:ty),*) => {$(
        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name)
            }
        }
    )*};
}
debug_as_name!(Operation, Shape);

/// One action of the API, and its input.
pub struct Operation {
    name: &'static str,
    input: &'static Structure,
}

impl Operation {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The input structure: the request's parameters.
    pub fn input(&self) -> &'static Structure {
        self.input
    }

    /// The input's members, sorted by [`Member::query_name`].
    pub fn members(&self) -> &'static [Member] {
        self.input.members
    }

    /// The input member a query names `query_name` (case-sensitive).
    pub fn member(&self, query_name: &str) -> Option<&'static Member> {
        self.input.member(query_name)
    }

    /// The value AWS documents for the parameter when a request leaves it
    /// out, from `core/model/defaults.json`; `None` where it documents none
    /// or one that depends on something else.
    pub fn documented_default(&self, query_name: &str) -> Option<DefaultValue> {
        DEFAULTS
            .binary_search_by(|((action, name), _)| (*action, *name).cmp(&(self.name, query_name)))
            .ok()
            .map(|index| DEFAULTS[index].1)
    }
}

/// A documented default, of its parameter's type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DefaultValue {
    Boolean(bool),
    Integer(i64),
    String(&'static str),
}

/// Every operation, sorted by name.
pub fn operations() -> &'static [Operation] {
    &OPERATIONS
}

/// The operation of that exact name.
pub fn operation(name: &str) -> Option<&'static Operation> {
    OPERATION_NAMES
        .binary_search(&name)
        .ok()
        .map(|index| &OPERATIONS[index])
}

/// A named shape of the model.
pub struct Shape {
    name: &'static str,
    kind: Kind,
}

impl Shape {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn kind(&self) -> &Kind {
        &self.kind
    }
}

/// Every shape that an operation's input reaches, sorted by name.
pub fn shapes() -> &'static [Shape] {
    &SHAPES
}

/// The shape of that exact name.
pub fn shape(name: &str) -> Option<&'static Shape> {
    SHAPES
        .binary_search_by(|shape| shape.name.cmp(name))
        .ok()
        .map(|index| &SHAPES[index])
}

/// The secret member (of any structure in the model) that a segment of a
/// Query name names, ignoring case: `AuthToken`, or `Passwords` in
/// `AuthenticationMode.Passwords.member.1`. Read on the error path only,
/// before the name is known to be any action's parameter, to keep what
/// may follow a secret's value out of messages.
pub fn secret_in_name(name: &str) -> Option<&'static str> {
    name.split('.').find_map(|segment| {
        SHAPES.iter().find_map(|shape| match shape.kind() {
            Kind::Structure(structure) => structure
                .members()
                .iter()
                .find(|m| m.is_secret() && m.query_name().eq_ignore_ascii_case(segment))
                .map(Member::query_name),
            _ => None,
        })
    })
}

/// What a shape's values are.
#[derive(Debug)]
pub enum Kind {
    String(StringShape),
    Boolean,
    Integer(Bounds),
    Long(Bounds),
    Timestamp,
    List(ListShape),
    Structure(&'static Structure),
    Map(MapShape),
}

/// The model's `min` and `max`: a number's range, or a string's, a list's
/// or a map's length. Each bound is inclusive.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bounds {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Bounds {
    pub fn contains(self, n: i64) -> bool {
        self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max)
    }
}

#[derive(Debug)]
pub struct StringShape {
    enum_values: &'static [&'static str],
    length: Bounds,
    pattern: Option<&'static str>,
}

impl StringShape {
    /// The values the model lists, if it lists any.
    pub fn enum_values(&self) -> &'static [&'static str] {
        self.enum_values
    }

    pub fn length(&self) -> Bounds {
        self.length
    }

    /// The model's pattern, unanchored, as the model writes it.
    pub fn pattern(&self) -> Option<&'static str> {
        self.pattern
    }
}

/// A list's items or a map's keys or values.
#[derive(Debug)]
pub struct Entry {
    shape: &'static Shape,
    location_name: Option<&'static str>,
}

impl Entry {
    pub fn shape(&self) -> &'static Shape {
        self.shape
    }

    pub fn location_name(&self) -> Option<&'static str> {
        self.location_name
    }
}

#[derive(Debug)]
pub struct ListShape {
    member: Entry,
    flattened: bool,
    length: Bounds,
}

impl ListShape {
    pub fn member(&self) -> &Entry {
        &self.member
    }

    /// Whether it is a list of tags: its items are structures with `Key`
    /// and `Value` members (`Tags.Tag.N.Key`), in whichever action.
    pub fn is_tag_list(&self) -> bool {
        matches!(
            self.member().shape().kind(),
            Kind::Structure(tag) if tag.member("Key").is_some() && tag.member("Value").is_some()
        )
    }

    /// The name items are numbered under: a list that is not flattened is
    /// sent as `Name.<item_name>.1`, `Name.<item_name>.2`, and so on.
    pub fn item_name(&self) -> &'static str {
        self.member.location_name.unwrap_or("member")
    }

    pub fn is_flattened(&self) -> bool {
        self.flattened
    }

    pub fn length(&self) -> Bounds {
        self.length
    }
}

#[derive(Debug)]
pub struct MapShape {
    key: Entry,
    value: Entry,
    flattened: bool,
    length: Bounds,
}

impl MapShape {
    pub fn key(&self) -> &Entry {
        &self.key
    }

    pub fn value(&self) -> &Entry {
        &self.value
    }

    /// Entry `N` is sent as `Name.entry.N.<key_name>` (`Name.N.<key_name>`
    /// when flattened) with its value under [`MapShape::value_name`].
    pub fn key_name(&self) -> &'static str {
        self.key.location_name.unwrap_or("key")
    }

    pub fn value_name(&self) -> &'static str {
        self.value.location_name.unwrap_or("value")
    }

    pub fn is_flattened(&self) -> bool {
        self.flattened
    }

    pub fn length(&self) -> Bounds {
        self.length
    }
}

#[derive(Debug)]
pub struct Structure {
    members: &'static [Member],
}

impl Structure {
    /// The members, sorted by [`Member::query_name`].
    pub fn members(&self) -> &'static [Member] {
        self.members
    }

    /// The member a query names `query_name` (case-sensitive).
    pub fn member(&self, query_name: &str) -> Option<&'static Member> {
        self.index_of(query_name).map(|index| &self.members[index])
    }

    /// Where the member of that query name is in [`Structure::members`].
    pub fn index_of(&self, query_name: &str) -> Option<usize> {
        self.members
            .binary_search_by(|member| member.query_name.cmp(query_name))
            .ok()
    }
}

/// A member of a structure.
#[derive(Debug)]
pub struct Member {
    name: &'static str,
    query_name: &'static str,
    shape: &'static Shape,
    required: bool,
    case: Option<NameCase>,
    secret: bool,
}

impl Member {
    /// The member's name in the model.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The name a query gives it: its `locationName`, or else its name.
    pub fn query_name(&self) -> &'static str {
        self.query_name
    }

    pub fn shape(&self) -> &'static Shape {
        self.shape
    }

    pub fn is_required(&self) -> bool {
        self.required
    }

    /// How AWS compares the name this member holds (each name, for a
    /// list); `None` for values that are not such names, or are compared
    /// exactly.
    pub fn case(&self) -> Option<NameCase> {
        self.case
    }

    /// Whether the value (each item, for a list) is a secret, such as an
    /// auth token or a password: it is never to be logged or echoed.
    pub fn is_secret(&self) -> bool {
        self.secret
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;
    use crate::names::{CACHE_SECURITY_GROUP_NAMES, EC2_SECURITY_GROUP_NAMES};
    use serde_json::Value;

    fn member(action: &str, query_name: &str) -> &'static Member {
        operation(action)
            .and_then(|operation| operation.member(query_name))
            .unwrap_or_else(|| panic!("{action} has no {query_name}"))
    }

    fn list(member: &Member) -> &'static ListShape {
        match member.shape().kind() {
            Kind::List(list) => list,
            other => panic!("{} is {other:?}, not a list", member.name()),
        }
    }

    #[test]
    fn create_replication_group() {
        let operation = operation("CreateReplicationGroup").unwrap();
        assert_eq!(operation.name(), "CreateReplicationGroup");
        let groups = list(member("CreateReplicationGroup", "SecurityGroupIds"));
        assert_eq!(groups.member().shape().name(), "String");
        assert!(matches!(groups.member().shape().kind(), Kind::String(_)));
        assert_eq!(groups.item_name(), "SecurityGroupId");
        assert!(!groups.is_flattened());

        let tags = list(member("CreateReplicationGroup", "Tags"));
        assert_eq!(
            (tags.member().shape().name(), tags.item_name()),
            ("Tag", "Tag")
        );
        let Kind::Structure(tag) = tags.member().shape().kind() else {
            panic!("a tag is not a structure");
        };
        let names: Vec<&str> = tag.members().iter().map(Member::query_name).collect();
        assert_eq!(names, ["Key", "Value"]);
        assert!(tag.members().iter().all(|m| !m.is_required()));

        assert!(member("CreateReplicationGroup", "ReplicationGroupId").is_required());
        assert!(member("CreateReplicationGroup", "ReplicationGroupDescription").is_required());
        assert!(!member("CreateReplicationGroup", "CacheNodeType").is_required());
        let count = member("CreateReplicationGroup", "NumCacheClusters").shape();
        assert_eq!(count.name(), "IntegerOptional");
        assert!(matches!(
            count.kind(),
            Kind::Integer(Bounds {
                min: None,
                max: None
            })
        ));
        let failover = member("CreateReplicationGroup", "AutomaticFailoverEnabled");
        assert!(matches!(failover.shape().kind(), Kind::Boolean));
        // Members are case-sensitive, as AWS reads them.
        assert!(operation.member("securitygroupids").is_none());
        assert!(operation.member("NoSuchParameter").is_none());
        assert!(operation
            .members()
            .windows(2)
            .all(|w| w[0].query_name() < w[1].query_name()));
    }

    #[test]
    fn secrets() {
        for action in [
            "CreateReplicationGroup",
            "ModifyReplicationGroup",
            "CreateCacheCluster",
            "ModifyCacheCluster",
        ] {
            assert!(member(action, "AuthToken").is_secret(), "{action}");
        }
        for action in ["ModifyReplicationGroup", "ModifyCacheCluster"] {
            assert!(
                !member(action, "AuthTokenUpdateStrategy").is_secret(),
                "{action}"
            );
        }
        for action in ["CreateUser", "ModifyUser"] {
            let passwords = member(action, "Passwords");
            assert!(passwords.is_secret(), "{action}");
            assert_eq!(list(passwords).item_name(), "member");
            assert!(!member(action, "NoPasswordRequired").is_secret());
        }
        assert!(!member("DescribeServerlessCaches", "NextToken").is_secret());
        assert_eq!(secret_in_name("AuthToken"), Some("AuthToken"));
        assert_eq!(secret_in_name("authtoken"), Some("AuthToken"));
        assert_eq!(
            secret_in_name("AuthenticationMode.Passwords.member.1"),
            Some("Passwords")
        );
        assert_eq!(secret_in_name("AuthTokenUpdateStrategy"), None);
        assert_eq!(secret_in_name("NextToken"), None);
        assert!(!member("CreateUser", "UserName").is_secret());
    }

    #[test]
    fn names_and_their_case() {
        let lowercase = Some(NameCase::StoredLowercase);
        assert_eq!(
            member("CreateCacheSecurityGroup", "CacheSecurityGroupName").case(),
            lowercase
        );
        assert_eq!(
            member("DeleteCacheCluster", "CacheClusterId").case(),
            lowercase
        );
        assert_eq!(
            member("CreateCacheCluster", "CacheSecurityGroupNames").case(),
            lowercase
        );
        assert_eq!(member("CreateUserGroup", "UserIds").case(), lowercase);
        assert_eq!(
            member("CreateReplicationGroup", "CacheNodeType").case(),
            None
        );
        // Names that take the mark of the id they name (case.json).
        assert_eq!(
            member("CreateReplicationGroup", "PrimaryClusterId").case(),
            lowercase
        );
        assert_eq!(
            member("AddTagsToResource", "ResourceName").case(),
            Some(NameCase::Insensitive)
        );
        // Exact: digits only.
        assert_eq!(
            member("RebootCacheCluster", "CacheNodeIdsToReboot").case(),
            None
        );
        // The name rules the policy applies are the model's.
        for action in [
            "AuthorizeCacheSecurityGroupIngress",
            "RevokeCacheSecurityGroupIngress",
        ] {
            let cache_group = member(action, "CacheSecurityGroupName");
            assert_eq!(cache_group.case(), Some(CACHE_SECURITY_GROUP_NAMES));
            let ec2_group = member(action, "EC2SecurityGroupName");
            assert_eq!(ec2_group.case(), Some(EC2_SECURITY_GROUP_NAMES));
            assert_eq!(member(action, "EC2SecurityGroupOwnerId").case(), None);
            // What `Action::is_ingress_change` says of them.
            let names: Vec<&str> = operation(action)
                .unwrap()
                .members()
                .iter()
                .map(Member::name)
                .collect();
            assert_eq!(
                names,
                [
                    "CacheSecurityGroupName",
                    "EC2SecurityGroupName",
                    "EC2SecurityGroupOwnerId"
                ]
            );
            assert!(operation(action)
                .unwrap()
                .members()
                .iter()
                .all(Member::is_required));
        }
    }

    #[test]
    fn documented_defaults() {
        let create = operation("CreateReplicationGroup").unwrap();
        assert_eq!(
            create.documented_default("TransitEncryptionEnabled"),
            Some(DefaultValue::Boolean(false))
        );
        assert_eq!(
            create.documented_default("SnapshotRetentionLimit"),
            Some(DefaultValue::Integer(0))
        );
        // Engine-dependent: no one value.
        assert_eq!(create.documented_default("AtRestEncryptionEnabled"), None);
        assert_eq!(
            operation("ModifyCacheCluster")
                .unwrap()
                .documented_default("AuthTokenUpdateStrategy"),
            Some(DefaultValue::String("ROTATE"))
        );
        // Documented for CreateReplicationGroup only.
        assert_eq!(
            operation("CreateCacheCluster")
                .unwrap()
                .documented_default("TransitEncryptionEnabled"),
            None
        );
        // Every entry names a member of its action, with a value of its type.
        for ((action, name), value) in &DEFAULTS {
            let member = member(action, name);
            let typed = match (member.shape().kind(), value) {
                (Kind::Boolean, DefaultValue::Boolean(_))
                | (Kind::Integer(_) | Kind::Long(_), DefaultValue::Integer(_)) => true,
                (Kind::String(string), DefaultValue::String(s)) => {
                    string.enum_values().is_empty() || string.enum_values().contains(s)
                }
                _ => false,
            };
            assert!(typed, "{action}.{name}: {value:?}");
        }
    }

    #[test]
    fn strings_lists_and_timestamps() {
        let strategy = member("ModifyReplicationGroup", "AuthTokenUpdateStrategy").shape();
        let Kind::String(strategy) = strategy.kind() else {
            panic!("{strategy:?} is not a string");
        };
        assert_eq!(strategy.enum_values(), ["SET", "ROTATE", "DELETE"]);
        let Kind::String(user_id) = shape("UserId").unwrap().kind() else {
            panic!("UserId is not a string");
        };
        assert_eq!(
            user_id.length(),
            Bounds {
                min: Some(1),
                max: None
            }
        );
        assert_eq!(user_id.pattern(), Some("[a-zA-Z][a-zA-Z0-9\\-]*"));
        assert!(user_id.enum_values().is_empty());
        let ids = list(member("BatchApplyUpdateAction", "CacheClusterIds"));
        assert_eq!(
            ids.length(),
            Bounds {
                min: None,
                max: Some(20)
            }
        );
        assert!(ids.length().contains(20) && !ids.length().contains(21));
        assert!(Bounds {
            min: Some(1),
            max: None
        }
        .contains(i64::MAX));
        assert!(!Bounds {
            min: Some(1),
            max: None
        }
        .contains(0));
        let start = member("DescribeEvents", "StartTime").shape();
        assert!(matches!(start.kind(), Kind::Timestamp), "{start:?}");
        assert!(shape("NoSuchShape").is_none());
    }

    #[test]
    fn actions_are_the_model_operations() {
        let names: Vec<&str> = operations().iter().map(Operation::name).collect();
        assert_eq!(names, Action::all_names());
        for action in Action::all() {
            assert_eq!(action.operation().name(), action.name());
            assert!(std::ptr::eq(
                action.operation(),
                operation(action.name()).unwrap()
            ));
        }
        assert!(operation("createreplicationgroup").is_none());
        assert!(operation("").is_none());
    }

    fn json_model() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/model/elasticache-2015-02-02.json"
        );
        #[allow(clippy::disallowed_methods)] // the checked-in model, read to test the tables
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn entry_json(entry: &Entry) -> Value {
        let mut json = serde_json::json!({ "shape": entry.shape().name() });
        if let Some(location) = entry.location_name() {
            json["locationName"] = location.into();
        }
        json
    }

    /// A shape as the model file writes it, rebuilt from the tables.
    fn shape_json(shape: &Shape) -> Value {
        let bounded = |mut json: Value, bounds: Bounds| {
            for (key, bound) in [("min", bounds.min), ("max", bounds.max)] {
                if let Some(bound) = bound {
                    json[key] = bound.into();
                }
            }
            json
        };
        let flattened = |mut json: Value, flattened: bool| {
            if flattened {
                json["flattened"] = true.into();
            }
            json
        };
        match shape.kind() {
            Kind::String(string) => {
                let mut json = bounded(serde_json::json!({ "type": "string" }), string.length());
                if !string.enum_values().is_empty() {
                    json["enum"] = string.enum_values().into();
                }
                if let Some(pattern) = string.pattern() {
                    json["pattern"] = pattern.into();
                }
                json
            }
            Kind::Boolean => serde_json::json!({ "type": "boolean" }),
            Kind::Timestamp => serde_json::json!({ "type": "timestamp" }),
            Kind::Integer(bounds) => bounded(serde_json::json!({ "type": "integer" }), *bounds),
            Kind::Long(bounds) => bounded(serde_json::json!({ "type": "long" }), *bounds),
            Kind::List(list) => {
                let json =
                    serde_json::json!({ "type": "list", "member": entry_json(list.member()) });
                flattened(bounded(json, list.length()), list.is_flattened())
            }
            Kind::Map(map) => {
                let json = serde_json::json!({
                    "type": "map", "key": entry_json(map.key()), "value": entry_json(map.value()),
                });
                flattened(bounded(json, map.length()), map.is_flattened())
            }
            Kind::Structure(structure) => {
                let mut members = serde_json::Map::new();
                for member in structure.members() {
                    let mut json = serde_json::json!({ "shape": member.shape().name() });
                    if member.query_name() != member.name() {
                        json["locationName"] = member.query_name().into();
                    }
                    if member.is_required() {
                        json["required"] = true.into();
                    }
                    if member.is_secret() {
                        json["secret"] = true.into();
                    }
                    match member.case() {
                        Some(NameCase::StoredLowercase) => json["case"] = "stored-lowercase".into(),
                        Some(NameCase::Insensitive) => json["case"] = "insensitive".into(),
                        None => {}
                    }
                    members.insert(member.name().to_owned(), json);
                }
                serde_json::json!({ "type": "structure", "members": members })
            }
        }
    }

    /// The generated tables say everything the checked-in model says, and
    /// nothing else: rebuilt into the file's form, they are the file.
    #[test]
    fn tables_are_the_checked_in_model() {
        let model = json_model();
        assert_eq!(model["metadata"]["apiVersion"], API_VERSION);
        assert_eq!(API_VERSION, crate::model::API_VERSION);
        assert_eq!(model["source"]["version"], BOTOCORE_VERSION);
        let operations: serde_json::Map<String, Value> = operations()
            .iter()
            .map(|operation| {
                let input = SHAPES
                    .iter()
                    .find(|shape| matches!(shape.kind(), Kind::Structure(s) if std::ptr::eq(*s, operation.input())))
                    .unwrap();
                (operation.name().to_owned(), serde_json::json!({ "input": input.name() }))
            })
            .collect();
        assert_eq!(Value::Object(operations), model["operations"]);
        let shapes: serde_json::Map<String, Value> = shapes()
            .iter()
            .map(|shape| (shape.name().to_owned(), shape_json(shape)))
            .collect();
        assert_eq!(Value::Object(shapes), model["shapes"]);
    }
}
