//! The pure request path, measured: parse, authenticate (SigV4 verification
//! of a request signed by aws-sigv4) and decide, against generated policies
//! of 10, 1,000 and 10,000 rules. `cargo bench --bench request_path`.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningParams, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use elasticache_authz_proxy::auth::{self, CallerDirectory, ClientCertificate};
use elasticache_authz_proxy::decision::{Decision, RequestFacts};
use elasticache_authz_proxy::policy::{self, Policy};
use elasticache_authz_proxy::request::{self, HttpParts, SingleHeader};
use elasticache_authz_proxy::sigv4::ReceivedRequest;
use elasticache_authz_proxy::{callers, model::Region};

// The proxy's allocator (src/main.rs): the path allocates, and the
// system allocator's costs grow with what a large policy left in its heap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The core's authentication tests sign with it too. They read the method
// and query of its GET requests, which this bench does not send.
#[allow(dead_code)]
#[path = "../core/src/sdk_signer.rs"]
mod sdk_signer;
use sdk_signer::Signed;

const RULE_COUNTS: [usize; 3] = [10, 1_000, 10_000];
const KEY: &str = "AKIABENCHCALLER00001";
const SECRET: &str = "bench-secret-0123456789abcdef";
/// 2026-11-25T00:00:00Z: the signing time, and "now" for verification.
const NOW: i64 = 1_795_564_800;
const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"];

/// A policy shaped like a large organisation's: one ingress rule per team
/// (its account, regions and group patterns), a deny for every tenth team's
/// frozen group, and a few read-only rules.
fn policy_text(rules: usize) -> String {
    let mut text = String::from(
        "rules:\n  - id: read-only\n    effect: allow\n    actions: [\"Describe*\", ListTagsForResource]\n",
    );
    for team in 0..rules.saturating_sub(1) {
        let region = REGIONS[team % REGIONS.len()];
        if team % 10 == 9 {
            text.push_str(&format!(
                "  - id: team{team}-frozen\n    effect: deny\n    actions: [\"*CacheSecurityGroupIngress\"]\n    owner_ids: [\"{:012}\"]\n    cache_security_groups: [\"team{team}-legacy\"]\n",
                100_000_000_000u64 + team as u64 - 1
            ));
        } else {
            text.push_str(&format!(
                "  - id: team{team}-ingress\n    effect: allow\n    actions: [AuthorizeCacheSecurityGroupIngress, RevokeCacheSecurityGroupIngress]\n    callers: [bench]\n    regions: [{region}]\n    owner_ids: [\"{:012}\"]\n    cache_security_groups: [\"team{team}-[a-z0-9-]+\"]\n    ec2_security_groups: [\"app{team}-(web|worker|cron)\", \"ci-runner-{team}\"]\n",
                100_000_000_000u64 + team as u64
            ));
        }
    }
    text
}

/// An ingress request for the team in the middle of the policy, which its
/// rule allows.
fn ingress_body(rules: usize) -> String {
    let team = (rules / 2).saturating_sub(2) / 10 * 10;
    format!(
        "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02\
         &CacheSecurityGroupName=team{team}-cache&EC2SecurityGroupName=app{team}-web\
         &EC2SecurityGroupOwnerId={:012}",
        100_000_000_000u64 + team as u64
    )
}

/// A policy of one CreateReplicationGroup rule per team, with the new
/// parameter conditions: the team's security groups, node types,
/// encryption and its tag.
fn create_policy_text(rules: usize) -> String {
    let mut text = String::from("rules:\n");
    for team in 0..rules {
        let region = REGIONS[team % REGIONS.len()];
        text.push_str(&format!(
            "  - id: team{team}-create\n    effect: allow\n    actions: [CreateReplicationGroup]\n    callers: [team{team}]\n    regions: [{region}]\n    params:\n      SecurityGroupIds: {{all_in: [sg-{team:08x}a, sg-{team:08x}b, sg-{team:08x}c]}}\n      CacheNodeType: {{one_of: [cache.r7g.large, cache.r7g.xlarge]}}\n      TransitEncryptionEnabled: {{one_of: [true]}}\n      AtRestEncryptionEnabled: {{one_of: [true]}}\n      NumCacheClusters: {{range: [1, 6]}}\n      ReplicationGroupId: {{matches: \"team{team}-[a-z0-9-]+\"}}\n      Tags: {{tags: {{team: team{team}}}}}\n      AuthToken: {{present: false}}\n"
        ));
    }
    text
}

