//! The policy and callers in force, and how they are replaced: read both
//! files, validate each, swap atomically. A request keeps the snapshot it
//! started with. An invalid policy leaves the old one in force; an invalid
//! callers file leaves in force only the callers it still lists, so a
//! failed reload never keeps a removed caller alive. The watcher installs a
//! changed file only once its content has settled, never half-written.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ring::digest;

use crate::auth::CallerDirectory;
use crate::callers::{self, Callers};
use crate::policy::{self, Policy};
use crate::policy_tools;
use crate::proxy::config::{CallerSource, Config};
use crate::proxy::file_trust;
use crate::proxy::log;
use crate::proxy::metrics::{Metrics, ReloadResult};

/// Everything a decision depends on that can change without a restart.
pub struct Snapshot {
    pub policy: Arc<Policy>,
    pub callers: CallerDirectory,
    /// The first 12 hex digits of the policy file's SHA-256.
    pub revision: String,
    /// Warnings about this policy with these callers: rules that name a
    /// caller the callers file lacks (such a name never matches).
    pub warnings: Vec<String>,
    /// The policy file's bytes (UTF-8, checked), for warnings' positions:
    /// the same allocation as the [`FileRead`] they were compiled from,
    /// so a 3 MB policy is not held twice.
    policy_text: Bytes,
}

/// A file's bytes, shared. An `Arc<Vec<u8>>` rather than an `Arc<[u8]>`,
/// which would be a copy of the bytes read.
type Bytes = Arc<Vec<u8>>;

/// One file as read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FileRead {
    /// The bytes, or why they could not be read: shared with the snapshot
    /// compiled from them.
    content: Result<Bytes, String>,
    /// The file the path resolves to through any symlinks: when it changes,
    /// a symlink was swapped (as Kubernetes updates ConfigMap and Secret
    /// volumes), which replaces the file whole.
    resolved: Option<PathBuf>,
    /// Why the content, though read, may not be trusted (the callers
    /// file's owner or permissions).
    refused: Option<String>,
}

impl FileRead {
    fn of(path: &Path, what: &str) -> FileRead {
        FileRead {
            content: read(path, what),
            resolved: std::fs::canonicalize(path).ok(),
            refused: None,
        }
    }

    /// The content, when it can be used.
    fn usable(&self) -> Result<&Bytes, String> {
        match (&self.content, &self.refused) {
            (_, Some(why)) => Err(why.clone()),
            (Err(why), None) => Err(why.clone()),
            (Ok(bytes), None) => Ok(bytes),
        }
    }

    fn same_content(&self, other: &FileRead) -> bool {
        self.content == other.content && self.refused == other.refused
    }
}

/// The policy and callers files as read at one moment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sources {
    policy: FileRead,
    /// `None` with `callers: none`.
    callers: Option<FileRead>,
}

impl Sources {
    /// Reads the policy and callers files named by the config. A file that
    /// cannot be read is recorded as such, for the reload to act on.
    pub fn read(config: &Config) -> Sources {
        Sources {
            policy: FileRead::of(&config.policy_path, "policy file"),
            callers: match &config.callers {
                CallerSource::File(path) => Some(read_callers_file(path)),
                CallerSource::Trusted(_) => None,
            },
        }
    }

    fn files(&self) -> impl Iterator<Item = &FileRead> {
        std::iter::once(&self.policy).chain(&self.callers)
    }

    fn same_content(&self, other: &Sources) -> bool {
        self.files()
            .zip(other.files())
            .all(|(a, b)| a.same_content(b))
    }

    /// Whether a file's path now resolves to another file than in `before`.
    fn swapped_since(&self, before: &Sources) -> bool {
        self.files()
            .zip(before.files())
            .any(|(a, b)| a.resolved != b.resolved)
    }
}

/// Pure: validates both files and builds the snapshot to start with. Any
/// problem in either file is an error.
pub fn compile(config: &Config, sources: &Sources) -> Result<Snapshot, String> {
    let callers = match (&config.callers, &sources.callers) {
        (CallerSource::File(path), Some(read)) => {
            CallerDirectory::Callers(compile_callers(path, read)?)
        }
        (CallerSource::Trusted(name), _) => CallerDirectory::Trusted(name.clone()),
        (CallerSource::File(path), None) => {
            return Err(format!(
                "the callers file `{}` was not read",
                path.display()
            ))
        }
    };
    let (policy, text) = compile_policy(config, &sources.policy)?;
    Ok(snapshot(config, Arc::new(policy), text, callers))
}

