use serde_json::json;

use super::*;
use crate::decision::Decision;
use crate::params::Value;
use crate::request::parse_query;

const IDENTITIES: &str = r#"
identities:
  - caller: payments-deployer
    session_name: payments-deployer
    tags: {team: payments}
  - caller: ci
    arn_matches: "arn:aws:sts::123456789012:assumed-role/ci-[a-z]+/.*"
"#;

fn identities() -> Identities {
    Identities::compile("identities.yaml", IDENTITIES).unwrap()
}

/// A CloudTrail event of ElastiCache as a trail delivers it, made by the
/// proxy's role for `session`.
fn event(name: &str, session: &str, parameters: Json) -> Json {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": format!("AROAEXAMPLEROLEID0001:{session}"),
            "arn": format!("arn:aws:sts::123456789012:assumed-role/elasticache-proxy/{session}"),
            "accountId": "123456789012",
            "accessKeyId": "ASIAEXAMPLEKEY000001",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLEROLEID0001",
                    "arn": "arn:aws:iam::123456789012:role/elasticache-proxy",
                    "accountId": "123456789012",
                    "userName": "elasticache-proxy"
                },
                "attributes": {"creationDate": "2026-12-01T09:00:00Z", "mfaAuthenticated": "false"}
            }
        },
        "eventTime": "2026-12-01T09:30:00Z",
        "eventSource": "elasticache.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-sdk-rust/1.3.9 os/linux lang/rust/1.94.0",
        "requestParameters": parameters,
        "responseElements": null,
        "requestID": "7c1b3f3e-9d3a-4b7e-8f00-0123456789ab",
        "eventID": "e0c7a8b2-1f2d-4c3b-9a8e-abcdefabcdef",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management"
    })
}

fn create_replication_group() -> Json {
    event(
        "CreateReplicationGroup",
        "payments-deployer",
        json!({
            "replicationGroupId": "Payments-Cache",
            "replicationGroupDescription": "payments",
            "cacheNodeType": "cache.r7g.large",
            "engine": "redis",
            "numNodeGroups": 2,
            "replicasPerNodeGroup": "1",
            "automaticFailoverEnabled": true,
            "transitEncryptionEnabled": true,
            "securityGroupIds": ["sg-0a1b2c3d4e5f60001", "sg-0a1b2c3d4e5f60002"],
            "tags": [{"key": "team", "value": "payments"}],
            "nodeGroupConfiguration": [
                {"nodeGroupId": "0001", "replicaCount": 1,
                 "primaryAvailabilityZone": "eu-west-1a",
                 "replicaAvailabilityZones": ["eu-west-1b"]},
                {"nodeGroupId": "0002", "replicaCount": 1}
            ],
            "logDeliveryConfigurations": [{
                "logType": "slow-log",
                "destinationType": "cloudwatch-logs",
                "destinationDetails": {"cloudWatchLogsDetails": {"logGroup": "Payments-Slow"}},
                "logFormat": "json"
            }]
        }),
    )
}

/// The same request as `create_replication_group`, as a Query string.
const CREATE_QUERY: &str = "Action=CreateReplicationGroup&Version=2015-02-02\
&ReplicationGroupId=Payments-Cache&ReplicationGroupDescription=payments\
&CacheNodeType=cache.r7g.large&Engine=redis&NumNodeGroups=2&ReplicasPerNodeGroup=1\
&AutomaticFailoverEnabled=true&TransitEncryptionEnabled=true\
&SecurityGroupIds.SecurityGroupId.1=sg-0a1b2c3d4e5f60001\
&SecurityGroupIds.SecurityGroupId.2=sg-0a1b2c3d4e5f60002\
&Tags.Tag.1.Key=team&Tags.Tag.1.Value=payments\
&NodeGroupConfiguration.NodeGroupConfiguration.1.NodeGroupId=0001\
&NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaCount=1\
&NodeGroupConfiguration.NodeGroupConfiguration.1.PrimaryAvailabilityZone=eu-west-1a\
&NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaAvailabilityZones.AvailabilityZone.1=eu-west-1b\
&NodeGroupConfiguration.NodeGroupConfiguration.2.NodeGroupId=0002\
&NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaCount=1\
&LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.LogType=slow-log\
&LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.DestinationType=cloudwatch-logs\
&LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.DestinationDetails.CloudWatchLogsDetails.LogGroup=Payments-Slow\
&LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.LogFormat=json";

