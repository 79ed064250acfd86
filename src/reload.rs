//! The policy and callers in force, and how they are replaced: read both
//! files, validate them together, swap atomically. A request keeps the
//! snapshot it started with; an invalid new file leaves the old one in force.

use std::path::Path;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use ring::digest;

use crate::auth::CallerDirectory;
use crate::callers;
use crate::config::{CallerSource, Config};
use crate::log;
use crate::metrics::Metrics;
use crate::policy::{self, Policy};

/// Everything a decision depends on that can change without a restart.
pub struct Snapshot {
    pub policy: Policy,
    pub callers: CallerDirectory,
    /// The first 12 hex digits of the policy file's SHA-256.
    pub revision: String,
    sources: Sources,
}

/// The bytes a snapshot was built from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sources {
    policy: Vec<u8>,
    callers: Option<Vec<u8>>,
}

impl Sources {
    /// Reads the policy and callers files named by the config.
    pub fn read(config: &Config) -> Result<Sources, String> {
        let callers = match &config.callers {
            CallerSource::File(path) => Some(read_callers_file(path)?),
            CallerSource::Trusted(_) => None,
        };
        Ok(Sources {
            policy: read(&config.policy_path, "policy file")?,
            callers,
        })
    }
}

/// Pure: validates the policy against the callers and builds a snapshot.
pub fn compile(config: &Config, sources: Sources) -> Result<Snapshot, String> {
    let callers = match (&config.callers, &sources.callers) {
        (CallerSource::File(path), Some(bytes)) => {
            let text = utf8(bytes, path)?;
            CallerDirectory::Callers(
                callers::compile(&path.display().to_string(), text).map_err(|e| e.to_string())?,
            )
        }
        (CallerSource::Trusted(name), _) => CallerDirectory::Trusted(name.clone()),
        (CallerSource::File(path), None) => {
            return Err(format!(
                "the callers file `{}` was not read",
                path.display()
            ))
        }
    };
    let caller_names: Vec<&str> = match &callers {
        CallerDirectory::Callers(callers) => callers.names().collect(),
        CallerDirectory::Trusted(name) => vec![name.as_str()],
    };
    let policy_name = config.policy_path.display().to_string();
    let text = utf8(&sources.policy, &config.policy_path)?;
    let policy = policy::compile_for_callers(&policy_name, text, Some(&caller_names))
        .map_err(|e| e.to_string())?;
    drop(caller_names);
    Ok(Snapshot {
        policy,
        callers,
        revision: revision(&sources.policy),
        sources,
    })
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

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} `{}`: {e}", path.display()))
}

