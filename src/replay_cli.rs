//! `replay`: reads recorded requests (the proxy's audit logs, AWS
//! CloudTrail logs of ElastiCache; plain or gzip, any number, any order),
//! decides each again under a policy (`elasticache_authz_core::replay`),
//! and prints what changes, for people or as JSON.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::caller_tags::CallerTags;
use crate::cloudtrail::{self, Identities};
use crate::policy::Policy;
use crate::policy_tools::{self, GivenTags};
use crate::replay::{self, Recorded, Report, Unreplayable};

/// What `draft` is asked.
#[derive(Debug, PartialEq, Eq)]
pub struct DraftArgs {
    pub callers: Option<PathBuf>,
    pub identities: Option<PathBuf>,
    /// Where to write: `OUT.yaml` and `OUT.test.yaml`.
    pub out: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Records decided per batch: a batch is split between the threads.
const BATCH: usize = 20_000;

/// What `replay` is asked.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplayArgs {
    pub policy: PathBuf,
    pub callers: Option<PathBuf>,
    pub identities: Option<PathBuf>,
    /// `--resource-tags`: tags of resources, for records without them.
    pub resource_tags: Option<PathBuf>,
    /// `--at`: decide every record at this time instead of its own.
    pub at: Option<String>,
    pub json: bool,
    pub files: Vec<PathBuf>,
}

/// How records are read: the identities of CloudTrail's callers, the
/// callers file's tags for records that carry none, and the tags of
/// resources for records that recorded none (`--resource-tags`).
struct Reading<'a> {
    identities: &'a Identities,
    /// By caller name: looked up once per record.
    tags: &'a HashMap<String, CallerTags>,
    fixtures: Option<&'a GivenTags>,
}

impl Reading<'_> {
    /// One record of a file: an audit line or a CloudTrail event.
    fn record(&self, value: &Value, source: String) -> Result<Recorded, (String, Unreplayable)> {
        let read = if value.get("eventSource").is_some() {
            cloudtrail::from_event(value, self.identities, source.clone())
        } else {
            replay::from_audit_line(value, source.clone())
        };
        let mut recorded = read.map_err(|why| (source, why))?;
        if recorded.caller_tags.is_empty() {
            if let Some(tags) = recorded.caller.as_ref().and_then(|c| self.tags.get(c)) {
                recorded.caller_tags = tags.clone();
            }
        }
        if let (None, Some(given)) = (&recorded.resources, self.fixtures) {
            // A resource the fixtures lack leaves the tags unknown, so that a
            // `resource_tags` rule fails closed on the record.
            recorded.resources = policy_tools::given_resources(
                recorded.action,
                &recorded.params,
                &recorded.region,
                given,
            )
            .ok();
        }
        Ok(recorded)
    }
}

/// The `--resource-tags` file: resource ids to their tags.
fn fixtures(path: Option<&Path>) -> Result<Option<GivenTags>, String> {
    let Some(path) = path else { return Ok(None) };
    let text = crate::cli::read(path, "resource tags file")?;
    serde_yaml::from_str(&text).map(Some).map_err(|_| {
        format!(
            "`{}` must be a mapping of resource ids to their tags, such as `payments-orders: {{team: payments}}`",
            path.display()
        )
    })
}

/// The identities and callers files, read.
fn inputs(
    identities: Option<&Path>,
    callers: Option<&Path>,
) -> Result<(Identities, HashMap<String, CallerTags>), String> {
    let identities = match identities {
        Some(path) => cloudtrail::Identities::compile(
            &path.display().to_string(),
            &crate::cli::read(path, "identities file")?,
        )
        .map_err(|e| e.to_string())?,
        None => Identities::default(),
    };
    let tags: HashMap<String, CallerTags> = match callers {
        Some(path) => crate::callers::compile(
            &path.display().to_string(),
            &crate::cli::read(path, "callers file")?,
        )
        .map_err(|e| e.to_string())?
        .tags()
        .into_iter()
        .map(|(name, tags)| (name.to_owned(), tags.clone()))
        .collect(),
        None => HashMap::new(),
    };
    Ok((identities, tags))
}