const POLICY: &str = r#"
rules:
  - id: payments-groups
    effect: allow
    actions: [CreateReplicationGroup]
    callers: [payments-deployer]
    params:
      SecurityGroupIds: {all_in: [sg-0a1b2c3d4e5f60001, sg-0a1b2c3d4e5f60002]}
      ReplicationGroupId: {matches: "${caller.tags.team}-[a-z0-9-]+"}
      Tags: {tags: {team: "${caller.tags.team}"}}
      NumNodeGroups: {range: [1, 3]}
      "LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup": {matches: "payments-.*"}
      AuthToken: {present: false}
  - id: no-token-changes
    effect: deny
    actions: [ModifyReplicationGroup]
    params:
      AuthToken: {present: true}
  - id: modify
    effect: allow
    actions: [ModifyReplicationGroup, CreateUser]
"#;

fn from(event: &Json) -> Result<Recorded, Unreplayable> {
    from_event(event, &identities(), "trail.json:#1".to_owned())
}

#[test]
fn a_create_is_typed_as_the_query_parser_types_it_and_decided_the_same() {
    let recorded = from(&create_replication_group()).unwrap();
    assert_eq!(recorded.action.name(), "CreateReplicationGroup");
    assert_eq!(recorded.caller.as_deref(), Some("payments-deployer"));
    assert_eq!(recorded.caller_tags.get("team"), Some("payments"));
    assert_eq!(recorded.region.as_str(), "eu-west-1");
    assert_eq!(recorded.time, 1_796_117_400);
    assert_eq!(recorded.request_id, "7c1b3f3e-9d3a-4b7e-8f00-0123456789ab");
    assert_eq!(recorded.source, "trail.json:#1");
    assert!(recorded.resources.is_none());
    assert_eq!(
        recorded.then,
        Some(Then {
            decision: Decision::Allow,
            rules: Vec::new()
        })
    );
    // Lower-cased as AWS stores it, as the parser does.
    assert_eq!(
        recorded.params.get("ReplicationGroupId"),
        Some(&Value::String("payments-cache".into()))
    );
    assert_eq!(
        recorded.params.get("ReplicasPerNodeGroup"),
        Some(&Value::Integer(1))
    );
    let (parsed, _) = parse_query(CREATE_QUERY).unwrap();
    assert_eq!(recorded.params, parsed.params);

    let policy = crate::policy::compile("p.yaml", POLICY).unwrap();
    let replayed = policy.is_authorized(&recorded.facts(None));
    let facts = crate::facts::RequestFacts::new(
        parsed.action,
        &recorded.region,
        &parsed.params,
        Some("payments-deployer"),
    )
    .with_caller_tags(&recorded.caller_tags)
    .at(recorded.time);
    let live = policy.is_authorized(&facts);
    assert_eq!(replayed.decision, Decision::Allow);
    assert_eq!(replayed.rules, ["payments-groups"]);
    assert_eq!(
        (replayed.decision, &replayed.rules),
        (live.decision, &live.rules)
    );

    // A log group elsewhere is denied the same way in both.
    let mut other = create_replication_group();
    other["requestParameters"]["logDeliveryConfigurations"][0]["destinationDetails"]
        ["cloudWatchLogsDetails"]["logGroup"] = json!("Other-Slow");
    let recorded = from(&other).unwrap();
    let (parsed, _) = parse_query(&CREATE_QUERY.replace("=Payments-Slow", "=Other-Slow")).unwrap();
    assert_eq!(recorded.params, parsed.params);
    assert_eq!(
        policy.is_authorized(&recorded.facts(None)).decision,
        Decision::Deny
    );
}

#[test]
fn a_hidden_auth_token_is_present_and_never_shown() {
    let modify = event(
        "ModifyReplicationGroup",
        "ci",
        json!({
            "replicationGroupId": "payments-cache",
            "applyImmediately": true,
            "authToken": HIDDEN,
            "authTokenUpdateStrategy": "ROTATE"
        }),
    );
    let mut modify = modify;
    modify["userIdentity"]["arn"] =
        json!("arn:aws:sts::123456789012:assumed-role/ci-runner/build-42");
    let recorded = from(&modify).unwrap();
    assert_eq!(recorded.caller.as_deref(), Some("ci"));
    assert!(recorded.caller_tags.is_empty());
    assert_eq!(
        recorded.params.get("AuthToken"),
        Some(&Value::String(SECRET.into()))
    );
    let shown = format!("{:?}", recorded.params);
    assert!(!shown.contains(HIDDEN), "{shown}");
    let policy = crate::policy::compile("p.yaml", POLICY).unwrap();
    let response = policy.is_authorized(&recorded.facts(None));
    assert_eq!(response.decision, Decision::Deny);
    assert_eq!(response.rules, ["no-token-changes"]);
    // Decided as the same request sent to the proxy.
    let (parsed, _) = parse_query(
        "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-cache\
         &ApplyImmediately=true&AuthToken=0123456789abcdef-token&AuthTokenUpdateStrategy=ROTATE",
    )
    .unwrap();
    let caller_tags = CallerTags::EMPTY;
    let facts = crate::facts::RequestFacts::new(
        parsed.action,
        &recorded.region,
        &parsed.params,
        Some("ci"),
    )
    .with_caller_tags(&caller_tags)
    .at(recorded.time);
    let live = policy.is_authorized(&facts);
    assert_eq!(
        (live.decision, live.rules),
        (Decision::Deny, response.rules)
    );
}