fn snapshot(
    config: &Config,
    policy: Arc<Policy>,
    policy_text: Bytes,
    callers: CallerDirectory,
) -> Snapshot {
    // Checked when it was compiled; were it not UTF-8, there would be no
    // warnings to place.
    let text = std::str::from_utf8(&policy_text).unwrap_or_default();
    let names: Vec<&str> = match &callers {
        CallerDirectory::Callers(callers) => callers.names().collect(),
        CallerDirectory::Trusted(trusted) => vec![trusted.name.as_str()],
    };
    let file = config.policy_path.display().to_string();
    let tags = match &callers {
        CallerDirectory::Callers(callers) => callers.tags(),
        CallerDirectory::Trusted(trusted) => vec![(trusted.name.as_str(), &trusted.tags)],
    };
    let warnings = policy_tools::caller_warnings(&file, text, &policy, &names)
        .into_iter()
        .chain(policy_tools::caller_tag_warnings(
            &file, text, &policy, &tags,
        ))
        .chain(policy_tools::expiry_warnings(
            &file,
            text,
            &policy,
            crate::proxy::log::unix_now(),
        ))
        .map(|warning| warning.text)
        .collect();
    drop(tags);
    drop(names);
    Snapshot {
        revision: revision(&policy_text),
        policy,
        callers,
        warnings,
        policy_text,
    }
}

fn compile_policy(config: &Config, read: &FileRead) -> Result<(Policy, Bytes), String> {
    let bytes = read.usable()?;
    let text = utf8(bytes, &config.policy_path)?;
    let policy = policy::compile(&config.policy_path.display().to_string(), text)
        .map_err(|e| e.to_string())?;
    Ok((policy, bytes.clone()))
}

fn compile_callers(path: &Path, read: &FileRead) -> Result<Callers, String> {
    let bytes = read.usable()?;
    callers::compile(&path.display().to_string(), utf8(bytes, path)?).map_err(|e| e.to_string())
}

/// What a reload makes of the files: the snapshot to install (always: even
/// a failed reload can revoke callers), and what failed.
struct Update {
    snapshot: Snapshot,
    errors: Vec<String>,
    /// Callers in force before that the new snapshot no longer has.
    removed_callers: Vec<String>,
}

/// Pure: each file that validates replaces its part of `current`. A policy
/// that does not leaves the current policy in force. A callers file that
/// does not leaves in force only the current callers it still lists (see
/// [`Callers::still_listed_in`]).
fn update(config: &Config, current: &Snapshot, sources: &Sources) -> Update {
    let mut errors = Vec::new();
    let callers = match (&config.callers, &sources.callers, &current.callers) {
        (CallerSource::Trusted(name), _, _) => CallerDirectory::Trusted(name.clone()),
        (CallerSource::File(path), Some(read), in_force) => match compile_callers(path, read) {
            Ok(callers) => CallerDirectory::Callers(callers),
            Err(e) => {
                errors.push(e);
                let text = read
                    .content
                    .as_deref()
                    .map(|bytes| String::from_utf8_lossy(bytes))
                    .unwrap_or_default();
                CallerDirectory::Callers(match in_force {
                    CallerDirectory::Callers(old) => old.still_listed_in(&text).0,
                    CallerDirectory::Trusted(_) => Callers::default(),
                })
            }
        },
        (CallerSource::File(path), None, _) => {
            errors.push(format!(
                "the callers file `{}` was not read",
                path.display()
            ));
            CallerDirectory::Callers(Callers::default())
        }
    };
    let removed_callers = match (&current.callers, &callers) {
        (CallerDirectory::Callers(old), CallerDirectory::Callers(new)) => {
            let kept: Vec<&str> = new.names().collect();
            old.names()
                .filter(|name| !kept.contains(name))
                .map(str::to_owned)
                .collect()
        }
        _ => Vec::new(),
    };
    let (policy, text) = match compile_policy(config, &sources.policy) {
        Ok((policy, text)) => (Arc::new(policy), text),
        Err(e) => {
            errors.push(e);
            (current.policy.clone(), current.policy_text.clone())
        }
    };
    Update {
        snapshot: snapshot(config, policy, text, callers),
        errors,
        removed_callers,
    }
}

