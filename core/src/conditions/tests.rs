use crate::decision::{Decision, DenialDetail, RequestFacts};
use crate::model::Region;
use crate::policy::compile;
use crate::request;

const POLICY: &str = r#"
rules:
  - id: payments-create
    effect: allow
    actions: [CreateReplicationGroup]
    callers: [payments]
    params:
      SecurityGroupIds: {all_in: [sg-0aa, sg-0bb]}
      TransitEncryptionEnabled: {one_of: [true]}
      CacheNodeType: {one_of: [cache.t4g.micro, cache.r7g.large]}
      NumCacheClusters: {range: [1, 3]}
      ReplicationGroupId: {matches: "payments-.*"}
      Tags: {tags: {team: payments}}
      AuthToken: {present: false}
  - id: payments-modify
    effect: allow
    actions: [ModifyReplicationGroup]
    callers: [payments, break-glass]
    params:
      SecurityGroupIds: {all_in: [sg-0aa, sg-0bb], if_absent: match}
  - id: no-auth-token-changes
    effect: deny
    actions: [ModifyReplicationGroup]
    except_callers: [break-glass]
    params:
      AuthToken: {present: true}
  - id: no-legacy-groups
    effect: deny
    actions: [CreateReplicationGroup, ModifyReplicationGroup]
    params:
      SecurityGroupIds: {any_in: [sg-0legacy]}
"#;

const CREATE: &str = "Action=CreateReplicationGroup&Version=2015-02-02\
        &ReplicationGroupId=Payments-Orders&ReplicationGroupDescription=orders\
        &SecurityGroupIds.SecurityGroupId.1=sg-0aa&SecurityGroupIds.SecurityGroupId.2=sg-0bb\
        &TransitEncryptionEnabled=true&CacheNodeType=cache.r7g.large&NumCacheClusters=2\
        &Tags.Tag.1.Key=team&Tags.Tag.1.Value=payments&Tags.Tag.2.Key=env&Tags.Tag.2.Value=prod";

fn decide(caller: &str, query: &str) -> (Decision, Vec<String>, String) {
    decide_with(POLICY, caller, query)
}

fn decide_with(policy: &str, caller: &str, query: &str) -> (Decision, Vec<String>, String) {
    let policy = compile("policy.yaml", policy).unwrap();
    let (request, _) = request::parse_query(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let region = Region::parse("eu-west-1").unwrap();
    let facts = RequestFacts::of(&request, &region, Some(caller));
    let response = policy.is_authorized(&facts);
    let message = response.denial_message(&facts, DenialDetail::Full);
    (response.decision, response.rules, message)
}

fn changed(from: &str, to: &str) -> String {
    assert!(CREATE.contains(from), "{from}");
    CREATE.replace(from, to)
}

#[test]
fn the_ingress_keys_are_shorthand_for_parameter_conditions() {
    let shorthand = r#"
rules:
  - id: ingress
    effect: allow
    actions: ["*CacheSecurityGroupIngress"]
    owner_ids: ["1234-5678-1234"]
    cache_security_groups: ["prod-[a-z]+", "shared"]
    ec2_security_groups: ["app-(web|db)"]
  - id: frozen
    effect: deny
    cache_security_groups: ["prod-legacy"]
"#;
    let params = r#"
rules:
  - id: ingress
    effect: allow
    actions: ["*CacheSecurityGroupIngress"]
    params:
      EC2SecurityGroupOwnerId: {one_of: ["123456781234"]}
      CacheSecurityGroupName: {matches: ["prod-[a-z]+", "shared"]}
      EC2SecurityGroupName: {matches: "app-(web|db)"}
  - id: frozen
    effect: deny
    actions: ["*CacheSecurityGroupIngress", DescribeCacheSecurityGroups]
    params:
      CacheSecurityGroupName: {matches: "prod-legacy"}
"#;
    let ingress = |owner: &str, cache: &str, ec2: &str| {
        format!(
                "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02\
                 &EC2SecurityGroupOwnerId={owner}&CacheSecurityGroupName={cache}&EC2SecurityGroupName={ec2}"
            )
    };
    for (query, decision) in [
        (
            ingress("123456781234", "prod-web", "app-web"),
            Decision::Allow,
        ),
        (
            ingress("1234-5678-1234", "PROD-Web", "APP-DB"),
            Decision::Allow,
        ),
        (ingress("123456781234", "shared", "app-db"), Decision::Allow),
        (
            ingress("999999999999", "prod-web", "app-web"),
            Decision::Deny,
        ),
        (
            ingress("123456781234", "prod-legacy", "app-web"),
            Decision::Deny,
        ),
        (
            ingress("123456781234", "dev-web", "app-web"),
            Decision::Deny,
        ),
        (
            ingress("123456781234", "prod-web", "app-cache"),
            Decision::Deny,
        ),
    ] {
        let (by_shorthand, rules, message) = decide_with(shorthand, "ci", &query);
        assert_eq!(by_shorthand, decision, "{query}: {message}");
        let (by_params, same_rules, _) = decide_with(params, "ci", &query);
        assert_eq!((by_params, same_rules), (by_shorthand, rules), "{query}");
    }
    // The shorthand's denials keep their words.
    let (_, _, message) = decide_with(
        shorthand,
        "ci",
        &ingress("999999999999", "prod-web", "app-web"),
    );
    assert!(
        message.ends_with(
            "rule `ingress`: EC2SecurityGroupOwnerId `999999999999` is not one of its owner ids"
        ),
        "{message}"
    );
    let (_, _, message) = decide_with(params, "ci", &ingress("123456781234", "dev-web", "app-web"));
    assert!(
            message.ends_with("rule `ingress`: `CacheSecurityGroupName` `dev-web` matches none of [`prod-[a-z]+`, `shared`]"),
            "{message}"
        );
}

#[test]
fn every_condition_must_hold() {
    assert_eq!(decide("payments", CREATE).0, Decision::Allow);
    for (from, to) in [
        ("SecurityGroupId.2=sg-0bb", "SecurityGroupId.2=sg-0cc"),
        (
            "TransitEncryptionEnabled=true",
            "TransitEncryptionEnabled=false",
        ),
        ("cache.r7g.large", "cache.r7g.4xlarge"),
        ("NumCacheClusters=2", "NumCacheClusters=4"),
        (
            "ReplicationGroupId=Payments-Orders",
            "ReplicationGroupId=orders",
        ),
        ("Tags.Tag.1.Value=payments", "Tags.Tag.1.Value=search"),
        (
            "&CacheNodeType=cache.r7g.large",
            "&CacheNodeType=cache.r7g.large&AuthToken=0123456789abcdef0123",
        ),
    ] {
        let (decision, _, message) = decide("payments", &changed(from, to));
        assert_eq!(decision, Decision::Deny, "{to}");
        assert!(message.contains("rule `payments-create`"), "{message}");
        assert!(!message.contains("0123456789abcdef0123"), "{message}");
    }
    assert_eq!(decide("search", CREATE).0, Decision::Deny);
}

#[test]
fn an_absent_parameter_does_not_match_unless_the_rule_says_so() {
    // Left out of a Create, the VPC's default group would be used.
    let (decision, _, message) = decide(
        "payments",
        &changed(
            "&SecurityGroupIds.SecurityGroupId.1=sg-0aa&SecurityGroupIds.SecurityGroupId.2=sg-0bb",
            "",
        ),
    );
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains("the request has no `SecurityGroupIds`"),
        "{message}"
    );
    // A Modify that leaves the groups alone is allowed (`if_absent: match`).
    let modify =
        "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-orders";
    assert_eq!(decide("payments", modify).0, Decision::Allow);
    let regroup = format!("{modify}&SecurityGroupIds.SecurityGroupId.1=sg-0zz");
    assert_eq!(decide("payments", &regroup).0, Decision::Deny);
    // An empty list is not "leaving the groups alone": AWS's reading of
    // it is not documented, so it matches no allow rule, and the deny
    // rule against a legacy group matches it.
    let cleared = format!("{modify}&SecurityGroupIds=");
    let (decision, rules, _) = decide("payments", &cleared);
    assert_eq!(
        (decision, rules),
        (Decision::Deny, vec!["no-legacy-groups".to_owned()])
    );
    let allow_only = &POLICY[..POLICY.find("  - id: no-auth-token-changes").unwrap()];
    let (decision, rules, message) = decide_with(allow_only, "payments", &cleared);
    assert_eq!((decision, rules), (Decision::Deny, vec![]));
    assert!(
        message.contains("`SecurityGroupIds` is an empty list"),
        "{message}"
    );
}

