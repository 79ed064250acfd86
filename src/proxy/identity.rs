//! The proxy's own AWS identity for upstream calls: the standard credential
//! chain of the AWS SDK (environment, shared profile, web identity / EKS
//! IRSA, ECS container credentials, EC2 instance metadata), cached and
//! refreshed before it expires; optionally an assumed role per caller, so
//! that CloudTrail names who was behind each call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

use crate::error::ServiceError;
use crate::model::AccountId;
use crate::proxy::config::AssumeRole;
use crate::proxy::log;
use crate::proxy::upstream::ProxyCredentials;

/// Credentials this close to expiry are replaced before use.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Whether credentials expiring at `expiry` must be refreshed at `now`.
/// Pure; credentials without an expiry never need it.
pub fn needs_refresh(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_some_and(|at| at <= now + REFRESH_BEFORE_EXPIRY)
}

/// Whether they may still be used at `now`, refreshed or not.
fn still_valid(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_none_or(|at| at > now)
}

/// An STS role session name for a caller: the name itself. STS wants two
/// characters at least, and caller names may have one.
pub fn role_session_name(caller: &str) -> String {
    if caller.len() < 2 {
        format!("{caller}.")
    } else {
        caller.to_owned()
    }
}

/// One cached set of credentials, refreshed by one task at a time. Every
/// forwarded request reads it, so reading fresh credentials takes no lock
/// that waits; only a refresh queues on `refreshing`.
#[derive(Default)]
struct Slot {
    current: ArcSwapOption<Credentials>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Slot {
    async fn get<F, Fut>(&self, what: &str, fetch: F) -> Result<Credentials, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Credentials, String>>,
    {
        if let Some(current) = self.fresh(SystemTime::now()) {
            return Ok(current);
        }
        // Boxed: the provider's future is large and rarely needed, and the
        // request's future would otherwise carry its size on every call.
        Box::pin(self.refresh(what, fetch)).await
    }

    fn fresh(&self, now: SystemTime) -> Option<Credentials> {
        self.current
            .load()
            .as_deref()
            .filter(|current| !needs_refresh(current.expiry(), now))
            .cloned()
    }

    async fn refresh<F, Fut>(&self, what: &str, fetch: F) -> Result<Credentials, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Credentials, String>>,
    {
        let _refreshing = self.refreshing.lock().await;
        let now = SystemTime::now();
        // Another task may have refreshed them while this one waited.
        if let Some(current) = self.fresh(now) {
            return Ok(current);
        }
        match fetch().await {
            Ok(fresh) => {
                self.current.store(Some(Arc::new(fresh.clone())));
                Ok(fresh)
            }
            // A failed early refresh is not yet a failure.
            Err(e) => match self.current.load().as_deref() {
                Some(current) if still_valid(current.expiry(), now) => {
                    log::warn(
                        "cannot refresh credentials; using the current ones until they expire",
                        serde_json::json!({ "credentials": what, "error": e }),
                    );
                    Ok(current.clone())
                }
                _ => Err(e),
            },
        }
    }
}

pub struct UpstreamIdentity {
    chain: SharedCredentialsProvider,
    own: Slot,
    assume: Option<Assumer>,
}

struct Assumer {
    settings: AssumeRole,
    sts: aws_sdk_sts::Client,
    sessions: Mutex<HashMap<String, Arc<Slot>>>,
}

impl UpstreamIdentity {
    /// Sets up the chain and fetches the proxy's credentials once, so that a
    /// proxy without any refuses to start.
    pub async fn load(assume_role: Option<&AssumeRole>) -> Result<UpstreamIdentity, String> {
        // Keys in the environment come first in the SDK's chain, and a
        // process's environment stays as it started: with them, and no role
        // to assume, the chain would only ever return them. Setting up the
        // rest of it reads and parses the system's CA certificates for STS
        // and SSO clients never called: four fifths of the start-up's
        // instructions, and 2.5 of the idle proxy's 12 MiB (README: Start,
        // reload and memory).
        let environment = EnvironmentVariableCredentialsProvider::new();
        let (chain, assume) = match assume_role {
            None if environment.provide_credentials().await.is_ok() => {
                (SharedCredentialsProvider::new(environment), None)
            }
            _ => Self::sdk_chain(assume_role).await?,
        };
        let identity = UpstreamIdentity {
            chain,
            own: Slot::default(),
            assume,
        };
        identity.own_credentials().await.map_err(|e| {
            format!(
                "no upstream credentials: {e}; the proxy signs forwarded requests with its own identity, \
                 from the standard AWS sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a shared \
                 profile, web identity, ECS or EC2 instance credentials)"
            )
        })?;
        Ok(identity)
    }

