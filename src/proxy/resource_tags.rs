//! The tags of the resources a request names, for `resource_tags` rules:
//! looked up with ListTagsForResource, signed as the proxy and sent to its
//! upstream, before the decision, which only compares them.
//!
//! Lookups are cached per ARN for `cache_ttl`, counted from when the lookup
//! started, so no answer is reused past that bound; a retag or a delete
//! that passes through the proxy drops the entries of what it named at
//! once. Concurrent requests for one resource share one lookup. A failed
//! lookup is never cached and fails the request (503, retryable), and a
//! resource that does not exist has no tags, which is not cached either:
//! it may be created next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::HeaderMap;
use tokio::sync::OnceCell;

use crate::error::{ResourceError, ServiceError};
use crate::facts::{ResourceFact, ResourceFacts, ResourceState};
use crate::model::{AccountId, Action, Region};
use crate::proxy::config::ResourceTagsConfig;
use crate::proxy::upstream::{ProxyCredentials, Upstream};
use crate::request::{self, ElastiCacheRequest, HttpParts, SingleHeader};
use crate::resources::{self, NamedResource};
use crate::tag_list::{self, TagAnswer};
use crate::text::quoted;

/// A resource's tags as looked up, shared by the requests that wait on it.
type Looked = Result<Found, String>;

#[derive(Clone, Debug)]
struct Found {
    tags: Arc<Vec<(String, String)>>,
    /// False for a resource that does not exist: its (empty) tags are not
    /// kept, as it may be created next.
    exists: bool,
}

struct Entry {
    started: Instant,
    cell: Arc<OnceCell<Looked>>,
}

/// How a request's lookups went, for the metrics.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LookupOutcome {
    /// Answered from the cache.
    Hit,
    /// Looked up (or waited on another request's lookup).
    Miss,
    Failed,
}

impl LookupOutcome {
    pub const ALL: [LookupOutcome; 3] = [
        LookupOutcome::Hit,
        LookupOutcome::Miss,
        LookupOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LookupOutcome::Hit => "hit",
            LookupOutcome::Miss => "miss",
            LookupOutcome::Failed => "failed",
        }
    }
}

/// The cache of resources' tags.
pub struct TagLookups {
    config: ResourceTagsConfig,
    entries: Mutex<HashMap<String, Entry>>,
    /// The proxy's account, from the config or learned once.
    account: OnceCell<AccountId>,
}

impl TagLookups {
    pub fn new(config: ResourceTagsConfig, account: Option<AccountId>) -> TagLookups {
        let cell = OnceCell::new();
        if let Some(account) = account {
            let _ = cell.set(account);
        }
        TagLookups {
            config,
            entries: Mutex::new(HashMap::new()),
            account: cell,
        }
    }

    /// The proxy's account id: configured, or learned with `learn` the first
    /// time it is needed (and again after a failure).
    pub async fn account<F, Fut>(&self, learn: F) -> Result<AccountId, ResourceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<AccountId, String>>,
    {
        self.account
            .get_or_try_init(learn)
            .await
            .cloned()
            .map_err(|e| {
                crate::proxy::log::error(
                    "cannot learn the proxy's account id from STS",
                    serde_json::json!({ "error": e }),
                );
                ResourceError::NoAccount
            })
    }