/// Each test on a list's items, on an empty list: in an allow rule it
/// does not match unless the rule says `if_empty: match`; in a deny
/// rule it matches unless the rule says `if_empty: no_match`.
#[test]
fn an_empty_list_matches_no_allow_rule_and_every_deny_rule() {
    let create = "Action=CreateReplicationGroup&Version=2015-02-02\
            &ReplicationGroupId=g&ReplicationGroupDescription=d";
    for (param, test) in [
        ("SecurityGroupIds", "all_in: [sg-1]"),
        ("SecurityGroupIds", "any_in: [sg-1]"),
        ("SecurityGroupIds", "none_in: [sg-1]"),
        ("CacheSecurityGroupNames", "matches: \"prod-.*\""),
        ("Tags", "has_keys: [team]"),
        ("Tags", "tags: {team: payments}"),
    ] {
        let empty = format!("{create}&{param}=");
        for (effect, if_empty, decision) in [
            ("allow", "", Decision::Deny),
            ("allow", ", if_empty: no_match", Decision::Deny),
            ("allow", ", if_empty: match", Decision::Allow),
            ("deny", "", Decision::Deny),
            ("deny", ", if_empty: match", Decision::Deny),
            ("deny", ", if_empty: no_match", Decision::Allow),
        ] {
            let policy = format!(
                    "rules:\n  - id: everything\n    effect: allow\n    actions: [CreateReplicationGroup]\n  \
                     - id: r\n    effect: {effect}\n    actions: [CreateReplicationGroup]\n    \
                     params:\n      {param}: {{{test}{if_empty}}}\n"
                );
            // The allow-rule cases test `r` alone.
            let policy = if effect == "allow" {
                policy.replace("  - id: everything\n    effect: allow\n    actions: [CreateReplicationGroup]\n", "")
            } else {
                policy
            };
            let (got, _, message) = decide_with(&policy, "ci", &empty);
            assert_eq!(
                got, decision,
                "{effect} {param}: {{{test}{if_empty}}}: {message}"
            );
        }
    }
    for (condition, error) in [
        // `if_empty` belongs to tests on items only.
        (
            "TransitEncryptionEnabled: {one_of: [true], if_empty: match}",
            "`if_empty` applies to tests on a list's items",
        ),
        (
            "ReplicationGroupId: {matches: \"g-.*\", if_empty: match}",
            "not to `matches` on `ReplicationGroupId`, which is a string",
        ),
        (
            "SecurityGroupIds: {all_in: [sg-1], if_empty: yes}",
            "`if_empty` must be `match` or `no_match`",
        ),
    ] {
        let found = errors(&format!("      {condition}\n"), "[CreateReplicationGroup]");
        assert!(found.iter().any(|e| e.contains(error)), "{found:?}");
    }
}

#[test]
fn denies_win_and_excepted_callers_are_exempt() {
    let modify =
        "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-orders\
            &AuthToken=0123456789abcdef0123&AuthTokenUpdateStrategy=ROTATE";
    let (decision, rules, message) = decide("payments", modify);
    assert_eq!(
        (decision, rules),
        (Decision::Deny, vec!["no-auth-token-changes".to_owned()])
    );
    assert!(!message.contains("0123456789abcdef0123"), "{message}");
    assert_eq!(decide("break-glass", modify).0, Decision::Allow);
    let legacy = changed("SecurityGroupId.2=sg-0bb", "SecurityGroupId.2=sg-0legacy");
    assert_eq!(
        decide("payments", &legacy).1,
        vec!["no-legacy-groups".to_owned()]
    );
}

fn errors(conditions: &str, actions: &str) -> Vec<String> {
    let text = format!(
        "rules:\n  - id: r\n    effect: allow\n    actions: {actions}\n    params:\n{conditions}"
    );
    match compile("p.yaml", &text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.to_string().lines().map(str::to_owned).collect(),
    }
}