/// The middle team of a create policy.
fn create_team(rules: usize) -> usize {
    rules / 2
}

/// A CreateReplicationGroup with 30 parameters, as boto3 writes them.
fn create_body(team: usize) -> String {
    format!(
        "Action=CreateReplicationGroup&Version=2015-02-02\
         &ReplicationGroupId=team{team}-orders&ReplicationGroupDescription=orders%20cache\
         &CacheNodeType=cache.r7g.large&Engine=redis&EngineVersion=7.1&NumCacheClusters=3\
         &AutomaticFailoverEnabled=true&MultiAZEnabled=true&CacheParameterGroupName=default.redis7\
         &CacheSubnetGroupName=team{team}-private\
         &SecurityGroupIds.SecurityGroupId.1=sg-{team:08x}a&SecurityGroupIds.SecurityGroupId.2=sg-{team:08x}b\
         &SecurityGroupIds.SecurityGroupId.3=sg-{team:08x}c\
         &Tags.Tag.1.Key=team&Tags.Tag.1.Value=team{team}&Tags.Tag.2.Key=env&Tags.Tag.2.Value=prod\
         &Tags.Tag.3.Key=cost-center&Tags.Tag.3.Value=cc-{team}\
         &Port=6379&PreferredMaintenanceWindow=sun%3A05%3A00-sun%3A06%3A00&SnapshotRetentionLimit=7\
         &SnapshotWindow=03%3A00-04%3A00&AutoMinorVersionUpgrade=true&TransitEncryptionEnabled=true\
         &AtRestEncryptionEnabled=true&KmsKeyId=alias%2Fteam{team}\
         &NotificationTopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A123456781234%3Ateam{team}\
         &NetworkType=ipv4&IpDiscovery=ipv4"
    )
}

/// The Availability Zones a team's closed rule lets its shards use.
fn zones(region: &str) -> [String; 3] {
    ["a", "b", "c"].map(|zone| format!("{region}{zone}"))
}

/// A policy of one closed CreateReplicationGroup rule per team: every
/// parameter the request may carry is named, by a condition (nested ones
/// through the shards and the log destinations) or in
/// `other_params_allowed`.
fn create_closed_nested_policy_text(rules: usize) -> String {
    let mut text = String::from("rules:\n");
    for team in 0..rules {
        let region = REGIONS[team % REGIONS.len()];
        let zones = zones(region).join(", ");
        text.push_str(&format!(
            "  - id: team{team}-create\n    effect: allow\n    actions: [CreateReplicationGroup]\n    callers: [team{team}]\n    regions: [{region}]\n    params:\n      ReplicationGroupId: {{matches: \"team{team}-[a-z0-9-]+\"}}\n      SecurityGroupIds: {{all_in: [sg-{team:08x}a, sg-{team:08x}b, sg-{team:08x}c]}}\n      CacheSubnetGroupName: {{one_of: [team{team}-private]}}\n      CacheNodeType: {{one_of: [cache.r7g.large, cache.r7g.xlarge]}}\n      EngineVersion: {{one_of: [\"7.1\"]}}\n      TransitEncryptionEnabled: {{one_of: [true]}}\n      AtRestEncryptionEnabled: {{one_of: [true]}}\n      KmsKeyId: {{one_of: [alias/team{team}]}}\n      NetworkType: {{one_of: [ipv4]}}\n      IpDiscovery: {{one_of: [ipv4]}}\n      SnapshotRetentionLimit: {{range: [1, 35]}}\n      NumNodeGroups: {{range: [1, 4]}}\n      \"NodeGroupConfiguration[].ReplicaCount\": {{range: [1, 2]}}\n      \"NodeGroupConfiguration[].PrimaryAvailabilityZone\": {{one_of: [{zones}]}}\n      \"LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup\": {{matches: \"/team{team}/.*\"}}\n      Tags: {{tags: {{team: team{team}}}}}\n      AuthToken: {{present: false}}\n    other_params: deny\n    other_params_allowed: [ReplicationGroupDescription, Engine, AutomaticFailoverEnabled, MultiAZEnabled, CacheParameterGroupName, Port, PreferredMaintenanceWindow, SnapshotWindow, AutoMinorVersionUpgrade, NotificationTopicArn]\n"
        ));
    }
    text
}