    /// The SDK's standard chain, and the STS client if a role is assumed.
    async fn sdk_chain(
        assume_role: Option<&AssumeRole>,
    ) -> Result<(SharedCredentialsProvider, Option<Assumer>), String> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        // The proxy's region only matters for STS (requests carry their
        // own), so it comes from the config, the environment or the profile,
        // else us-east-1; never from a probe of the instance metadata service.
        let region = RegionProviderChain::first_try(
            assume_role
                .and_then(|a| a.sts_region.clone())
                .map(aws_config::Region::new),
        )
        .or_else(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new())
        // Without any, the credential chain would probe the metadata service.
        .or_else(aws_config::Region::from_static("us-east-1"));
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(region)
            .load()
            .await;
        let chain = sdk
            .credentials_provider()
            .ok_or("no upstream credential provider could be set up".to_owned())?;
        let assume = assume_role.map(|settings| {
            let region = settings
                .sts_region
                .clone()
                .or_else(|| sdk.region().map(|r| r.to_string()))
                .unwrap_or_else(|| "us-east-1".to_owned());
            let mut builder = aws_sdk_sts::config::Builder::from(&sdk)
                .region(aws_sdk_sts::config::Region::new(region));
            if let Some(endpoint) = &settings.sts_endpoint {
                builder = builder.endpoint_url(endpoint);
            }
            Assumer {
                settings: settings.clone(),
                sts: aws_sdk_sts::Client::from_conf(builder.build()),
                sessions: Mutex::new(HashMap::new()),
            }
        });
        Ok((chain, assume))
    }

    /// The chain's credentials, from the cache while they are fresh.
    async fn own_credentials(&self) -> Result<Credentials, String> {
        self.own
            .get("proxy", || async {
                self.chain
                    .provide_credentials()
                    .await
                    .map_err(|e| error_chain(&e))
            })
            .await
    }

    /// The access key id in use now, for the start-up log.
    pub async fn access_key_id(&self) -> Option<String> {
        self.own_credentials()
            .await
            .ok()
            .map(|c| c.access_key_id().to_owned())
    }

    pub fn assumes_role(&self) -> bool {
        self.assume.is_some()
    }

    /// The account the forwarded requests act in, which the ARNs of the
    /// resources they name need: the assumed role's, from its ARN, or else
    /// the proxy's own, from STS GetCallerIdentity (the SDK's STS endpoint
    /// and region settings apply, `AWS_ENDPOINT_URL_STS` among them).
    pub async fn account_id(&self) -> Result<AccountId, String> {
        if let Some(assumer) = &self.assume {
            return assumer
                .settings
                .role_arn
                .split(':')
                .nth(4)
                .and_then(AccountId::parse)
                .ok_or_else(|| {
                    format!(
                        "the role ARN `{}` names no account",
                        assumer.settings.role_arn
                    )
                });
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        // As for the credential chain: never a probe of the metadata service.
        let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
            .or_else(ProfileFileRegionProvider::new())
            .or_else(aws_config::Region::from_static("us-east-1"));
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(region)
            .credentials_provider(self.chain.clone())
            .load()
            .await;
        let identity = aws_sdk_sts::Client::new(&sdk)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        identity
            .account()
            .and_then(AccountId::parse)
            .ok_or_else(|| "STS named no account".to_owned())
    }

    /// The credentials to sign `caller`'s forwarded request with.
    pub async fn for_caller(&self, caller: &str) -> Result<ProxyCredentials, ServiceError> {
        let result = match &self.assume {
            None => self.own_credentials().await,
            Some(assumer) => assumer.session(caller).await,
        };
        result.map(ProxyCredentials::new).map_err(|e| {
            log::error(
                "no upstream credentials",
                serde_json::json!({ "caller": caller, "error": e }),
            );
            ServiceError::NoCredentials
        })
    }
}

impl Assumer {
    async fn session(&self, caller: &str) -> Result<Credentials, String> {
        let slot = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            match sessions.get(caller) {
                Some(slot) => slot.clone(),
                None => sessions.entry(caller.to_owned()).or_default().clone(),
            }
        };
        slot.get(caller, || self.assume(caller)).await
    }