#[test]
fn conditions_are_checked_against_the_model() {
    let cases = [
        (
            "      SecurityGroupId: {all_in: [sg-1]}\n",
            "did you mean `SecurityGroupIds`?",
        ),
        (
            "      SecurityGroupIds: {all_in: [sg-1]}\n",
            "is not a parameter of CreateUser",
        ),
        (
            "      TransitEncryptionEnabled: {one_of: [\"yes\"]}\n",
            "is not a boolean",
        ),
        (
            "      NumCacheClusters: {range: [5, 1]}\n",
            "`range` must be `[min, max]`",
        ),
        (
            "      NumCacheClusters: {matches: \"[0-9]\"}\n",
            "does not apply to `NumCacheClusters`",
        ),
        ("      AuthToken: {matches: \".*\"}\n", "carries a secret"),
        (
            "      TransitEncryptionMode: {one_of: [Required]}\n",
            "did you mean `required`?",
        ),
        (
            "      CacheNodeType: {one_off: [x]}\n",
            "did you mean `one_of`?",
        ),
        (
            "      CacheNodeType: {matches: \"(\"}\n",
            "is not a valid regex",
        ),
        ("      SecurityGroupIds: {all_in: []}\n", "empty"),
    ];
    for (conditions, expected) in cases {
        let actions = if expected.contains("CreateUser") {
            "[CreateReplicationGroup, CreateUser]"
        } else {
            "[CreateReplicationGroup]"
        };
        let found = errors(conditions, actions);
        assert!(
            found.iter().any(|e| e.contains(expected)),
            "{conditions}: {found:?}"
        );
    }
    assert!(errors(
        "      SecurityGroupIds: {all_in: [sg-1]}\n",
        "[\"Create*\"]"
    )
    .iter()
    .any(|e| e.contains("is not a parameter of")));
    // The name is right, the actions too many: say which lack it and
    // which to keep, not a did-you-mean of the name itself.
    let found = errors(
        "      SecurityGroupIds: {all_in: [sg-1]}\n",
        "[\"Modify*\"]",
    );
    let [_, line] = &found[..] else {
        panic!("{found:?}");
    };
    assert!(
            line.contains("`SecurityGroupIds` is not a parameter of ModifyCacheParameterGroup")
                && line.contains("narrow `actions` to those that have it: [ModifyCacheCluster, ModifyReplicationGroup")
                && !line.contains("did you mean"),
            "{line}"
        );
}

#[test]
fn a_value_written_for_a_secret_is_not_shown() {
    for (conditions, actions, expected) in [
            (
                "      AuthToken: {present: \"hunter2-x\"}\n",
                "[CreateReplicationGroup]",
                "`present` must be `true` or `false`, not the value written (not shown: `AuthToken` carries a secret)",
            ),
            (
                "      AuthToken: {present: true, if_absent: \"hunter2-x\"}\n",
                "[CreateReplicationGroup]",
                "`if_absent` must be `match`, `no_match` or `default`, not the value written (not shown: `AuthToken` carries a secret)",
            ),
            (
                "      AuthToken: {hunter2-x: true}\n",
                "[CreateReplicationGroup]",
                "`params.AuthToken`: an unknown condition (not shown: `AuthToken` carries a secret)",
            ),
            (
                "      Passwords: {present: hunter2-x}\n",
                "[CreateUser]",
                "not the value written (not shown: `Passwords` carries a secret)",
            ),
        ] {
            let found = errors(conditions, actions);
            assert!(
                found.iter().any(|e| e.contains(expected)),
                "{conditions}: {found:?}"
            );
            assert!(
                found.iter().all(|e| !e.contains("hunter2")),
                "{conditions}: {found:?}"
            );
        }
    // Other members' values are still shown.
    let found = errors(
        "      CacheNodeType: {present: yes-please}\n",
        "[CreateReplicationGroup]",
    );
    assert!(
        found.iter().any(|e| e.contains("not `yes-please`")),
        "{found:?}"
    );
}

const NO_PLAINTEXT: &str = r#"
rules:
  - id: create
    effect: allow
    actions: [CreateReplicationGroup]
  - id: transit-encryption-required
    effect: deny
    actions: [CreateReplicationGroup]
    params:
      TransitEncryptionEnabled: {one_of: [false], if_absent: default}
"#;

const BARE_CREATE: &str = "Action=CreateReplicationGroup&Version=2015-02-02\
        &ReplicationGroupId=payments-orders&ReplicationGroupDescription=orders";

/// `if_absent: default` judges an absent parameter as if AWS's documented
/// default were written: leaving `TransitEncryptionEnabled` out is `false`.
#[test]
fn if_absent_default_judges_the_documented_default() {
    let (decision, rules, _) = decide_with(NO_PLAINTEXT, "payments", BARE_CREATE);
    assert_eq!(
        (decision, rules),
        (
            Decision::Deny,
            vec!["transit-encryption-required".to_owned()]
        )
    );
    let on = format!("{BARE_CREATE}&TransitEncryptionEnabled=true");
    assert_eq!(
        decide_with(NO_PLAINTEXT, "payments", &on).0,
        Decision::Allow
    );
    let off = format!("{BARE_CREATE}&TransitEncryptionEnabled=false");
    assert_eq!(
        decide_with(NO_PLAINTEXT, "payments", &off).0,
        Decision::Deny
    );
    // Without the modifier, leaving the flag out dodges the deny rule.
    let dodged = NO_PLAINTEXT.replace(", if_absent: default", "");
    assert_eq!(
        decide_with(&dodged, "payments", BARE_CREATE).0,
        Decision::Allow
    );
    // In an allow rule, the default is judged too, and the denial says so.
    let allow = r#"
rules:
  - id: backups
    effect: allow
    actions: [CreateReplicationGroup]
    params:
      SnapshotRetentionLimit: {range: [1, 35], if_absent: default}
"#;
    let (decision, _, message) = decide_with(allow, "payments", BARE_CREATE);
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains(
            "`SnapshotRetentionLimit` (absent: AWS's documented default `0`) is not from 1 to 35"
        ),
        "{message}"
    );
    let kept = format!("{BARE_CREATE}&SnapshotRetentionLimit=7");
    assert_eq!(decide_with(allow, "payments", &kept).0, Decision::Allow);
    // A string default is compared as the parameter's values are.
    let strategy = r#"
rules:
  - id: modify
    effect: allow
    actions: [ModifyReplicationGroup, ModifyCacheCluster]
    params:
      AuthTokenUpdateStrategy: {one_of: [ROTATE], if_absent: default}
"#;
    let modify =
        "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-orders";
    assert_eq!(decide_with(strategy, "payments", modify).0, Decision::Allow);
    let delete = format!("{modify}&AuthTokenUpdateStrategy=DELETE");
    assert_eq!(decide_with(strategy, "payments", &delete).0, Decision::Deny);
}