/// A cluster-mode-enabled CreateReplicationGroup, as boto3 writes it: the
/// create above with two shards described item by item (the second with
/// `second_replicas` replicas) instead of a number of nodes, and its slow
/// log sent to CloudWatch Logs.
fn create_nested_body(team: usize, second_replicas: u32) -> String {
    let [first_zone, second_zone, _] = zones(REGIONS[team % REGIONS.len()]);
    let shard = "&NodeGroupConfiguration.NodeGroupConfiguration";
    let log = "&LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1";
    // The closed rule does not name NumCacheClusters: left in, it would
    // make the allow assertion fail.
    let create = create_body(team)
        .replace("&NumCacheClusters=3", "&NumNodeGroups=2")
        .replace("=default.redis7&", "=default.redis7.cluster.on&");
    format!(
        "{create}\
         {shard}.1.Slots=0-8191{shard}.1.ReplicaCount=1{shard}.1.PrimaryAvailabilityZone={first_zone}\
         {shard}.2.Slots=8192-16383{shard}.2.ReplicaCount={second_replicas}\
         {shard}.2.PrimaryAvailabilityZone={second_zone}\
         {log}.LogType=slow-log{log}.DestinationType=cloudwatch-logs\
         {log}.DestinationDetails.CloudWatchLogsDetails.LogGroup=%2Fteam{team}%2Fredis-slow-log\
         {log}.LogFormat=json{log}.Enabled=true"
    )
}

fn region_of(rules: usize) -> &'static str {
    let team = (rules / 2).saturating_sub(2) / 10 * 10;
    REGIONS[team % REGIONS.len()]
}

/// aws-sigv4's parameters for an `elasticache` request, as the SDK sets them.
fn signing_params<'a>(
    identity: &'a Identity,
    region: &'a str,
    time: SystemTime,
) -> SigningParams<'a> {
    v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("elasticache")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into()
}

/// Signs like aws-sdk-rust does (content-length and x-amz-user-agent signed).
fn sign_request(body: &str, region: &str) -> Signed {
    let now = UNIX_EPOCH + Duration::from_secs(NOW as u64);
    sdk_signer::sign_form(
        KEY,
        SECRET,
        region,
        now,
        body,
        SignatureLocation::Headers,
        None,
    )
}

fn directory() -> CallerDirectory {
    directory_of("bench")
}

fn directory_of(name: &str) -> CallerDirectory {
    let file = format!(
        "callers:\n  - name: {name}\n    access_key_id: {KEY}\n    secret_access_key: \"{SECRET}\"\n"
    );
    CallerDirectory::Callers(callers::compile("callers.yaml", &file).expect("callers file"))
}

/// Stages 1 to 3 of the server's request path, without sockets.
fn parse_authenticate_decide(
    directory: &CallerDirectory,
    policy: &Policy,
    signed: &Signed,
) -> Decision {
    let (parsed, query_auth) = request::parse(&HttpParts {
        method: "POST",
        path: "/",
        query: None,
        content_type: signed
            .header("content-type")
            .map_or(SingleHeader::Absent, SingleHeader::One),
        body: signed.body.as_bytes(),
    })
    .expect("parses");
    let signature = auth::caller_signature(
        signed
            .header("authorization")
            .map_or(SingleHeader::Absent, SingleHeader::One),
        &query_auth,
    )
    .expect("signature parses");
    let headers = signed.header_pairs();
    let received = ReceivedRequest {
        method: "POST",
        path: "/",
        query: None,
        headers: &headers,
        body: signed.body.as_bytes(),
    };
    let caller = auth::authenticate(
        directory,
        signature.as_ref(),
        &received,
        ClientCertificate {
            required: false,
            identities: &[],
        },
        NOW,
    )
    .expect("authenticates");
    let region = auth::request_region(signature, signed.header("host"), None).expect("a region");
    let facts = RequestFacts::of(&parsed, &region, Some(&caller.caller));
    policy.is_authorized(&facts).decision
}