/// Runs `work` on a thread of its own, which ends with it. Compiling a
/// policy allocates more than it keeps (4 MiB more for 10,000 rules read
/// rule by rule; a file with an error, or read by serde_yaml, is parsed
/// whole, some 70 MiB for those). The allocator keeps what a thread
/// frees for that thread's later use, and returns it to the system once
/// the thread ends; on a pool thread it would stay in the proxy's RSS.
fn on_own_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    let mut work = Some(work);
    let mut done = None;
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("eap-compile".into())
            .spawn_scoped(scope, || done = work.take().map(|work| work()));
        if let Ok(Err(panic)) = spawned.map(|thread| thread.join()) {
            std::panic::resume_unwind(panic);
        }
    });
    match (done, work) {
        (Some(done), _) => done,
        // No thread could be started: here, then.
        (None, Some(work)) => work(),
        (None, None) => unreachable!("the thread took the work, so it returned or panicked"),
    }
}

/// The first 12 hex digits of SHA-256.
pub fn revision(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA256, bytes)
        .as_ref()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn utf8<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, String> {
    std::str::from_utf8(bytes).map_err(|_| format!("`{}` is not UTF-8 text", path.display()))
}

fn read(path: &Path, what: &str) -> Result<Bytes, String> {
    std::fs::read(path)
        .map(Arc::new)
        .map_err(|e| format!("cannot read the {what} `{}`: {e}", path.display()))
}

/// The callers file holds secrets: refuse it when others could read or
/// replace it ([`file_trust`]). It is read even so, so that a refused file
/// can still revoke the callers it no longer lists.
fn read_callers_file(path: &Path) -> FileRead {
    let mut file = FileRead::of(path, "callers file");
    #[cfg(unix)]
    {
        file.refused = file_trust::callers_file_refusal(path, file.resolved.as_deref());
    }
    file
}

/// What started a reload, for the log.
#[derive(Clone, Copy, Debug)]
pub enum Trigger {
    Signal,
    Watch,
    Admin,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "sighup",
            Trigger::Watch => "file change",
            Trigger::Admin => "admin",
        }
    }
}

/// What the watcher does with the files it just read.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchStep {
    /// Nothing changed since the last reload read them.
    Unchanged,
    /// Changed, but not yet the same for the settle interval: look again
    /// after this long.
    Settling(Duration),
    /// Install these.
    Install(Sources),
}

/// The watcher's memory: a change is installed only once the files have
/// read the same for `settle`, so a file caught while being written (`cat >
/// policy.yaml`, scp, a tool writing in chunks) is never installed. A
/// symlink swap replaces a file whole, so it is installed at once. Pure:
/// the time is passed in.
pub struct Settle {
    settle: Duration,
    pending: Option<(Sources, Instant)>,
}

impl Settle {
    pub fn new(settle: Duration) -> Settle {
        Settle {
            settle,
            pending: None,
        }
    }

    /// `last`: the files as the last reload read them.
    pub fn observe(&mut self, seen: Sources, last: &Sources, now: Instant) -> WatchStep {
        if seen == *last {
            self.pending = None;
            return WatchStep::Unchanged;
        }
        if self.settle.is_zero() || seen.swapped_since(last) {
            self.pending = None;
            return WatchStep::Install(seen);
        }
        if let Some((pending, since)) = &self.pending {
            if pending.same_content(&seen) {
                let waited = now.saturating_duration_since(*since);
                if waited >= self.settle {
                    self.pending = None;
                    return WatchStep::Install(seen);
                }
                return WatchStep::Settling(self.settle - waited);
            }
        }
        self.pending = Some((seen, now));
        WatchStep::Settling(self.settle)
    }
}

/// The snapshot in force, swapped atomically.
pub struct Live {
    current: ArcSwap<Snapshot>,
    /// One reload at a time, so two triggers cannot race to install older
    /// files over newer ones.
    reloading: Mutex<()>,
    /// The files as the last reload (or the start) read them, installed or
    /// not: the watcher acts only on a change from these, so a file that
    /// failed is not retried until it changes again.
    last_read: Mutex<Sources>,
}