#[test]
fn if_absent_default_needs_a_documented_default_in_every_action() {
    for (condition, actions, expected) in [
        // Documented for CreateReplicationGroup only.
        (
            "TransitEncryptionEnabled: {one_of: [true], if_absent: default}",
            "[CreateReplicationGroup, CreateCacheCluster]",
            [
                "AWS documents no default of `TransitEncryptionEnabled` in CreateCacheCluster, expected one for `if_absent: default`",
                "give CreateReplicationGroup a rule of its own",
            ],
        ),
        // Documented nowhere: on for Valkey, off for Redis OSS.
        (
            "AtRestEncryptionEnabled: {one_of: [true], if_absent: default}",
            "[CreateReplicationGroup]",
            [
                "AWS documents no default of `AtRestEncryptionEnabled` in CreateReplicationGroup",
                "core/model/defaults.json",
            ],
        ),
    ] {
        let found = errors(&format!("      {condition}\n"), actions);
        assert!(
            found
                .iter()
                .any(|e| expected.iter().all(|words| e.contains(words))),
            "{condition}: {found:?}"
        );
    }
    // `present` asks whether the parameter is sent, not its value.
    for present in ["true", "false"] {
        let found = errors(
            &format!("      SnapshotRetentionLimit: {{present: {present}, if_absent: default}}\n"),
            "[CreateReplicationGroup]",
        );
        assert!(
            found
                .iter()
                .any(|e| e.contains("`if_absent: default` does not apply to it")),
            "{found:?}"
        );
    }
    // The same default in every action compiles.
    assert_eq!(
        errors(
            "      SnapshotRetentionLimit: {range: [1, 35], if_absent: default}\n",
            "[CreateReplicationGroup, CreateCacheCluster]",
        ),
        Vec::<String>::new()
    );
}

/// Each CreateCacheCluster naming these cache security groups gets that
/// decision from `policy`.
fn assert_clusters(policy: &str, cases: &[(&[&str], Decision)]) {
    for (groups, decision) in cases {
        let (got, rules, message) = decide_with(policy, "ci", &cluster_in(groups));
        assert_eq!(got, *decision, "{groups:?}: {rules:?} {message}");
    }
}

/// A CreateCacheCluster naming its cache security groups.
fn cluster_in(groups: &[&str]) -> String {
    let mut query =
        String::from("Action=CreateCacheCluster&Version=2015-02-02&CacheClusterId=c1&Engine=redis");
    if groups.is_empty() {
        query.push_str("&CacheSecurityGroupNames=");
    }
    for (i, group) in groups.iter().enumerate() {
        query.push_str(&format!(
            "&CacheSecurityGroupNames.CacheSecurityGroupName.{}={group}",
            i + 1
        ));
    }
    query
}

#[test]
fn the_group_shorthand_constrains_every_item_of_the_list() {
    let policy = r#"
rules:
  - id: prod-groups
    effect: allow
    actions: [CreateCacheCluster, ModifyCacheCluster, DescribeCacheSecurityGroups]
    cache_security_groups: ["prod-.*"]
"#;
    for (query, decision, why) in [
        (cluster_in(&["prod-a", "prod-b"]), Decision::Allow, ""),
        (cluster_in(&["PROD-A"]), Decision::Allow, ""),
        (
            cluster_in(&["prod-a", "evil"]),
            Decision::Deny,
            "rule `prod-groups`: CacheSecurityGroupNames has `evil`, which does not match its patterns",
        ),
        (
            cluster_in(&[]),
            Decision::Deny,
            "rule `prod-groups`: CacheSecurityGroupNames is an empty list, which AWS may read as a default of its own",
        ),
        // A request without the list is judged on nothing the rule allows.
        (
            "Action=CreateCacheCluster&Version=2015-02-02&CacheClusterId=c1".into(),
            Decision::Deny,
            "rule `prod-groups`: the request has no CacheSecurityGroupNames",
        ),
        (
            "Action=ModifyCacheCluster&Version=2015-02-02&CacheClusterId=c1\
             &CacheSecurityGroupNames.CacheSecurityGroupName.1=dev-x"
                .into(),
            Decision::Deny,
            "CacheSecurityGroupNames has `dev-x`, which does not match its patterns",
        ),
        // The single name, in an action of the same rule, on its own.
        (
            "Action=DescribeCacheSecurityGroups&Version=2015-02-02&CacheSecurityGroupName=prod-a"
                .into(),
            Decision::Allow,
            "",
        ),
        (
            "Action=DescribeCacheSecurityGroups&Version=2015-02-02&CacheSecurityGroupName=evil"
                .into(),
            Decision::Deny,
            "CacheSecurityGroupName `evil` does not match its patterns",
        ),
        (
            "Action=DescribeCacheSecurityGroups&Version=2015-02-02".into(),
            Decision::Deny,
            "the request has no CacheSecurityGroupName",
        ),
    ] {
        let (got, _, message) = decide_with(policy, "ci", &query);
        assert_eq!(got, decision, "{query}: {message}");
        assert!(message.contains(why), "{query}: {message}");
    }
    // A closed rule takes the list as named by the shorthand.
    let closed = r#"
rules:
  - id: prod-clusters
    effect: allow
    actions: [CreateCacheCluster]
    cache_security_groups: ["prod-.*"]
    other_params: deny
    other_params_allowed: [CacheClusterId, Engine]
"#;
    assert_clusters(
        closed,
        &[
            (&["prod-a", "prod-b"], Decision::Allow),
            (&["prod-a", "evil"], Decision::Deny),
        ],
    );
    // In a deny rule, one bad item is enough, and so is an empty list.
    let deny = r#"
rules:
  - id: all
    effect: allow
  - id: no-legacy
    effect: deny
    cache_security_groups: ["legacy-.*"]
"#;
    assert_clusters(
        deny,
        &[
            (&["prod-a", "Legacy-1"], Decision::Deny),
            (&[], Decision::Deny),
            (&["prod-a", "prod-b"], Decision::Allow),
        ],
    );
}