/// Runs `replay`; `Ok(true)` when nothing changes.
pub fn run(args: &ReplayArgs, at: Option<i64>) -> Result<bool, String> {
    let text = crate::cli::read(&args.policy, "policy file")?;
    let file = args.policy.display().to_string();
    let policy = crate::policy::compile(&file, &text).map_err(|e| e.to_string())?;
    let (identities, tags) = inputs(args.identities.as_deref(), args.callers.as_deref())?;
    let given = fixtures(args.resource_tags.as_deref())?;
    let reading = Reading {
        identities: &identities,
        tags: &tags,
        fixtures: given.as_ref(),
    };
    let progress = std::io::stderr().is_terminal() && !args.json;
    let mut report = Report::default();
    for path in &args.files {
        replay_file(&policy, &reading, path, at, &mut report, progress)?;
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    if args.json {
        println!("{}", to_json(&report, &args.files));
    } else {
        print!("{}", to_text(&report, &file));
    }
    Ok(!report.changes_anything())
}

/// Runs `draft`: writes the policy and its tests, then checks that the
/// policy passes `check --deny-warnings` and its tests, and that replaying
/// the records against it changes nothing. `Ok(false)` when one fails.
pub fn draft(args: &DraftArgs) -> Result<bool, String> {
    let (identities, tags) = inputs(args.identities.as_deref(), args.callers.as_deref())?;
    let reading = Reading {
        identities: &identities,
        tags: &tags,
        fixtures: None,
    };
    let mut records = Vec::new();
    let mut unreadable = Vec::new();
    for path in &args.files {
        let shown = path.display().to_string();
        for (number, line) in open(path)?.lines().enumerate() {
            let line = line.map_err(|e| format!("cannot read `{shown}`: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            for record in records_of(&reading, &shown, number + 1, &line) {
                match record {
                    Ok(record) => records.push(record),
                    Err(failed) => unreadable.push(failed),
                }
            }
        }
    }
    let policy_path = args.out.with_extension("yaml");
    let tests_path = args.out.with_extension("test.yaml");
    let policy_name = policy_path
        .file_name()
        .map_or_else(|| "draft.yaml".into(), |n| n.to_string_lossy().into_owned());
    let drafted = crate::draft::draft(&records, &policy_name);
    std::fs::write(&policy_path, &drafted.policy)
        .map_err(|e| format!("cannot write `{}`: {e}", policy_path.display()))?;
    std::fs::write(&tests_path, &drafted.tests)
        .map_err(|e| format!("cannot write `{}`: {e}", tests_path.display()))?;
    let shown = policy_path.display().to_string();
    let (policy, warnings) = crate::policy_tools::check(&shown, &drafted.policy, None)
        .map_err(|e| format!("the drafted policy does not load: {e}"))?;
    let suite: crate::policy_tools::TestFile = serde_yaml::from_str(&drafted.tests)
        .map_err(|e| format!("the drafted tests do not read: {e}"))?;
    let failed: Vec<String> = suite
        .tests
        .iter()
        .filter_map(|case| {
            crate::policy_tools::run_case(&policy, case, 0)
                .err()
                .map(|why| format!("{}: {why}", case.name))
        })
        .collect();
    let report = replay::replay(&policy, records.iter().cloned().map(Ok), None);
    println!(
        "{shown}: {} rules from {} requests ({} denied when recorded, not drafted from), {} could not be read; tests in {}",
        drafted.rules,
        records.len(),
        drafted.skipped_denied,
        unreadable.len(),
        tests_path.display()
    );
    for warning in &warnings {
        println!("{warning}");
    }
    for failure in &failed {
        println!("test failed: {failure}");
    }
    for (source, why) in unreadable.iter().take(replay::UNREPLAYABLE_LISTED) {
        println!("    {source}: {why}");
    }
    println!(
        "replaying the {} requests against it: {} newly denied, {} newly allowed",
        report.decided, report.newly_denied, report.newly_allowed
    );
    Ok(warnings.is_empty() && failed.is_empty() && !report.changes_anything())
}

/// Decides the records of one file, in batches split between threads.
fn replay_file(
    policy: &Policy,
    reading: &Reading<'_>,
    path: &Path,
    at: Option<i64>,
    report: &mut Report,
    progress: bool,
) -> Result<(), String> {
    let shown = path.display().to_string();
    let lines = open(path)?;
    let mut batch: Vec<(usize, String)> = Vec::with_capacity(BATCH);
    let mut lines = lines.lines().enumerate();
    loop {
        batch.clear();
        for (number, line) in lines.by_ref().take(BATCH) {
            let line = line.map_err(|e| format!("cannot read `{shown}`: {e}"))?;
            if !line.trim().is_empty() {
                batch.push((number + 1, line));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let size = batch.len().div_ceil(threads).max(1);
        let parts: Vec<Report> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .chunks(size)
                .map(|chunk| {
                    scope.spawn(|| {
                        let records = chunk
                            .iter()
                            .flat_map(|(number, line)| records_of(reading, &shown, *number, line));
                        replay::replay(policy, records, at)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for part in parts {
            report.merge(part);
        }
        if progress {
            eprint!(
                "\r\x1b[K{shown}: {} decided, {} newly denied, {} newly allowed",
                report.decided, report.newly_denied, report.newly_allowed
            );
            let _ = std::io::stderr().flush();
        }
    }
}

/// The records of one line: an audit line, a CloudTrail event, or a whole
/// CloudTrail file (`{"Records": [...]}`, which is one line or spans the
/// file: `open` joins such a file into one line).
fn records_of(
    reading: &Reading<'_>,
    shown: &str,
    number: usize,
    line: &str,
) -> Vec<Result<Recorded, (String, Unreplayable)>> {
    let value: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(e) => {
            return vec![Err((
                format!("{shown}:{number}"),
                Unreplayable::Invalid {
                    reason: format!("not a JSON record: {e}"),
                },
            ))]
        }
    };
    match value.get("Records").and_then(Value::as_array) {
        Some(events) => events
            .iter()
            .enumerate()
            .map(|(i, event)| reading.record(event, format!("{shown}:#{}", i + 1)))
            .collect(),
        None => vec![reading.record(&value, format!("{shown}:{number}"))],
    }
}

/// A file's lines, decompressed if it is gzip. A CloudTrail file as
/// delivered to S3 (one JSON document, `{"Records": [...]}`, maybe over
/// several lines) is read as one line.
fn open(path: &Path) -> Result<Box<dyn BufRead>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let mut reader = BufReader::new(file);
    let gzip = reader
        .fill_buf()
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?
        .starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    };
    let head = reader
        .fill_buf()
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let whole_document = start.is_some_and(|i| {
        let rest = &head[i..];
        rest.starts_with(b"{") && {
            let text = String::from_utf8_lossy(&rest[..rest.len().min(64)]);
            text[1..].trim_start().starts_with("\"Records\"")
        }
    });
    if !whole_document {
        return Ok(reader);
    }
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    // One line: the lines reader hands it over whole.
    Ok(Box::new(std::io::Cursor::new(text.replace('\n', " "))))
}

/// For people: totals, then each change with its examples, then what
/// could not be decided again.
fn to_text(report: &Report, policy: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{policy}: {} requests decided again, {} unchanged, {} newly denied, {} newly allowed, {} without a recorded decision, {} could not be decided again",
        report.decided,
        report.unchanged,
        report.newly_denied,
        report.newly_allowed,
        report.without_then,
        report.unreplayable
    );
    for change in &report.changes {
        let _ = writeln!(
            out,
            "{}  {:>6}  caller `{}`  {}  {}",
            change.direction.as_str(),
            change.count,
            change.caller,
            change.action,
            match change.rule.as_str() {
                "none" => "no rule allows it".to_owned(),
                rules => format!("rule {rules}"),
            }
        );
        for example in &change.examples {
            let _ = writeln!(
                out,
                "    {} {} ({}){}",
                example.request_id,
                crate::encoding::utc_text(example.time, ""),
                example.source,
                example
                    .why
                    .as_deref()
                    .map(|why| format!(": {why}"))
                    .unwrap_or_default()
            );
        }
    }
    if report.unreplayable > 0 {
        let _ = writeln!(out, "could not be decided again: {}", report.unreplayable);
        for (source, why) in &report.unreplayable_listed {
            let _ = writeln!(out, "    {source}: {why}");
        }
        let more = report.unreplayable - report.unreplayable_listed.len();
        if more > 0 {
            let _ = writeln!(out, "    and {more} more");
        }
    }
    out
}

fn to_json(report: &Report, files: &[PathBuf]) -> Value {
    json!({
        "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "decided": report.decided,
        "unchanged": report.unchanged,
        "without_recorded_decision": report.without_then,
        "newly_denied": report.newly_denied,
        "newly_allowed": report.newly_allowed,
        "changes": report.changes.iter().map(|c| json!({
            "direction": c.direction.as_str(),
            "caller": c.caller,
            "action": c.action,
            "rule": c.rule,
            "count": c.count,
            "examples": c.examples.iter().map(|e| json!({
                "request_id": e.request_id,
                "time": crate::encoding::utc_text(e.time, ""),
                "source": e.source,
                "why": e.why,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "unreplayable": report.unreplayable,
        "unreplayable_listed": report.unreplayable_listed.iter().map(|(source, why)| json!({
            "source": source,
            "why": why.to_string(),
        })).collect::<Vec<_>>(),
    })
}