/// One benchmark group: for each policy size, the case it builds (the
/// caller's directory, the policy and the signed request) is checked to be
/// allowed, then measured. Where `denied` gives a request for a size, the
/// same policy must deny it, and that is measured too (as `deny/<size>`).
fn path_group(
    c: &mut Criterion,
    name: &str,
    case: impl Fn(usize) -> (CallerDirectory, Policy, Signed),
    denied: impl Fn(usize) -> Option<Signed>,
) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    for rules in RULE_COUNTS {
        let (directory, policy, signed) = case(rules);
        assert_eq!(
            parse_authenticate_decide(&directory, &policy, &signed),
            Decision::Allow
        );
        group.bench_with_input(BenchmarkId::from_parameter(rules), &signed, |b, signed| {
            b.iter(|| parse_authenticate_decide(&directory, &policy, black_box(signed)))
        });
        if let Some(signed) = denied(rules) {
            assert_eq!(
                parse_authenticate_decide(&directory, &policy, &signed),
                Decision::Deny
            );
            group.bench_with_input(BenchmarkId::new("deny", rules), &signed, |b, signed| {
                b.iter(|| parse_authenticate_decide(&directory, &policy, black_box(signed)))
            });
        }
    }
    group.finish();
}

fn request_path(c: &mut Criterion) {
    path_group(
        c,
        "parse_authenticate_decide",
        |rules| {
            let policy =
                policy::compile("bench.yaml", &policy_text(rules)).expect("policy compiles");
            let signed = sign_request(&ingress_body(rules), region_of(rules));
            (directory(), policy, signed)
        },
        |_| None,
    );
}

/// The same path for a 30-parameter CreateReplicationGroup against policies
/// whose rules use the parameter conditions.
fn create_path(c: &mut Criterion) {
    path_group(
        c,
        "create_replication_group",
        |rules| {
            let team = create_team(rules);
            let policy =
                policy::compile("bench.yaml", &create_policy_text(rules)).expect("policy compiles");
            let signed = sign_request(&create_body(team), REGIONS[team % REGIONS.len()]);
            (directory_of(&format!("team{team}")), policy, signed)
        },
        |_| None,
    );
}

/// The same path for a cluster-mode-enabled create with two shards and a
/// log destination, against policies of closed rules with conditions on
/// nested members; at 10,000 rules also the create whose second shard
/// asks for one replica too many, which the team's rule denies.
fn create_closed_nested_path(c: &mut Criterion) {
    let signed = |team: usize, second_replicas: u32| {
        sign_request(
            &create_nested_body(team, second_replicas),
            REGIONS[team % REGIONS.len()],
        )
    };
    path_group(
        c,
        "create_closed_nested",
        |rules| {
            let team = create_team(rules);
            let policy = policy::compile("bench.yaml", &create_closed_nested_policy_text(rules))
                .expect("policy compiles");
            (
                directory_of(&format!("team{team}")),
                policy,
                signed(team, 1),
            )
        },
        |rules| (rules == 10_000).then(|| signed(create_team(rules), 3)),
    );
}

/// Stage 1 alone, for the ingress and the 30-parameter create.
fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, body) in [("ingress", ingress_body(10)), ("create", create_body(5))] {
        let parts = |body: &str| {
            request::parse(&HttpParts {
                method: "POST",
                path: "/",
                query: None,
                content_type: SingleHeader::One("application/x-www-form-urlencoded; charset=utf-8"),
                body: body.as_bytes(),
            })
            .map(|(request, _)| request.params.len())
        };
        assert!(parts(&body).is_ok());
        group.bench_function(name, |b| b.iter(|| parts(black_box(&body))));
        let action = elasticache_authz_proxy::model::Action::from_name(if name == "create" {
            "CreateReplicationGroup"
        } else {
            "AuthorizeCacheSecurityGroupIngress"
        })
        .expect("an action");
        let decoded = elasticache_authz_proxy::form::decode(body.as_bytes()).expect("decodes");
        let pairs: Vec<(&str, &str)> = decoded
            .iter()
            .map(|(k, v)| (*k, v.as_ref()))
            .filter(|(k, _)| *k != "Action" && *k != "Version")
            .collect();
        group.bench_function(format!("{name}-params"), |b| {
            b.iter(|| {
                elasticache_authz_proxy::params::parse(
                    action,
                    action.operation().input(),
                    black_box(&pairs),
                )
                .map(|p| p.len())
            })
        });
        group.bench_function(format!("{name}-form"), |b| {
            b.iter(|| {
                elasticache_authz_proxy::form::decode(black_box(body.as_bytes())).map(|v| v.len())
            })
        });
    }
    group.finish();
}