#[test]
fn matches_on_a_list_tests_every_item() {
    let policy = r#"
rules:
  - id: prod-groups
    effect: allow
    actions: [CreateCacheCluster]
    params:
      CacheSecurityGroupNames: {matches: ["prod-.*", "shared"]}
"#;
    assert_clusters(
        policy,
        &[
            (&["prod-a", "shared"], Decision::Allow),
            (&["prod-a", "evil"], Decision::Deny),
            (&["evil"], Decision::Deny),
            (&[], Decision::Deny),
        ],
    );
    // Literal names, which the rule index posts the rule under: a list
    // is no one value to look up, so the rule stays a candidate.
    let literal = policy.replace("[\"prod-.*\", \"shared\"]", "[prod-a, shared]");
    assert_clusters(
        &literal,
        &[
            (&["prod-a", "shared"], Decision::Allow),
            (&["shared"], Decision::Allow),
            (&["prod-a", "prod-b"], Decision::Deny),
        ],
    );
    // In a deny rule, one matching item fires it.
    let deny = r#"
rules:
  - id: all
    effect: allow
  - id: no-legacy
    effect: deny
    actions: [CreateCacheCluster]
    params:
      CacheSecurityGroupNames: {matches: "legacy-.*"}
"#;
    assert_clusters(
        deny,
        &[
            (&["prod-a", "legacy-1"], Decision::Deny),
            (&["prod-a"], Decision::Allow),
        ],
    );
    let (_, _, message) = decide_with(policy, "ci", &cluster_in(&["prod-a", "evil"]));
    assert!(
        message.contains(
            "`CacheSecurityGroupNames` item `evil` matches none of [`prod-.*`, `shared`]"
        ),
        "{message}"
    );
}

/// `LogDeliveryConfigurations` item `n` (from 1) shipping `log_type` to a
/// CloudWatch log group or a Firehose stream.
fn log_item(n: usize, log_type: &str, destination: &str) -> String {
    let item = format!("&LogDeliveryConfigurations.LogDeliveryConfigurationRequest.{n}");
    let (kind, details) = match destination.strip_prefix("firehose:") {
        Some(stream) => (
            "kinesis-firehose",
            format!("KinesisFirehoseDetails.DeliveryStream={stream}"),
        ),
        None => (
            "cloudwatch-logs",
            format!("CloudWatchLogsDetails.LogGroup={destination}"),
        ),
    };
    format!(
        "{item}.LogType={log_type}{item}.DestinationType={kind}{item}.LogFormat=json{item}.DestinationDetails.{details}"
    )
}

const NESTED: &str = r#"
rules:
  - id: payments-logs
    effect: allow
    actions: [CreateReplicationGroup, ModifyReplicationGroup]
    params:
      ReplicationGroupId: {matches: "payments-.*"}
      LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup: {matches: "/payments/.*"}
  - id: small-shards
    effect: allow
    actions: [CreateReplicationGroup]
    params:
      ReplicationGroupId: {matches: "shards-.*"}
      NodeGroupConfiguration[].ReplicaCount: {range: [1, 2]}
  - id: no-firehose
    effect: deny
    actions: [CreateReplicationGroup, ModifyReplicationGroup]
    params:
      LogDeliveryConfigurations[].DestinationType: {one_of: [kinesis-firehose]}
"#;

const NESTED_CREATE: &str =
    "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupDescription=d";

#[test]
fn a_path_tests_every_item_in_an_allow_rule_and_any_in_a_deny_rule() {
    let create = |id: &str, rest: &str| format!("{NESTED_CREATE}&ReplicationGroupId={id}{rest}");
    let decide = |query: String| decide_with(NESTED, "payments", &query);
    let ok = log_item(1, "slow-log", "/payments/slow");
    assert_eq!(decide(create("payments-a", &ok)).0, Decision::Allow);
    // Every item must pass the allow rule: a second log group elsewhere fails it.
    let two = format!("{ok}{}", log_item(2, "engine-log", "/other/engine"));
    let (decision, _, message) = decide(create("payments-a", &two));
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains("`LogDeliveryConfigurations[2].DestinationDetails.CloudWatchLogsDetails.LogGroup` `/other/engine` does not match `/payments/.*`"),
        "{message}"
    );
    // An item shipping to Firehose has no log group: the member is absent,
    // which fails the allow rule, and the deny rule fires on that one item.
    let firehose = format!("{ok}{}", log_item(2, "engine-log", "firehose:exfil"));
    let (decision, rules, _) = decide(create("payments-a", &firehose));
    assert_eq!(
        (decision, rules),
        (Decision::Deny, vec!["no-firehose".to_owned()])
    );
    let policy = NESTED.replace("  - id: no-firehose", "  - id: unused").replace(
        "actions: [CreateReplicationGroup, ModifyReplicationGroup]\n    params:\n      LogDeliveryConfigurations[].DestinationType",
        "actions: [DeleteUser]\n    params:\n      UserId",
    );
    let (decision, _, message) = decide_with(&policy, "payments", &create("payments-a", &firehose));
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains("the request has no `LogDeliveryConfigurations[2].DestinationDetails.CloudWatchLogsDetails`"),
        "{message}"
    );
    // Without the parameter at all, the condition does not match.
    let (decision, _, message) = decide(create("payments-a", ""));
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains("the request has no `LogDeliveryConfigurations`"),
        "{message}"
    );
    // An empty list matches no allow rule.
    let empty = "&LogDeliveryConfigurations=";
    let (decision, rules, message) = decide(create("payments-a", empty));
    assert_eq!(decision, Decision::Deny);
    // ... and every deny rule.
    assert_eq!(rules, vec!["no-firehose".to_owned()]);
    assert!(message.contains("no-firehose"), "{message}");
}

#[test]
fn a_path_through_lists_of_structures_and_integers() {
    let create = |counts: &[i64]| {
        let mut query = format!("{NESTED_CREATE}&ReplicationGroupId=shards-a");
        for (i, count) in counts.iter().enumerate() {
            query.push_str(&format!(
                "&NodeGroupConfiguration.NodeGroupConfiguration.{}.ReplicaCount={count}",
                i + 1
            ));
        }
        query
    };
    let decide = |query: String| decide_with(NESTED, "payments", &query);
    assert_eq!(decide(create(&[1, 2, 2])).0, Decision::Allow);
    let (decision, _, message) = decide(create(&[1, 3]));
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains("`NodeGroupConfiguration[2].ReplicaCount` `3` is not from 1 to 2"),
        "{message}"
    );
    // A shard that leaves the count out gets AWS's own: no match.
    let query = format!(
        "{}&NodeGroupConfiguration.NodeGroupConfiguration.2.Slots=0-100",
        create(&[1])
    );
    let (decision, _, message) = decide(query);
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains("the request has no `NodeGroupConfiguration[2].ReplicaCount`"),
        "{message}"
    );
}