    async fn assume(&self, caller: &str) -> Result<Credentials, String> {
        let session = role_session_name(caller);
        let mut request = self
            .sts
            .assume_role()
            .role_arn(&self.settings.role_arn)
            .role_session_name(&session)
            .source_identity(&session)
            .duration_seconds(i32::try_from(self.settings.duration.as_secs()).unwrap_or(3600));
        if let Some(external_id) = &self.settings.external_id {
            request = request.external_id(external_id);
        }
        let answer = request.send().await.map_err(|e| {
            format!(
                "AssumeRole `{}` failed: {}",
                self.settings.role_arn,
                error_chain(&e)
            )
        })?;
        let assumed = answer
            .credentials()
            .ok_or("AssumeRole returned no credentials")?;
        let expiry = SystemTime::try_from(*assumed.expiration())
            .map_err(|_| "AssumeRole returned an expiration out of range".to_owned())?;
        Ok(Credentials::new(
            assumed.access_key_id(),
            assumed.secret_access_key(),
            Some(assumed.session_token().to_owned()),
            Some(expiry),
            "AssumeRole",
        ))
    }
}

/// An error and its sources, on one line: SDK errors keep the useful part
/// in the source.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_before_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_564_800);
        assert!(!needs_refresh(None, now), "static credentials never expire");
        assert!(!needs_refresh(Some(now + Duration::from_secs(301)), now));
        assert!(needs_refresh(Some(now + Duration::from_secs(300)), now));
        assert!(needs_refresh(Some(now - Duration::from_secs(1)), now));
        assert!(still_valid(Some(now + Duration::from_secs(1)), now));
        assert!(!still_valid(Some(now), now));
    }

    #[test]
    fn session_names_meet_sts_rules() {
        assert_eq!(role_session_name("ci-deployer"), "ci-deployer");
        assert_eq!(role_session_name("a"), "a.");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_one_fetch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let slot = Arc::new(Slot::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (slot, fetches) = (slot.clone(), fetches.clone());
                tokio::spawn(async move {
                    slot.get("t", || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(Credentials::new("AKIDONCE", "s", None, None, "t"))
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().access_key_id(), "AKIDONCE");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_slot_caches_and_keeps_valid_credentials_when_a_refresh_fails() {
        let slot = Slot::default();
        let soon = SystemTime::now() + Duration::from_secs(120);
        let first = slot
            .get("t", || async {
                Ok(Credentials::new("AKIDFIRST", "s", None, Some(soon), "t"))
            })
            .await
            .unwrap();
        assert_eq!(first.access_key_id(), "AKIDFIRST");
        // Within the refresh margin: a refresh is tried; it fails, the old
        // credentials are still valid and are kept.
        let kept = slot
            .get("t", || async { Err("sts is down".to_owned()) })
            .await
            .unwrap();
        assert_eq!(kept.access_key_id(), "AKIDFIRST");
        let refreshed = slot
            .get("t", || async {
                Ok(Credentials::new("AKIDSECOND", "s", None, None, "t"))
            })
            .await
            .unwrap();
        assert_eq!(refreshed.access_key_id(), "AKIDSECOND");
        // Without an expiry they are never fetched again.
        let cached = slot
            .get("t", || async { panic!("must not refetch") })
            .await
            .unwrap();
        assert_eq!(cached.access_key_id(), "AKIDSECOND");

        let empty = Slot::default();
        assert_eq!(
            empty
                .get("t", || async { Err("nothing".to_owned()) })
                .await
                .unwrap_err(),
            "nothing"
        );
    }
}