#[test]
fn hidden_passwords_are_one_placeholder() {
    let create = event(
        "CreateUser",
        "payments-deployer",
        json!({
            "userId": "Payments-App",
            "userName": "payments-app",
            "engine": "redis",
            "accessString": "on ~payments:* +@read",
            "passwords": HIDDEN,
            "noPasswordRequired": false
        }),
    );
    let recorded = from(&create).unwrap();
    assert_eq!(
        recorded.params.get("Passwords"),
        Some(&Value::List(vec![Value::String(SECRET.into())]))
    );
    assert_eq!(
        recorded.params.get("UserId"),
        Some(&Value::String("payments-app".into()))
    );
    assert_eq!(
        recorded.params.get("NoPasswordRequired"),
        Some(&Value::Boolean(false))
    );
}

#[test]
fn what_cannot_be_mapped_is_reported() {
    // A member the model does not have, at the top and nested.
    let mut unknown = create_replication_group();
    unknown["requestParameters"]["cacheNodeTypes"] = json!("cache.r7g.large");
    assert_eq!(
        from(&unknown).unwrap_err(),
        Unreplayable::Unmapped {
            member: "cacheNodeTypes".into()
        }
    );
    let mut nested = create_replication_group();
    nested["requestParameters"]["nodeGroupConfiguration"][1]["replicas"] = json!(1);
    assert_eq!(
        from(&nested).unwrap_err(),
        Unreplayable::Unmapped {
            member: "nodeGroupConfiguration[1].replicas".into()
        }
    );
    // Another service's event.
    let mut s3 = event("PutObject", "payments-deployer", json!({"bucketName": "b"}));
    s3["eventSource"] = json!("s3.amazonaws.com");
    let err = from(&s3).unwrap_err();
    assert!(
        matches!(&err, Unreplayable::NotElastiCache { what } if what.contains("`s3.amazonaws.com`")),
        "{err:?}"
    );
    let unknown_action = event("DescribeEverything", "payments-deployer", json!(null));
    assert!(matches!(
        from(&unknown_action).unwrap_err(),
        Unreplayable::NotElastiCache { .. }
    ));
    // Nobody in the identities file.
    let stranger = event("DescribeReplicationGroups", "someone-else", json!(null));
    let err = from(&stranger).unwrap_err();
    assert_eq!(
        err,
        Unreplayable::NoCaller {
            identity: "arn:aws:sts::123456789012:assumed-role/elasticache-proxy/someone-else"
                .into()
        }
    );
    // A value of the wrong type, and one out of the model's bounds.
    let mut wrong = create_replication_group();
    wrong["requestParameters"]["numNodeGroups"] = json!(2.5);
    let err = from(&wrong).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`numNodeGroups` must be a whole number, not a number"
    );
    wrong["requestParameters"]["numNodeGroups"] = json!("many");
    assert!(matches!(
        from(&wrong).unwrap_err(),
        Unreplayable::Invalid { .. }
    ));
    // A hidden value that is not a secret could be what a rule tests.
    let mut hidden = create_replication_group();
    hidden["requestParameters"]["cacheNodeType"] = json!(HIDDEN);
    let err = from(&hidden).unwrap_err();
    assert!(err.to_string().contains("`cacheNodeType`"), "{err}");
    // A missing time.
    let mut timeless = create_replication_group();
    timeless["eventTime"] = json!("yesterday");
    assert!(from(&timeless)
        .unwrap_err()
        .to_string()
        .contains("`eventTime`"));
}

#[test]
fn an_error_code_still_reached_aws() {
    let mut refused = create_replication_group();
    refused["errorCode"] = json!("AccessDenied");
    refused["errorMessage"] = json!("not authorized");
    let recorded = from(&refused).unwrap();
    assert_eq!(recorded.then.map(|t| t.decision), Some(Decision::Allow));
}