impl Live {
    /// Reads and validates the files to start with.
    pub fn start(config: &Config) -> Result<Live, String> {
        let sources = Sources::read(config);
        let snapshot = on_own_thread(|| compile(config, &sources))?;
        Ok(Live::new(snapshot, sources))
    }

    pub fn new(snapshot: Snapshot, sources: Sources) -> Live {
        Live {
            current: ArcSwap::from_pointee(snapshot),
            reloading: Mutex::new(()),
            last_read: Mutex::new(sources),
        }
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The files as the last reload read them.
    fn last_read_lock(&self) -> std::sync::MutexGuard<'_, Sources> {
        self.last_read.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the watcher does with the files it just read (`seen`), judged
    /// against what the last reload read, without copying that.
    pub fn watch_step(&self, settle: &mut Settle, seen: Sources, now: Instant) -> WatchStep {
        settle.observe(seen, &self.last_read_lock(), now)
    }

    /// Reads, validates and installs the files (SIGHUP, `POST /reload`:
    /// the operator says the files are complete). Returns the revision in
    /// force, or the errors.
    pub fn reload(
        &self,
        config: &Config,
        metrics: &Metrics,
        trigger: Trigger,
    ) -> Result<String, String> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        self.apply(config, metrics, trigger, Sources::read(config))
    }