/// A form body as the parser takes it in.
fn parsed(body: &str) -> request::ElastiCacheRequest {
    request::parse(&HttpParts {
        method: "POST",
        path: "/",
        query: None,
        content_type: SingleHeader::One("application/x-www-form-urlencoded"),
        body: body.as_bytes(),
    })
    .expect("parses")
    .0
}

fn decide(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for rules in RULE_COUNTS {
        let policy = policy::compile("bench.yaml", &policy_text(rules)).expect("policy compiles");
        let parsed = parsed(&ingress_body(rules));
        let region = Region::parse(region_of(rules)).expect("region");
        let allowed = RequestFacts::of(&parsed, &region, Some("bench"));
        assert_eq!(policy.is_authorized(&allowed).decision, Decision::Allow);
        group.bench_with_input(BenchmarkId::new("allow", rules), &allowed, |b, facts| {
            b.iter(|| policy.is_authorized(black_box(facts)))
        });
        // A denial by default explains itself, which must not cost a scan
        // of every rule.
        let stranger = RequestFacts {
            caller: Some("stranger"),
            ..allowed
        };
        assert_eq!(policy.is_authorized(&stranger).decision, Decision::Deny);
        group.bench_with_input(BenchmarkId::new("deny", rules), &stranger, |b, facts| {
            b.iter(|| policy.is_authorized(black_box(facts)))
        });
    }
    group.finish();
}

/// Stage 3 alone for the 30-parameter create: the rules are indexed by
/// caller, so the decision should not grow with the policy.
fn decide_create(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_create");
    for rules in RULE_COUNTS {
        let team = create_team(rules);
        let policy =
            policy::compile("bench.yaml", &create_policy_text(rules)).expect("policy compiles");
        let parsed = parsed(&create_body(team));
        let region = Region::parse(REGIONS[team % REGIONS.len()]).expect("region");
        let caller = format!("team{team}");
        let facts = RequestFacts::of(&parsed, &region, Some(&caller));
        assert_eq!(policy.is_authorized(&facts).decision, Decision::Allow);
        group.bench_with_input(BenchmarkId::from_parameter(rules), &facts, |b, facts| {
            b.iter(|| policy.is_authorized(black_box(facts)))
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for rules in [10, 1_000] {
        let text = policy_text(rules);
        group.bench_with_input(BenchmarkId::from_parameter(rules), &text, |b, text| {
            b.iter(|| policy::compile("bench.yaml", black_box(text)).expect("compiles"))
        });
    }
    group.finish();
}

/// Stage 4's signature: the upstream request built and signed as the proxy,
/// from a cached signing key, beside aws-sigv4's full request signer on the
/// same request (which derives the key every time).
fn sign_upstream(c: &mut Criterion) {
    use elasticache_authz_proxy::proxy::config::EndpointTemplate;
    use elasticache_authz_proxy::proxy::upstream::{self, ProxyCredentials, SigningKeys};
    let mut group = c.benchmark_group("sign_upstream");
    let parsed = parsed(&ingress_body(10));
    let region = Region::parse("eu-west-1").expect("region");
    let endpoint =
        EndpointTemplate::parse("https://elasticache.{region}.amazonaws.com").expect("endpoint");
    let credentials = Credentials::new(KEY, SECRET, None, None, "bench");
    let proxy_credentials = ProxyCredentials::new(credentials.clone());
    let mut caller_headers = http::HeaderMap::new();
    caller_headers.insert(
        "x-amz-user-agent",
        http::HeaderValue::from_static("aws-sdk-rust/1.3.9 api/elasticache/1.90.0"),
    );
    let now = UNIX_EPOCH + Duration::from_secs(NOW as u64);
    let keys = SigningKeys::new();
    let build = || {
        upstream::build_signed_request(
            &parsed,
            &region,
            &endpoint,
            &caller_headers,
            &proxy_credentials,
            now,
            &keys,
        )
        .expect("signs")
    };
    group.bench_function("proxy, cached key", |b| b.iter(|| black_box(build())));
    let built = build();
    let body = parsed.to_form_body();
    let identity = credentials.into();
    group.bench_function("aws-sigv4 request signer", |b| {
        b.iter(|| {
            let headers = built
                .headers()
                .iter()
                .filter(|(n, _)| !matches!(n.as_str(), "authorization" | "x-amz-date"))
                .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)));
            let params = signing_params(&identity, "eu-west-1", now);
            let signable = SignableRequest::new(
                "POST",
                "https://elasticache.eu-west-1.amazonaws.com/",
                headers,
                SignableBody::Bytes(body.as_bytes()),
            )
            .expect("signable");
            black_box(sign(signable, &params).expect("signs"))
        })
    });
    group.finish();
}