/// The callers file holds secrets: refuse it when others could read it, as
/// ssh does with keys.
fn read_callers_file(path: &Path) -> Result<Vec<u8>, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path)
            .map_err(|e| format!("cannot read the callers file `{}`: {e}", path.display()))?;
        let mode = metadata.mode() & 0o777;
        if let Err(why) = callers_file_mode_ok(mode, metadata.uid(), effective_uid()) {
            return Err(format!(
                "the callers file `{}` holds secret keys but {why} (mode {mode:03o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    read(path, "callers file")
}

/// PostgreSQL's rule for its key file: owned by the proxy's user, no access
/// for group or others; owned by root, the group may also read (what a
/// Kubernetes Secret volume with an fsGroup gives).
pub fn callers_file_mode_ok(mode: u32, owner: u32, me: Option<u32>) -> Result<(), &'static str> {
    let forbidden = if owner == 0 && me != Some(0) {
        0o037
    } else {
        0o077
    };
    if mode & forbidden == 0 {
        Ok(())
    } else if forbidden == 0o037 {
        Err("is writable by its group or open to others")
    } else {
        Err("is readable by group or others")
    }
}

/// The process's effective user id, from /proc (no libc needed); `None`
/// where there is no /proc.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
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

/// The snapshot in force, swapped atomically.
pub struct Live {
    current: ArcSwap<Snapshot>,
    /// One reload at a time, so two triggers cannot race to install older
    /// files over newer ones.
    reloading: Mutex<()>,
    /// Sources that failed to validate: the watcher does not retry them
    /// until they change again.
    last_failed: Mutex<Option<Sources>>,
}

impl Live {
    pub fn new(snapshot: Snapshot) -> Live {
        Live {
            current: ArcSwap::from_pointee(snapshot),
            reloading: Mutex::new(()),
            last_failed: Mutex::new(None),
        }
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Reads, validates and installs the files. Returns the revision in
    /// force, or the errors (the old snapshot stays).
    pub fn reload(
        &self,
        config: &Config,
        metrics: &Metrics,
        trigger: Trigger,
    ) -> Result<String, String> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let sources = Sources::read(config);
        if let (Trigger::Watch, Ok(sources)) = (trigger, &sources) {
            let unchanged = self.current.load().sources == *sources;
            let failed_before = self
                .last_failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                == Some(sources);
            if unchanged || failed_before {
                return Ok(self.current.load().revision.clone());
            }
        }
        let result = sources.clone().and_then(|sources| compile(config, sources));
        match result {
            Ok(snapshot) => {
                let revision = snapshot.revision.clone();
                let previous = self.current.load().revision.clone();
                log::info(
                    "policy reloaded",
                    serde_json::json!({
                        "trigger": trigger.as_str(),
                        "revision": revision,
                        "previous_revision": previous,
                        "rules": snapshot.policy.rule_count(),
                    }),
                );
                self.current.store(Arc::new(snapshot));
                *self.last_failed.lock().unwrap_or_else(|e| e.into_inner()) = None;
                metrics.policy_reloads.with_label_values(&["success"]).inc();
                metrics.set_policy_revision(&revision);
                Ok(revision)
            }
            Err(errors) => {
                log::error(
                    "reload failed; the previous policy stays in force",
                    serde_json::json!({
                        "trigger": trigger.as_str(),
                        "errors": errors.lines().collect::<Vec<_>>(),
                        "revision_in_force": self.current.load().revision,
                    }),
                );
                if let Ok(sources) = sources {
                    *self.last_failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(sources);
                }
                metrics.policy_reloads.with_label_values(&["failure"]).inc();
                Err(errors)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

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

    fn sources(policy: &str) -> Sources {
        Sources {
            policy: policy.as_bytes().to_vec(),
            callers: None,
        }
    }

    #[test]
    fn compiles_a_snapshot_with_its_revision() {
        let snapshot = compile(&config(), sources(POLICY_A)).unwrap();
        assert_eq!(snapshot.revision, revision(POLICY_A.as_bytes()));
        assert_eq!(snapshot.revision.len(), 12);
        assert!(snapshot.revision.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(snapshot.policy.rule_ids().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn checks_caller_names_against_the_directory() {
        let err = compile(
            &config(),
            sources("rules:\n  - id: a\n    effect: allow\n    callers: [local-ap]\n"),
        )
        .err()
        .unwrap();
        assert!(err.contains("did you mean `local-app`?"), "{err}");
        let err = compile(
            &config(),
            Sources {
                policy: vec![0xff],
                callers: None,
            },
        )
        .err()
        .unwrap();
        assert!(err.contains("is not UTF-8 text"), "{err}");
    }

    #[test]
    fn callers_file_permissions() {
        let me = Some(1000);
        assert!(callers_file_mode_ok(0o600, 1000, me).is_ok());
        assert!(callers_file_mode_ok(0o400, 1000, me).is_ok());
        assert!(callers_file_mode_ok(0o640, 1000, me).is_err());
        assert!(callers_file_mode_ok(0o604, 1000, me).is_err());
        // Root-owned, group-readable: a Kubernetes Secret with an fsGroup.
        assert!(callers_file_mode_ok(0o440, 0, me).is_ok());
        assert!(callers_file_mode_ok(0o640, 0, me).is_ok());
        assert!(callers_file_mode_ok(0o660, 0, me).is_err());
        assert!(callers_file_mode_ok(0o444, 0, me).is_err());
        // The proxy running as root gets the strict rule.
        assert!(callers_file_mode_ok(0o440, 0, Some(0)).is_err());
        assert!(callers_file_mode_ok(0o600, 0, None).is_ok());
        assert!(effective_uid().is_some());
    }

    #[test]
    fn a_failed_reload_keeps_the_snapshot_in_force() {
        let metrics = Metrics::new().unwrap();
        let live = Live::new(compile(&config(), sources(POLICY_A)).unwrap());
        // The files do not exist under /nonexistent: the reload fails.
        let err = live
            .reload(&config(), &metrics, Trigger::Admin)
            .unwrap_err();
        assert!(err.contains("cannot read the policy file"), "{err}");
        assert_eq!(live.current().revision, revision(POLICY_A.as_bytes()));
        assert_eq!(
            metrics.policy_reloads.with_label_values(&["failure"]).get(),
            1
        );
        assert_ne!(revision(POLICY_A.as_bytes()), revision(POLICY_B.as_bytes()));
    }
}