#[test]
fn a_path_into_a_structure_and_its_modifiers() {
    let policy = |condition: &str| {
        format!(
            "rules:\n  - id: limits\n    effect: allow\n    actions: [CreateServerlessCache]\n    params:\n      CacheUsageLimits.DataStorage.Maximum: {condition}\n"
        )
    };
    let create = |rest: &str| {
        format!("Action=CreateServerlessCache&Version=2015-02-02&ServerlessCacheName=c&Engine=redis{rest}")
    };
    let limit = |max: i64| {
        format!("&CacheUsageLimits.DataStorage.Maximum={max}&CacheUsageLimits.DataStorage.Unit=GB")
    };
    let strict = policy("{range: [1, 100]}");
    assert_eq!(
        decide_with(&strict, "a", &create(&limit(100))).0,
        Decision::Allow
    );
    assert_eq!(
        decide_with(&strict, "a", &create(&limit(101))).0,
        Decision::Deny
    );
    // No limits at all, or limits without a maximum: absent.
    for rest in ["", "&CacheUsageLimits.ECPUPerSecond.Maximum=5000"] {
        let (decision, _, message) = decide_with(&strict, "a", &create(rest));
        assert_eq!(decision, Decision::Deny, "{rest}");
        assert!(
            message.contains("the request has no `CacheUsageLimits"),
            "{message}"
        );
    }
    let lenient = policy("{range: [1, 100], if_absent: match}");
    assert_eq!(decide_with(&lenient, "a", &create("")).0, Decision::Allow);
    assert_eq!(
        decide_with(
            &lenient,
            "a",
            &create("&CacheUsageLimits.ECPUPerSecond.Maximum=5000")
        )
        .0,
        Decision::Allow
    );
    assert_eq!(
        decide_with(&lenient, "a", &create(&limit(500))).0,
        Decision::Deny
    );
}

#[test]
fn paths_are_checked_against_the_model_segment_by_segment() {
    let actions = "[CreateReplicationGroup]";
    let cases = [
        ("LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroop: {matches: \"a\"}",
         "`LogGroop` is not a member of `LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails` (hint: did you mean `LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup`?)"),
        ("LogDeliveryConfiguration[].LogType: {one_of: [slow-log]}", "did you mean `LogDeliveryConfigurations`?"),
        ("LogDeliveryConfigurations.LogType: {one_of: [slow-log]}",
         "`LogDeliveryConfigurations` is a list: a path steps into its items with `[]` (hint: write `LogDeliveryConfigurations[].LogType`)"),
        ("NumCacheClusters[]: {range: [1, 2]}", "`NumCacheClusters` is not a list, so `[]` does not apply to it"),
        ("NumCacheClusters.X: {range: [1, 2]}", "`NumCacheClusters` is an integer, which has no members"),
        ("LogDeliveryConfigurations[].LogType: {one_of: [slowlog]}", "did you mean `slow-log`?"),
        ("LogDeliveryConfigurations[].DestinationDetails: {range: [1, 2]}", "`range` does not apply to `LogDeliveryConfigurations[].DestinationDetails`, which is a structure"),
        ("NodeGroupConfiguration[0].ReplicaCount: {range: [1, 2]}", "is not a parameter or a path to a member of one"),
        ("NodeGroupConfiguration[].ReplicaCount: {range: [1, 2], if_absent: default}", "AWS documents no default of a nested member"),
        ("NodeGroupConfiguration[].Slots: {matches: \"0-.*\", if_empty: match}", ""),
        ("NodeGroupConfiguration[].ReplicaCount: {range: [1, 2], if_empty: match}", ""),
        ("NodeGroupConfiguration[].ReplicaAvailabilityZones: {all_in: [us-east-1a]}", ""),
    ];
    for (condition, expected) in cases {
        let found = errors(&format!("      {condition}\n"), actions).join("\n");
        if expected.is_empty() {
            assert_eq!(found, "", "{condition}");
        } else {
            assert!(found.contains(expected), "{condition}: {found}");
        }
    }
    // A path resolves in one shape: actions whose parameter differs split.
    let found = errors(
        "      Tags[].Key: {matches: \"team\"}\n",
        "[CreateReplicationGroup, AddTagsToResource]",
    );
    assert!(found.is_empty(), "{found:?}");
    // A secret on the way is only tested for presence, and never shown.
    let found = errors(
        "      AuthenticationMode.Passwords: {all_in: [hunter2]}\n",
        "[CreateUser]",
    )
    .join("\n");
    assert!(found.contains("carries a secret"), "{found}");
    assert!(!found.contains("hunter2"), "{found}");
    assert!(errors(
        "      AuthenticationMode.Type: {one_of: [iam]}\n",
        "[CreateUser]"
    )
    .is_empty());
}

#[test]
fn a_secret_on_a_path_is_only_ever_tested_for_presence() {
    let policy = "rules:\n  - id: no-passwords\n    effect: deny\n    actions: [CreateUser]\n    params:\n      AuthenticationMode.Passwords: {present: true}\n  - id: users\n    effect: allow\n    actions: [CreateUser]\n";
    let create =
        "Action=CreateUser&Version=2015-02-02&UserId=u1&UserName=u1&Engine=redis&AccessString=on";
    assert_eq!(decide_with(policy, "a", create).0, Decision::Allow);
    let with_password = format!(
        "{create}&AuthenticationMode.Type=password&AuthenticationMode.Passwords.member.1=hunter2hunter2hunter2"
    );
    let (decision, rules, message) = decide_with(policy, "a", &with_password);
    assert_eq!(
        (decision, rules),
        (Decision::Deny, vec!["no-passwords".to_owned()])
    );
    assert!(!message.contains("hunter2"), "{message}");
}