    /// The facts the decision needs: every resource the request names,
    /// with its tags. `lookup` asks AWS for one resource's.
    pub async fn facts<F, Fut>(
        &self,
        action: Action,
        request: &ElastiCacheRequest,
        region: &Region,
        account: &AccountId,
        lookup: F,
        mut observe: impl FnMut(LookupOutcome, Duration),
    ) -> Result<ResourceFacts, ResourceError>
    where
        F: Fn(NamedResource) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<(String, String)>, bool), String>>,
    {
        let named = resources::existing_resources(action, &request.params, region, account)
            .map_err(ResourceError::Unnamed)?;
        let taggable = named.iter().filter(|r| r.arn.is_some()).count();
        if taggable > self.config.max_per_request {
            return Err(ResourceError::TooMany {
                count: taggable,
                limit: self.config.max_per_request,
            });
        }
        // One at a time: a request names few resources, and each lookup is
        // bounded by the upstream timeout.
        let mut facts = ResourceFacts::default();
        for resource in named {
            let state = match resource.arn.clone() {
                None => ResourceState::Untaggable,
                Some(arn) => {
                    let started = Instant::now();
                    let looking = || async {
                        lookup(resource.clone()).await.map(|(tags, exists)| Found {
                            tags: Arc::new(tags),
                            exists,
                        })
                    };
                    let (looked, outcome) = self.tags(&arn, looking).await;
                    observe(outcome, started.elapsed());
                    let found = looked.map_err(|reason| ResourceError::LookupFailed {
                        resource: format!("{} {}", resource.kind.describe(), quoted(&resource.id)),
                        reason,
                    })?;
                    ResourceState::Tags(found.tags.as_ref().clone())
                }
            };
            facts.resources.push(ResourceFact { resource, state });
        }
        Ok(facts)
    }

    /// One resource's tags: from the cache while fresh, else from `lookup`,
    /// shared with any request waiting on the same resource.
    async fn tags<F, Fut>(&self, arn: &str, lookup: F) -> (Looked, LookupOutcome)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Looked>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let fresh = entries
                .get(arn)
                .filter(|e| e.started.elapsed() < self.config.cache_ttl)
                .map(|e| Arc::clone(&e.cell));
            match fresh {
                Some(cell) => cell,
                None => {
                    self.make_room(&mut entries);
                    let cell = Arc::new(OnceCell::new());
                    entries.insert(
                        arn.to_owned(),
                        Entry {
                            started: Instant::now(),
                            cell: Arc::clone(&cell),
                        },
                    );
                    cell
                }
            }
        };
        let hit = cell.initialized();
        let looked = cell.get_or_init(lookup).await.clone();
        let keep = matches!(&looked, Ok(found) if found.exists) && !self.config.cache_ttl.is_zero();
        if !keep {
            // Only the entry this lookup made: a newer one may be there.
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries
                .get(arn)
                .is_some_and(|e| Arc::ptr_eq(&e.cell, &cell))
            {
                entries.remove(arn);
            }
        }
        let outcome = match (&looked, hit) {
            (Err(_), _) => LookupOutcome::Failed,
            (Ok(_), true) => LookupOutcome::Hit,
            (Ok(_), false) => LookupOutcome::Miss,
        };
        (looked, outcome)
    }

    /// Drops expired entries when the cache is full, then the oldest.
    fn make_room(&self, entries: &mut HashMap<String, Entry>) {
        if entries.len() < self.config.max_cached {
            return;
        }
        let ttl = self.config.cache_ttl;
        entries.retain(|_, e| e.started.elapsed() < ttl);
        while entries.len() >= self.config.max_cached {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.started)
                .map(|(arn, _)| arn.clone())
            else {
                break;
            };
            entries.remove(&oldest);
        }
    }

    /// Forgets the tags of the resources a request names that can change
    /// them (a retag, an untag, a delete), once it went upstream.
    pub fn forget(&self, action: Action, request: &ElastiCacheRequest, region: &Region) {
        if !changes_tags(action) {
            return;
        }
        let Some(account) = self.account.get() else {
            return;
        };
        let Ok(named) = resources::existing_resources(action, &request.params, region, account)
        else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for arn in named.iter().filter_map(|r| r.arn.as_deref()) {
            entries.remove(arn);
        }
    }

    /// How many resources' tags are kept now.
    pub fn cached(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Whether a request of `action` can change what a resource's tags are:
/// they are changed, or the resource goes away with them.
fn changes_tags(action: Action) -> bool {
    let name = action.name();
    matches!(name, "AddTagsToResource" | "RemoveTagsFromResource") || name.starts_with("Delete")
}

/// Asks AWS for one resource's tags: ListTagsForResource, signed as the
/// proxy, to the upstream of the resource's region.
pub async fn list_tags(
    upstream: &Upstream,
    credentials: &ProxyCredentials,
    resource: &NamedResource,
) -> Result<(Vec<(String, String)>, bool), String> {
    let arn = resource
        .arn
        .as_deref()
        .ok_or("the resource cannot carry tags")?;
    let body = crate::form::encode([
        ("Action", "ListTagsForResource"),
        ("Version", crate::model::API_VERSION),
        ("ResourceName", arn),
    ]);
    let (lookup, _) = request::parse(&HttpParts {
        method: "POST",
        path: "/",
        query: None,
        content_type: SingleHeader::One("application/x-www-form-urlencoded; charset=utf-8"),
        body: body.as_bytes(),
    })
    .map_err(|e| format!("cannot build the lookup: {e}"))?;
    let answer = upstream
        .forward(&lookup, &resource.region, &HeaderMap::new(), credentials)
        .await
        .map_err(|e: ServiceError| crate::error::Rejection::from(e).answer().message)?;
    let text =
        std::str::from_utf8(&answer.body).map_err(|_| "the answer is not UTF-8".to_owned())?;
    match tag_list::read(answer.status.as_u16(), text)? {
        TagAnswer::Tags(tags) => Ok((tags, true)),
        TagAnswer::NotFound => Ok((Vec::new(), false)),
        TagAnswer::Error { code, message } => Err(format!("AWS answered `{code}`: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn lookups(ttl: Duration, max_cached: usize) -> TagLookups {
        TagLookups::new(
            ResourceTagsConfig {
                cache_ttl: ttl,
                max_cached,
                max_per_request: 3,
            },
            AccountId::parse("123456789012"),
        )
    }

    fn found(team: &str, exists: bool) -> Looked {
        Ok(Found {
            tags: Arc::new(vec![("team".into(), team.into())]),
            exists,
        })
    }

    #[tokio::test]
    async fn cached_for_the_ttl_and_shared_by_concurrent_requests() {
        let cache = lookups(Duration::from_secs(60), 100);
        let calls = AtomicUsize::new(0);
        let lookup = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            found("payments", true)
        };
        let (a, b) = tokio::join!(cache.tags("arn:1", lookup), cache.tags("arn:1", lookup));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one lookup for both");
        assert!(a.0.is_ok() && b.0.is_ok());
        let (_, outcome) = cache.tags("arn:1", lookup).await;
        assert_eq!(outcome, LookupOutcome::Hit);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A failure is not kept; a missing resource neither.
        let (looked, outcome) = cache
            .tags("arn:2", || async { Err("throttled".to_owned()) })
            .await;
        assert!(looked.is_err());
        assert_eq!(outcome, LookupOutcome::Failed);
        let (_, outcome) = cache.tags("arn:2", || async { found("x", false) }).await;
        assert_eq!(outcome, LookupOutcome::Miss);
        let (_, outcome) = cache.tags("arn:2", || async { found("x", true) }).await;
        assert_eq!(outcome, LookupOutcome::Miss);
        assert_eq!(cache.cached(), 2);
    }

    #[tokio::test]
    async fn no_entry_outlives_the_ttl_and_the_cache_is_bounded() {
        let cache = lookups(Duration::from_millis(30), 2);
        let (_, first) = cache.tags("arn:1", || async { found("a", true) }).await;
        assert_eq!(first, LookupOutcome::Miss);
        tokio::time::sleep(Duration::from_millis(40)).await;
        let (looked, outcome) = cache.tags("arn:1", || async { found("b", true) }).await;
        assert_eq!(outcome, LookupOutcome::Miss, "expired");
        assert_eq!(looked.unwrap().tags[0].1, "b");
        for arn in ["arn:2", "arn:3", "arn:4"] {
            let _ = cache.tags(arn, || async { found("c", true) }).await;
        }
        assert!(cache.cached() <= 2);
        // `off`: nothing is kept.
        let off = lookups(Duration::ZERO, 10);
        let _ = off.tags("arn:1", || async { found("a", true) }).await;
        assert_eq!(off.cached(), 0);
    }

    #[tokio::test]
    async fn a_retag_or_delete_through_the_proxy_forgets_at_once() {
        let cache = lookups(Duration::from_secs(60), 100);
        let region = Region::parse("eu-west-1").unwrap();
        let arn = "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:payments-a";
        let _ = cache.tags(arn, || async { found("payments", true) }).await;
        let parse = |query: &str| request::parse_query(query).unwrap().0;
        let modify =
            parse("Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-a");
        cache.forget(modify.action, &modify, &region);
        assert_eq!(cache.cached(), 1, "a modify changes no tags");
        let retag = parse(&format!("Action=AddTagsToResource&Version=2015-02-02&ResourceName={arn}&Tags.Tag.1.Key=team&Tags.Tag.1.Value=orders"));
        cache.forget(retag.action, &retag, &region);
        assert_eq!(cache.cached(), 0);
        let _ = cache.tags(arn, || async { found("payments", true) }).await;
        let delete =
            parse("Action=DeleteReplicationGroup&Version=2015-02-02&ReplicationGroupId=payments-a");
        cache.forget(delete.action, &delete, &region);
        assert_eq!(cache.cached(), 0);
    }

    #[tokio::test]
    async fn too_many_resources_and_failures_are_rejections() {
        let cache = lookups(Duration::from_secs(60), 100);
        let region = Region::parse("eu-west-1").unwrap();
        let account = AccountId::parse("123456789012").unwrap();
        let (request, _) = request::parse_query("Action=CreateUserGroup&Version=2015-02-02&UserGroupId=g&Engine=redis&UserIds.member.1=a&UserIds.member.2=b&UserIds.member.3=c&UserIds.member.4=d")
        .unwrap();
        let err = cache
            .facts(
                request.action,
                &request,
                &region,
                &account,
                |_| async { Ok((Vec::new(), true)) },
                |_, _| {},
            )
            .await
            .unwrap_err();
        assert_eq!(err, ResourceError::TooMany { count: 4, limit: 3 });
        let (request, _) =
            request::parse_query("Action=DeleteUser&Version=2015-02-02&UserId=a").unwrap();
        let mut outcomes = Vec::new();
        let err = cache
            .facts(
                request.action,
                &request,
                &region,
                &account,
                |_| async { Err("AWS answered `Throttling`: slow down".to_owned()) },
                |outcome, _| outcomes.push(outcome),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ResourceError::LookupFailed {
                resource: "user `a`".into(),
                reason: "AWS answered `Throttling`: slow down".into()
            }
        );
        assert_eq!(outcomes, [LookupOutcome::Failed]);
        let facts = cache
            .facts(
                request.action,
                &request,
                &region,
                &account,
                |_| async { Ok((vec![("team".to_owned(), "ops".to_owned())], true)) },
                |_, _| {},
            )
            .await
            .unwrap();
        assert_eq!(
            facts.resources[0].state,
            ResourceState::Tags(vec![("team".into(), "ops".into())])
        );
    }
}