    /// Installs files the watcher saw settle, unless they changed again
    /// meanwhile or another reload already read them.
    pub fn install_settled(
        &self,
        config: &Config,
        metrics: &Metrics,
        settled: Sources,
    ) -> Option<Result<String, String>> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        if *self.last_read_lock() == settled || Sources::read(config) != settled {
            return None;
        }
        Some(self.apply(config, metrics, Trigger::Watch, settled))
    }

    fn apply(
        &self,
        config: &Config,
        metrics: &Metrics,
        trigger: Trigger,
        sources: Sources,
    ) -> Result<String, String> {
        let current = self.current.load_full();
        let Update {
            snapshot,
            errors,
            removed_callers,
        } = on_own_thread(|| update(config, &current, &sources));
        *self.last_read_lock() = sources;
        let revision = snapshot.revision.clone();
        for warning in &snapshot.warnings {
            log::warn("policy warning", serde_json::json!({ "warning": warning }));
        }
        let fields = serde_json::json!({
            "trigger": trigger.as_str(),
            "revision": revision,
            "previous_revision": current.revision,
            "rules": snapshot.policy.rule_count(),
            "removed_callers": removed_callers,
        });
        self.current.store(Arc::new(snapshot));
        metrics.set_policy_revision(&revision);
        if errors.is_empty() {
            log::info("policy reloaded", fields);
            metrics.count_reload(ReloadResult::Success);
            return Ok(revision);
        }
        let mut fields = fields;
        fields["errors"] = errors.iter().flat_map(|e| e.lines()).collect();
        log::error(
            "reload failed; a file that failed keeps its previous version in force, \
             except that callers the callers file no longer lists are revoked",
            fields,
        );
        metrics.count_reload(ReloadResult::Failure);
        Err(errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config;

    const POLICY_A: &str = "rules:\n  - id: a\n    effect: allow\n    callers: [local-app]\n";
    const POLICY_B: &str = "rules:\n  - id: b\n    effect: allow\n";

    fn config() -> Config {
        config::parse(
            "proxy.yaml",
            "listen: \"127.0.0.1:8080\"\npolicy: policy.yaml\ncallers: none\ntrusted_caller: local-app\n\
             upstream:\n  endpoint: \"http://127.0.0.1:9000\"\n",
            Path::new("/nonexistent"),
        )
        .unwrap()
    }

    fn callers_config() -> Config {
        config::parse(
            "proxy.yaml",
            "listen: \"127.0.0.1:8080\"\npolicy: policy.yaml\ncallers: callers.yaml\n\
             upstream:\n  endpoint: \"http://127.0.0.1:9000\"\n",
            Path::new("/nonexistent"),
        )
        .unwrap()
    }

    fn file(text: &str) -> FileRead {
        FileRead {
            content: Ok(Arc::new(text.as_bytes().to_vec())),
            resolved: Some(PathBuf::from("/etc/proxy/file")),
            refused: None,
        }
    }

    fn sources(policy: &str) -> Sources {
        Sources {
            policy: file(policy),
            callers: None,
        }
    }

    fn with_callers(policy: &str, callers: &str) -> Sources {
        Sources {
            policy: file(policy),
            callers: Some(file(callers)),
        }
    }

    const CALLERS: &str = "callers:\n  - name: ci-deployer\n    access_key_id: AKIAEXAMPLECI0000001\n    secret_access_key: \"ci-secret-0123456789abcdef\"\n  - name: app-payments\n    access_key_id: AKIAEXAMPLEAPP000001\n    secret_access_key: \"app-secret-0123456789abcdef\"\n";
    const POLICY_NAMING_PAYMENTS: &str =
        "rules:\n  - id: payments\n    effect: allow\n    callers: [app-payments]\n";

    fn names(snapshot: &Snapshot) -> Vec<String> {
        match &snapshot.callers {
            CallerDirectory::Callers(callers) => callers.names().map(str::to_owned).collect(),
            CallerDirectory::Trusted(trusted) => vec![trusted.name.clone()],
        }
    }

    #[test]
    fn compiles_a_snapshot_with_its_revision() {
        let snapshot = compile(&config(), &sources(POLICY_A)).unwrap();
        assert_eq!(snapshot.revision, revision(POLICY_A.as_bytes()));
        assert_eq!(snapshot.revision.len(), 12);
        assert!(snapshot.revision.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(snapshot.policy.rule_ids().collect::<Vec<_>>(), ["a"]);
        assert!(snapshot.warnings.is_empty());
    }

    #[test]
    fn caller_names_the_directory_lacks_are_warnings() {
        let snapshot = compile(
            &config(),
            &sources("rules:\n  - id: a\n    effect: allow\n    callers: [local-ap]\n"),
        )
        .unwrap();
        assert_eq!(snapshot.warnings.len(), 1);
        assert!(
            snapshot.warnings[0].starts_with("/nonexistent/policy.yaml:4:5: warning: rule `a`: `callers`: `local-ap` is not a caller in the callers file"),
            "{:?}",
            snapshot.warnings
        );
        assert!(snapshot.warnings[0].contains("did you mean `local-app`?"));
        let err = compile(
            &config(),
            &Sources {
                policy: FileRead {
                    content: Ok(Arc::new(vec![0xff])),
                    resolved: None,
                    refused: None,
                },
                callers: None,
            },
        )
        .err()
        .unwrap();
        assert!(err.contains("is not UTF-8 text"), "{err}");
    }

    #[test]
    fn removing_a_caller_revokes_it_though_rules_still_name_it() {
        let config = callers_config();
        let metrics = Metrics::new().unwrap();
        let start_again = || with_callers(POLICY_NAMING_PAYMENTS, CALLERS);
        let start = start_again();
        let live = Live::new(compile(&config, &start).unwrap(), start);
        let without = CALLERS
            .split("  - name: app-payments")
            .next()
            .unwrap()
            .to_owned();
        // Installed as a reload installs it: a success, with a warning.
        let installed = live.apply(
            &config,
            &metrics,
            Trigger::Admin,
            with_callers(POLICY_NAMING_PAYMENTS, &without),
        );
        assert_eq!(installed, Ok(revision(POLICY_NAMING_PAYMENTS.as_bytes())));
        let current = live.current();
        assert_eq!(names(&current), ["ci-deployer"]);
        assert!(current.warnings[0].contains(
            "`app-payments` is not a caller in the callers file, so the rule can never match"
        ));
        assert!(metrics
            .render()
            .contains("elasticache_authz_proxy_policy_reloads_total{result=\"success\"} 1"));
        let update = update(&config, &current, &start_again());
        assert_eq!(update.removed_callers, Vec::<String>::new());
    }

    #[test]
    fn a_callers_file_that_fails_keeps_only_the_callers_it_still_lists() {
        let config = callers_config();
        let start = with_callers(POLICY_NAMING_PAYMENTS, CALLERS);
        let current = compile(&config, &start).unwrap();
        // app-payments removed, and a mistake that makes the file invalid.
        let broken = CALLERS.replace(
            "  - name: app-payments\n    access_key_id: AKIAEXAMPLEAPP000001\n",
            "  - nmae: oops\n",
        );
        let update = update(&config, &current, &with_callers(POLICY_B, &broken));
        assert_eq!(update.errors.len(), 1, "{:?}", update.errors);
        assert!(update.errors[0].contains("unknown key `nmae`"));
        assert_eq!(names(&update.snapshot), ["ci-deployer"]);
        assert_eq!(update.removed_callers, ["app-payments"]);
        // The valid policy file is installed all the same.
        assert_eq!(update.snapshot.revision, revision(POLICY_B.as_bytes()));

        // A callers file that cannot be read revokes everyone; an invalid
        // policy keeps the one in force.
        let unreadable = Sources {
            policy: file("rules: ["),
            callers: Some(FileRead {
                content: Err("cannot read the callers file: gone".into()),
                resolved: None,
                refused: None,
            }),
        };
        let update = super::update(&config, &current, &unreadable);
        assert_eq!(update.errors.len(), 2, "{:?}", update.errors);
        assert!(names(&update.snapshot).is_empty());
        assert_eq!(update.snapshot.revision, current.revision);
        assert_eq!(
            update.snapshot.policy.rule_ids().collect::<Vec<_>>(),
            ["payments"]
        );

        // A refused file (say, others may write it) installs nothing, and
        // still revokes whom it no longer lists.
        let mut refused = file(&CALLERS.replace("ci-deployer", "ci-deployer-2"));
        refused.refused = Some("the callers file is writable by others".into());
        let update = super::update(
            &config,
            &current,
            &Sources {
                policy: file(POLICY_NAMING_PAYMENTS),
                callers: Some(refused),
            },
        );
        assert_eq!(update.errors, ["the callers file is writable by others"]);
        assert_eq!(names(&update.snapshot), ["app-payments"]);
    }

    #[test]
    fn a_file_is_installed_once_it_has_settled() {
        let t0 = Instant::now();
        let settle = Duration::from_secs(1);
        let mut watch = Settle::new(settle);
        let last = sources(POLICY_A);
        assert_eq!(
            watch.observe(sources(POLICY_A), &last, t0),
            WatchStep::Unchanged
        );
        // Half written, then complete: each new content restarts the clock.
        let half = &POLICY_B[..10];
        assert_eq!(
            watch.observe(sources(half), &last, t0),
            WatchStep::Settling(settle)
        );
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(
            watch.observe(sources(POLICY_B), &last, at(400)),
            WatchStep::Settling(settle)
        );
        assert_eq!(
            watch.observe(sources(POLICY_B), &last, at(1000)),
            WatchStep::Settling(Duration::from_millis(400))
        );
        assert_eq!(
            watch.observe(sources(POLICY_B), &last, at(1400)),
            WatchStep::Install(sources(POLICY_B))
        );
        // A symlink swap replaces the file whole: at once.
        let mut swapped = sources(POLICY_B);
        swapped.policy.resolved = Some(PathBuf::from("/etc/proxy/..2026_12_01/policy.yaml"));
        assert_eq!(
            watch.observe(swapped.clone(), &last, at(1500)),
            WatchStep::Install(swapped)
        );
        // Back to what is in force: nothing to do.
        assert_eq!(
            watch.observe(sources(POLICY_A), &last, at(1600)),
            WatchStep::Unchanged
        );
        let mut at_once = Settle::new(Duration::ZERO);
        assert_eq!(
            at_once.observe(sources(POLICY_B), &last, t0),
            WatchStep::Install(sources(POLICY_B))
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_policy_in_force() {
        let metrics = Metrics::new().unwrap();
        let live = Live::new(
            compile(&config(), &sources(POLICY_A)).unwrap(),
            sources(POLICY_A),
        );
        // The files do not exist under /nonexistent: the reload fails.
        let err = live
            .reload(&config(), &metrics, Trigger::Admin)
            .unwrap_err();
        assert!(err.contains("cannot read the policy file"), "{err}");
        assert_eq!(live.current().revision, revision(POLICY_A.as_bytes()));
        assert!(metrics
            .render()
            .contains("elasticache_authz_proxy_policy_reloads_total{result=\"failure\"} 1"));
        assert_ne!(revision(POLICY_A.as_bytes()), revision(POLICY_B.as_bytes()));
        // What was read is remembered, so the watcher does not retry it.
        assert_eq!(*live.last_read_lock(), Sources::read(&config()));
    }
}
