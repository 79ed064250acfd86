//! The policy loader (`policy::compile`, and `check`'s lint) on arbitrary
//! text. The input is the policy file, as is.
//!
//! Besides never panicking: a rejected policy has at least one error, every
//! error renders, and the positions errors point at lie inside the file; a
//! compiled policy lints, and decides a few fixed requests as the decision
//! rules say (a deny needs a matching deny rule or no matching allow rule).
#![no_main]

use elasticache_authz_core::decision::{Decision, DenialDetail, RequestFacts};
use elasticache_authz_core::model::{Action, Region};
use elasticache_authz_core::params::Params;
use elasticache_authz_core::policy;
use elasticache_authz_core::policy_tools;
use elasticache_authz_core::yaml_positions::Positions;
use libfuzzer_sys::fuzz_target;

const FILE: &str = "fuzz.yaml";

/// The last line a position may name in `text`. YAML 1.1 (libyaml, so
/// serde_yaml) breaks lines at CR, LF, CRLF, NEL, LS and PS, where
/// `str::lines` knows only LF and CRLF; and libyaml puts the end of a
/// stream that lacks a final break on the line after the last.
fn yaml_lines(text: &str) -> usize {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count()
        + 2
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Only for messages, but it reads the same untrusted text.
    let _ = Positions::of(text).find(&["rules", "0", "id"]);

    let policy = match policy::compile(FILE, text) {
        Ok(policy) => policy,
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "rejected without an error");
            let rendered = errors.to_string();
            assert!(rendered.starts_with(FILE), "{rendered}");
            let lines = yaml_lines(text);
            for error in &errors.errors {
                if let Some(at) = error.position {
                    assert!(
                        (1..=lines).contains(&at.line) && at.column >= 1,
                        "{at:?} outside a file of {lines} lines: {rendered}"
                    );
                }
            }
            return;
        }
    };

    let (_, warnings) = policy_tools::check(FILE, text, None)
        .unwrap_or_else(|e| panic!("compiles, yet `check` rejects it: {e}"));
    for warning in &warnings {
        assert!(warning.text.starts_with(FILE), "{warning}");
    }
    // Callers the callers file lacks are warnings, never errors.
    let (_, with_callers) = policy_tools::check(FILE, text, Some(&["ci-deployer"]))
        .unwrap_or_else(|e| panic!("compiles, yet `check --callers` rejects it: {e}"));
    assert!(with_callers.len() >= warnings.len());

    let region = Region::parse("us-east-1").expect("a region");
    let ids: Vec<&str> = policy.rule_ids().collect();
    for action in [
        "AuthorizeCacheSecurityGroupIngress",
        "DescribeCacheClusters",
    ] {
        let action = Action::from_name(action).expect("an action");
        // The parameters each action has.
        let params = Params::of_strings(
            action.operation().input(),
            [
                ("EC2SecurityGroupOwnerId", "123456781234"),
                ("CacheSecurityGroupName", "prod-web"),
                ("EC2SecurityGroupName", "app-web"),
                ("CacheClusterId", "prod-1"),
            ],
        );
        let facts = RequestFacts::new(action, &region, &params, Some("ci-deployer"));
        let response = policy.is_authorized(&facts);
        assert!(response.rules.iter().all(|id| ids.contains(&id.as_str())));
        match response.decision {
            Decision::Allow => assert!(!response.rules.is_empty()),
            Decision::Deny => {
                for detail in [DenialDetail::Caller, DenialDetail::Full] {
                    assert!(!response.denial_message(&facts, detail).is_empty());
                }
            }
        }
    }
});