/// What `resource_tags` adds to a decision whose tags are in the cache:
/// naming the request's resources, the cache lookup, and comparing the
/// tags, against the same rule without `resource_tags` (both inside the
/// same single-threaded runtime's `block_on`, as the proxy runs them).
fn resource_tags(c: &mut Criterion) {
    use elasticache_authz_proxy::caller_tags::CallerTags;
    use elasticache_authz_proxy::model::AccountId;
    use elasticache_authz_proxy::proxy::config::ResourceTagsConfig;
    use elasticache_authz_proxy::proxy::resource_tags::TagLookups;
    use std::time::Duration;

    let rule = |tags: &str| {
        format!(
            "rules:\n  - id: team-modify\n    effect: allow\n    actions: [ModifyReplicationGroup]\n    other_params: allow\n    params:\n      ReplicationGroupId: {{matches: \"${{caller.tags.team}}-[a-z0-9-]+\"}}\n{tags}"
        )
    };
    let with = policy::compile(
        "bench.yaml",
        &rule("    resource_tags: {team: \"${caller.tags.team}\"}\n"),
    )
    .expect("policy compiles");
    let without = policy::compile("bench.yaml", &rule("")).expect("policy compiles");
    let parsed = parsed(
        "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=team5-orders&ApplyImmediately=true&CacheNodeType=cache.r7g.large",
    );
    let region = Region::parse("eu-west-1").expect("region");
    let account = AccountId::parse("123456789012").expect("account");
    let tags = CallerTags::new(vec![("team".into(), "team5".into())]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let lookups = TagLookups::new(
        ResourceTagsConfig {
            cache_ttl: Duration::from_secs(300),
            max_cached: 10_000,
            max_per_request: 20,
        },
        Some(account),
    );
    let decide = |resources: bool| {
        runtime.block_on(async {
            let facts = RequestFacts::of(&parsed, &region, Some("team5")).with_caller_tags(&tags);
            if !resources {
                return without.is_authorized(black_box(&facts)).decision;
            }
            let found = lookups
                .facts(
                    parsed.action,
                    &parsed,
                    &region,
                    &account,
                    |_| async { Ok((vec![("team".to_owned(), "team5".to_owned())], true)) },
                    |_, _| {},
                )
                .await
                .expect("looked up");
            with.is_authorized(black_box(&facts.with_resources(&found)))
                .decision
        })
    };
    // The first lookup fills the cache; every measured one is a hit.
    assert_eq!(decide(true), Decision::Allow);
    assert_eq!(decide(false), Decision::Allow);
    let mut group = c.benchmark_group("resource_tags");
    group.bench_function("decide", |b| b.iter(|| decide(false)));
    group.bench_function("decide_cache_hit", |b| b.iter(|| decide(true)));
    group.finish();
}

criterion_group!(
    benches,
    request_path,
    create_path,
    create_closed_nested_path,
    parse,
    decide,
    decide_create,
    resource_tags,
    compile,
    sign_upstream
);
criterion_main!(benches);