#[test]
fn records_of_both_file_shapes() {
    let one = create_replication_group();
    let two = event("DescribeReplicationGroups", "ci", json!({"maxRecords": 20}));
    let delivered = json!({"Records": [one, two]}).to_string();
    let read = records(&delivered);
    assert_eq!(read.len(), 2);
    assert_eq!(
        read[1].as_ref().unwrap()["eventName"],
        "DescribeReplicationGroups"
    );

    let lines = format!("{one}\n\n{two}\nnot json\n[1]\n");
    let read = records(&lines);
    assert_eq!(read.len(), 4);
    assert!(read[0].is_ok() && read[1].is_ok());
    assert_eq!(
        read[2],
        Err("line 4, column 2: not a JSON event".to_owned())
    );
    assert_eq!(
        read[3],
        Err("line 5: an event must be a JSON object, not a list".to_owned())
    );
    // One event alone, pretty-printed.
    let single = serde_json::to_string_pretty(&one).unwrap();
    assert_eq!(records(&single), vec![Ok(one)]);
    assert_eq!(
        records(r#"{"Records": 3}"#),
        vec![Err(
            "`Records` must be a list of events, not a number".to_owned()
        )]
    );
}

fn errors(text: &str) -> Vec<String> {
    Identities::compile("ids.yaml", text)
        .unwrap_err()
        .to_string()
        .lines()
        .skip(1)
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn identities_file_errors() {
    assert_eq!(
        errors("identities:\n  - caller: ci\n    sesion_name: ci\n"),
        [
            "ids.yaml:2:5: identity of `ci`: an identity must say whom it matches: none of `arn`, `arn_matches`, `session_name` or `session_name_matches` is given (hint: for example `session_name: ci`, the session name the proxy gives the caller)",
            "ids.yaml:3:5: identity of `ci`: `sesion_name`: unknown key `sesion_name` (hint: did you mean `session_name`?)",
        ]
    );
    assert_eq!(
        errors("identities:\n  - caller: ci\n    arn_matches: \"arn:(\"\n"),
        ["ids.yaml:3:5: identity of `ci`: `arn_matches`: `arn:(` is not a valid regex: error: unclosed group (hint: regexes use Rust regex syntax and must match the whole value)"]
    );
    assert_eq!(
        errors("identities:\n  - caller: ci\n    session_name: ci\n    session_name_matches: \"c.*\"\n"),
        ["ids.yaml:4:5: identity of `ci`: `session_name_matches`: `session_name` and `session_name_matches` are both given (hint: keep one)"]
    );
    let tags = errors("identities:\n  - caller: ci\n    session_name: ci\n    tags: {team: 3}\n");
    assert_eq!(
        tags,
        ["ids.yaml:4:12: identity of `ci`: `tags.team`: the value of tag `team` must be a string, not `3` (hint: quote it: `team: \"…\"`)"]
    );
    let missing = errors("identities:\n  - session_name: ci\n");
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0].contains("missing the key `caller`"),
        "{missing:?}"
    );
    assert_eq!(
        errors("identity: []\n"),
        [
            "ids.yaml:1:1: `identity`: unknown key `identity` (hint: the only key of the identities file is `identities`)",
            "ids.yaml:1:1: missing the key `identities` (hint: for example `identities: [{caller: payments-deployer, session_name: payments-deployer}]`)",
        ]
    );
}

#[test]
fn the_first_matching_identity_wins_and_all_its_matchers_must_hold() {
    let identities = Identities::compile(
        "ids.yaml",
        r#"
identities:
  - caller: payments-ci
    arn_matches: "arn:aws:sts::123456789012:assumed-role/elasticache-proxy/.*"
    session_name_matches: "payments-.*"
  - caller: anyone-via-proxy
    arn_matches: "arn:aws:sts::123456789012:assumed-role/elasticache-proxy/.*"
  - caller: by-exact-arn
    arn: "arn:aws:iam::123456789012:user/alice"
"#,
    )
    .unwrap();
    let arn = |arn: &str| json!({"type": "AssumedRole", "arn": arn});
    let caller = |identity: Json| identities.caller_of(&identity).map(|(c, _)| c);
    let proxy = "arn:aws:sts::123456789012:assumed-role/elasticache-proxy";
    assert_eq!(
        caller(arn(&format!("{proxy}/payments-x"))).as_deref(),
        Some("payments-ci")
    );
    assert_eq!(
        caller(arn(&format!("{proxy}/orders"))).as_deref(),
        Some("anyone-via-proxy")
    );
    // The regex matches the whole ARN, not a part of it.
    assert_eq!(caller(arn(&format!("x{proxy}/orders"))), None);
    assert_eq!(
        caller(json!({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"}))
            .as_deref(),
        Some("by-exact-arn")
    );
    assert_eq!(
        caller(json!({"type": "AWSService", "invokedBy": "x"})),
        None
    );
}