fn decide_tagged(
    policy: &str,
    tags: &[(&str, &str)],
    query: &str,
) -> (Decision, Vec<String>, String) {
    let policy = compile("policy.yaml", policy).unwrap();
    let (request, _) = request::parse_query(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let region = Region::parse("eu-west-1").unwrap();
    let tags = crate::caller_tags::CallerTags::new(
        tags.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    let facts = RequestFacts::of(&request, &region, Some("someone")).with_caller_tags(&tags);
    let response = policy.is_authorized(&facts);
    let message = response.denial_message(&facts, DenialDetail::Full);
    (response.decision, response.rules, message)
}

const TEAM_POLICY: &str = r#"
rules:
  - id: own-groups
    effect: allow
    actions: [ModifyReplicationGroup]
    params:
      ReplicationGroupId: {matches: "${caller.tags.team}-[a-z0-9-]+"}
  - id: own-users
    effect: allow
    actions: [DeleteUser]
    params:
      UserId: {one_of: ["${caller.tags.team}-admin", "${caller.tags.team}-app"]}
  - id: tag-on-create
    effect: allow
    actions: [CreateCacheCluster]
    params:
      CacheClusterId: {matches: ["${caller.tags.team}-.*", "shared-cache"]}
      Tags: {tags: {team: "${caller.tags.team}"}}
"#;

#[test]
fn one_rule_serves_every_team_by_the_callers_tags() {
    let modify = |id: &str| {
        format!("Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId={id}")
    };
    let payments = [("team", "payments")];
    assert_eq!(
        decide_tagged(TEAM_POLICY, &payments, &modify("payments-orders")).0,
        Decision::Allow
    );
    // The id is stored in lower case, and so is the tag value compared.
    assert_eq!(
        decide_tagged(
            TEAM_POLICY,
            &[("team", "Payments")],
            &modify("PAYMENTS-orders")
        )
        .0,
        Decision::Allow
    );
    let (decision, _, message) = decide_tagged(TEAM_POLICY, &payments, &modify("orders-x"));
    assert_eq!(decision, Decision::Deny);
    assert!(message.contains("`payments-[a-z0-9-]+`"), "{message}");
    // No tag, or an empty one: never matched.
    for tags in [&[][..], &[("team", "")][..], &[("env", "prod")][..]] {
        let (decision, _, message) = decide_tagged(TEAM_POLICY, tags, &modify("payments-orders"));
        assert_eq!(decision, Decision::Deny, "{tags:?}");
        assert!(
            message.contains("the caller has no tag `team`"),
            "{message}"
        );
    }
    let delete = |id: &str| format!("Action=DeleteUser&Version=2015-02-02&UserId={id}");
    assert_eq!(
        decide_tagged(TEAM_POLICY, &payments, &delete("payments-app")).0,
        Decision::Allow
    );
    assert_eq!(
        decide_tagged(TEAM_POLICY, &payments, &delete("orders-app")).0,
        Decision::Deny
    );
    let create = |id: &str, team: &str| {
        format!("Action=CreateCacheCluster&Version=2015-02-02&CacheClusterId={id}&Tags.Tag.1.Key=team&Tags.Tag.1.Value={team}")
    };
    assert_eq!(
        decide_tagged(TEAM_POLICY, &payments, &create("payments-a", "payments")).0,
        Decision::Allow
    );
    assert_eq!(
        decide_tagged(TEAM_POLICY, &payments, &create("shared-cache", "payments")).0,
        Decision::Allow
    );
    assert_eq!(
        decide_tagged(TEAM_POLICY, &payments, &create("payments-a", "orders")).0,
        Decision::Deny
    );
    // A literal pattern beside a template does not let a caller without the tag in.
    assert_eq!(
        decide_tagged(TEAM_POLICY, &[], &create("shared-cache", "payments")).0,
        Decision::Deny
    );
}

#[test]
fn a_deny_rule_that_cannot_resolve_the_callers_tag_denies() {
    let policy = r#"
rules:
  - id: all
    effect: allow
    actions: [DeleteUser]
  - id: not-others
    effect: deny
    actions: [DeleteUser]
    params:
      UserId: {one_of: ["${caller.tags.protected}"]}
"#;
    let delete = "Action=DeleteUser&Version=2015-02-02&UserId=root-user";
    assert_eq!(
        decide_tagged(policy, &[("protected", "other")], delete).0,
        Decision::Allow
    );
    assert_eq!(
        decide_tagged(policy, &[("protected", "root-user")], delete).1,
        ["not-others"]
    );
    // Fail closed: a caller the deny rule cannot judge is denied by it.
    assert_eq!(decide_tagged(policy, &[], delete).1, ["not-others"]);
}

#[test]
fn references_to_the_caller_are_checked_when_the_policy_loads() {
    let actions = "[CreateCacheCluster]";
    for (condition, expected) in [
        (
            "CacheClusterId: {matches: \"${caller.name}-.*\"}",
            "`${caller.name}` is not a reference to the caller, expected `${caller.tags.KEY}`",
        ),
        (
            "CacheClusterId: {matches: \"${caller.tags.team-.*\"}",
            "is not closed with `}`",
        ),
        (
            "CacheClusterId: {matches: \"(${caller.tags.team})\"}",
            "between references is not a regex of its own",
        ),
        (
            "SecurityGroupIds: {all_in: [\"${caller.tags.sg}\"]}",
            "`all_in` takes values as written, not references to the caller",
        ),
        (
            "Tags: {tags: {team: \"${caller.tag.team}\"}}",
            "is not a reference to the caller",
        ),
        ("CacheClusterId: {one_of: [\"${caller.tags.team}\"]}", ""),
    ] {
        let found = errors(&format!("      {condition}\n"), actions).join("\n");
        if expected.is_empty() {
            assert_eq!(found, "", "{condition}");
        } else {
            assert!(found.contains(expected), "{condition}: {found}");
        }
    }
}

/// Resources by id, each with its tags.
type Given<'a> = &'a [(&'a str, &'a [(&'a str, &'a str)])];

/// Decides `query` for a caller of `team`, with the tags of the named
/// resources as `given` (by id) says; `None`: not looked up.
fn decide_owned(
    policy: &str,
    team: &str,
    given: Option<Given<'_>>,
    query: &str,
) -> (Decision, Vec<String>, String) {
    use crate::facts::{ResourceFact, ResourceFacts, ResourceState};
    let policy = compile("policy.yaml", policy).unwrap();
    let (request, _) = request::parse_query(query).unwrap();
    let region = Region::parse("eu-west-1").unwrap();
    let account = crate::model::AccountId::parse("123456789012").unwrap();
    let tags = crate::caller_tags::CallerTags::new(vec![("team".into(), team.into())]);
    let facts = RequestFacts::of(&request, &region, Some("someone")).with_caller_tags(&tags);

    let resources = given.map(|given| ResourceFacts {
        resources: crate::resources::existing_resources(
            request.action,
            &request.params,
            &region,
            &account,
        )
        .unwrap()
        .into_iter()
        .map(|resource| {
            let state = match resource.arn {
                None => ResourceState::Untaggable,
                Some(_) => ResourceState::Tags(
                    given
                        .iter()
                        .find(|(id, _)| *id == resource.id)
                        .map(|(_, tags)| {
                            tags.iter()
                                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
            };
            ResourceFact { resource, state }
        })
        .collect(),
    });
    let facts = match &resources {
        Some(resources) => facts.with_resources(resources),
        None => facts,
    };
    let response = policy.is_authorized(&facts);
    let message = response.denial_message(&facts, DenialDetail::Full);
    (response.decision, response.rules, message)
}

const OWNED: &str = r#"
rules:
  - id: own
    effect: allow
    actions: [ModifyReplicationGroup, CreateReplicationGroup, CopySnapshot, DeleteGlobalReplicationGroup]
    resource_tags: {team: "${caller.tags.team}"}
  - id: keep-the-owner-tag
    effect: deny
    actions: [ModifyReplicationGroup]
    resource_tags: {locked: "true"}
"#;

#[test]
fn resource_tags_decide_on_what_the_resources_carry() {
    let modify = "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=Orders-1";
    let payments: &[(&str, &str)] = &[("team", "payments")];
    let orders: &[(&str, &str)] = &[("team", "orders")];
    assert_eq!(
        decide_owned(OWNED, "orders", Some(&[("orders-1", orders)]), modify).0,
        Decision::Allow
    );
    let (decision, _, message) =
        decide_owned(OWNED, "payments", Some(&[("orders-1", orders)]), modify);
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains("rule `own`: replication group `orders-1` (`ReplicationGroupId`) lacks the tag `team=payments`: it has `team=orders`"),
        "{message}"
    );
    // A resource that does not exist has no tags.
    let (_, _, message) = decide_owned(OWNED, "payments", Some(&[]), modify);
    assert!(message.contains("it has no tag `team`"), "{message}");
    // Not looked up: no allow rule matches, and a deny rule fires.
    let (decision, rules, _) = decide_owned(OWNED, "orders", None, modify);
    assert_eq!(
        (decision, rules),
        (Decision::Deny, vec!["keep-the-owner-tag".to_owned()])
    );
    let locked: &[(&str, &str)] = &[("team", "orders"), ("locked", "true")];
    assert_eq!(
        decide_owned(OWNED, "orders", Some(&[("orders-1", locked)]), modify).1,
        ["keep-the-owner-tag"]
    );
    // Every existing resource must carry it: a create from another team's
    // primary is denied, a fresh one names none.
    let create = "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=orders-2&ReplicationGroupDescription=d";
    assert_eq!(
        decide_owned(OWNED, "orders", Some(&[]), create).0,
        Decision::Allow
    );
    let from = format!("{create}&PrimaryClusterId=payments-001");
    assert_eq!(
        decide_owned(OWNED, "orders", Some(&[("payments-001", payments)]), &from).0,
        Decision::Deny
    );
    let copy = "Action=CopySnapshot&Version=2015-02-02&SourceSnapshotName=payments-snap&TargetSnapshotName=orders-copy";
    assert_eq!(
        decide_owned(OWNED, "orders", Some(&[("payments-snap", payments)]), copy).0,
        Decision::Deny
    );
    assert_eq!(
        decide_owned(
            OWNED,
            "payments",
            Some(&[("payments-snap", payments)]),
            copy
        )
        .0,
        Decision::Allow
    );
    // A global replication group carries no tags: refused.
    let global = "Action=DeleteGlobalReplicationGroup&Version=2015-02-02&GlobalReplicationGroupId=ldgnf-orders&RetainPrimaryReplicationGroup=true";
    let (decision, _, message) = decide_owned(OWNED, "orders", Some(&[]), global);
    assert_eq!(decision, Decision::Deny);
    assert!(
        message.contains("cannot carry tags, so its owner cannot be told"),
        "{message}"
    );
}

#[test]
fn tags_are_looked_up_only_for_a_rule_that_can_match() {
    let policy = compile(
        "p.yaml",
        r#"
rules:
  - id: teams
    effect: allow
    actions: [ModifyReplicationGroup]
    callers: [app]
    resource_tags: {team: "${caller.tags.team}"}
  - id: break-glass
    effect: allow
    actions: [ModifyReplicationGroup]
    callers: [break-glass]
  - id: locked
    effect: deny
    actions: [ModifyReplicationGroup]
    except_callers: [break-glass]
    resource_tags: {locked: "true"}
"#,
    )
    .unwrap();
    let (request, _) = request::parse_query(
        "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=a",
    )
    .unwrap();
    let region = Region::parse("eu-west-1").unwrap();
    let needs =
        |caller| policy.needs_resource_tags(&RequestFacts::of(&request, &region, Some(caller)));
    assert!(needs("app"));
    assert!(
        !needs("break-glass"),
        "no rule that can match it checks tags"
    );
    // The deny rule applies to anyone but break-glass.
    assert!(needs("stranger"));
    // Without the deny rule, `teams` needs the caller's team tag to match
    // at all: a caller without it is decided without a lookup.
    let teams_only = compile(
        "p.yaml",
        "rules: [{id: teams, effect: allow, actions: [ModifyReplicationGroup], resource_tags: {team: \"${caller.tags.team}\"}}]",
    )
    .unwrap();
    let team = crate::caller_tags::CallerTags::new(vec![("team".into(), "payments".into())]);
    let facts = RequestFacts::of(&request, &region, Some("app"));
    assert!(!teams_only.needs_resource_tags(&facts));
    assert!(teams_only.needs_resource_tags(&facts.with_caller_tags(&team)));
    let (describe, _) =
        request::parse_query("Action=DescribeCacheClusters&Version=2015-02-02").unwrap();
    assert!(!policy.needs_resource_tags(&RequestFacts::of(&describe, &region, Some("app"))));
}

#[test]
fn a_denial_shows_the_callers_values_in_place_of_references() {
    let payments = [("team", "payments")];
    let (_, _, message) = decide_tagged(
        TEAM_POLICY,
        &payments,
        "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=orders-x",
    );
    assert!(
        message.contains("does not match `payments-[a-z0-9-]+`"),
        "{message}"
    );
    let (_, _, message) = decide_tagged(
        TEAM_POLICY,
        &payments,
        "Action=CreateCacheCluster&Version=2015-02-02&CacheClusterId=payments-a&Tags.Tag.1.Key=team&Tags.Tag.1.Value=orders",
    );
    assert!(
        message.contains("lacks one of the tags `team=payments`"),
        "{message}"
    );
    let (_, _, message) = decide_tagged(
        TEAM_POLICY,
        &payments,
        "Action=DeleteUser&Version=2015-02-02&UserId=x",
    );
    assert!(
        message.contains("is not one of `payments-admin`, `payments-app`"),
        "{message}"
    );
}
