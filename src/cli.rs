//! Command-line entry: parse arguments, read files, run a command. Output
//! is plain text for people (`--json` where machines read it); exit codes:
//! 0 ok, 1 failure (errors, failed tests), 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::callers;
use crate::decision::DenialDetail;
use crate::diagnostics;
use crate::lint::WarningKind;
use crate::policy_tools::{self, TestFile, Warning};
use crate::proxy::identity::UpstreamIdentity;
use crate::proxy::{self, config, listener, reload};
use crate::replay_cli::{DraftArgs, ReplayArgs};
use crate::text::did_you_mean;

const DEFAULT_CONFIG: &str = "config/proxy.yaml";

const USAGE: &str = "\
elasticache-authz-proxy: a policy-enforcing proxy for the Amazon ElastiCache Query API

usage:
  elasticache-authz-proxy serve [--config FILE]
      run the proxy (default config: config/proxy.yaml)
  elasticache-authz-proxy check --policy FILE [--callers FILE] [--deny-warnings[=KIND,...]]
      validate a policy, print every error and warning; with --deny-warnings,
      fail on any warning, or only on those of the kinds named (never-matches,
      lowercase-pattern, matches-anything, shadowed-allow, unknown-caller,
      open-parameters, dodged-by-default, any-in-allow, inherits-settings,
      unknown-caller-tag, no-resource-to-check, expired, expires-soon)
  elasticache-authz-proxy explain --policy FILE --region REGION [--caller NAME] [--callers FILE]
                                 [--caller-tags '{KEY: VALUE}'] [--resource-tags '{ID: {KEY: VALUE}}']
                                 [--at TIME] [--denial-detail caller|full] [--json] 'Action=...&...'
      decide one request and show why, and the error a denied caller gets; the
      caller's tags are --caller-tags, or else its tags in the callers file, and
      --resource-tags gives the tags of the resources the request names
  elasticache-authz-proxy replay --policy FILE [--callers FILE] [--identities FILE] [--at TIME]
                                [--resource-tags FILE] [--json] LOG...
      decide recorded requests again under a policy and report what changes:
      the proxy's audit logs and AWS CloudTrail logs of ElastiCache (plain or
      gzip); exit status 1 when a decision changes
  elasticache-authz-proxy draft [--out NAME] [--callers FILE] [--identities FILE] LOG...
      write a starting policy from recorded requests (NAME.yaml, default
      draft.yaml) and a test file of them (NAME.test.yaml): a closed rule per
      caller and action, allowing the values each used
  elasticache-authz-proxy test PATH... [--at TIME]
      run the policy tests in *.test.yaml files (folders are searched), at
      TIME (RFC 3339; by default now) for cases without an `at` of their own
  elasticache-authz-proxy --help | --version
      this text (also after any command), or the version and the service model

examples:
  elasticache-authz-proxy serve --config config/proxy.yaml
  elasticache-authz-proxy check --policy policies/example.yaml --deny-warnings
  elasticache-authz-proxy explain --policy policies/example.yaml --region us-east-1 \\
      'Action=DescribeCacheClusters&Version=2015-02-02'
  elasticache-authz-proxy test policies/tests

Exit status: 0 on success (for `test`, every test passed; for `replay`, no
decision changed), 1 when `check` finds errors, a test fails or a replayed
decision changes, 2 for a usage error.

The proxy signs forwarded requests with its own AWS identity, found as the AWS
SDKs find it: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN),
a shared profile (AWS_PROFILE), web identity (EKS IRSA), ECS container or EC2
instance credentials.";

/// Which warnings make `check` fail.
#[derive(Debug, PartialEq, Eq)]
enum DenyWarnings {
    None,
    All,
    Kinds(Vec<WarningKind>),
}

impl DenyWarnings {
    /// `--deny-warnings` alone, or `--deny-warnings=KIND,KIND`.
    fn parse(value: Option<&str>) -> Result<DenyWarnings, String> {
        let Some(list) = value else {
            return Ok(DenyWarnings::All);
        };
        let names = || WarningKind::ALL.map(WarningKind::as_str);
        list.split(',')
            .map(|name| {
                WarningKind::parse(name.trim()).ok_or_else(|| {
                    let hint = did_you_mean(name.trim(), names())
                        .map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"));
                    format!(
                        "`{name}` is not a kind of warning{hint}; the kinds are {}",
                        names().join(", ")
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(DenyWarnings::Kinds)
    }

    fn fails_on(&self, warning: &Warning) -> bool {
        match self {
            DenyWarnings::None => false,
            DenyWarnings::All => true,
            DenyWarnings::Kinds(kinds) => kinds.contains(&warning.kind),
        }
    }
}

/// What `explain` is asked.
#[derive(Debug, PartialEq, Eq)]
struct ExplainArgs {
    policy: PathBuf,
    callers: Option<PathBuf>,
    region: String,
    caller: Option<String>,
    /// `--caller-tags`, as written: a YAML mapping.
    caller_tags: Option<String>,
    /// `--resource-tags`, as written: a YAML mapping of ids to tags.
    resource_tags: Option<String>,
    /// `--at`: when to decide (RFC 3339); now by default.
    at: Option<String>,
    detail: DenialDetail,
    json: bool,
    request: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve {
        config: PathBuf,
    },
    Check {
        policy: PathBuf,
        callers: Option<PathBuf>,
        deny_warnings: DenyWarnings,
    },
    Explain(ExplainArgs),
    Replay(ReplayArgs),
    Draft(DraftArgs),
    Test {
        paths: Vec<PathBuf>,
        /// `--at`: when cases without an `at` of their own are decided.
        at: Option<String>,
    },
    Help,
    Version,
}

/// `--name value` and `--name=value` options, `--flag` switches and
/// positional arguments, each checked against what the command takes.
struct Args<'a> {
    options: Vec<(&'a str, String)>,
    switches: Vec<&'a str>,
    positional: Vec<String>,
}

impl<'a> Args<'a> {
    fn parse(
        args: &[String],
        options: &[&'a str],
        switches: &[&'a str],
    ) -> Result<Args<'a>, String> {
        let mut parsed = Args {
            options: Vec::new(),
            switches: Vec::new(),
            positional: Vec::new(),
        };
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if !arg.starts_with("--") {
                parsed.positional.push(arg.clone());
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            if let Some(&option) = options.iter().find(|o| **o == name) {
                let value = match inline {
                    Some(value) => value,
                    None => rest
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("`{option}` needs a value"))?,
                };
                if parsed.options.iter().any(|(o, _)| *o == option) {
                    return Err(format!("`{option}` is given twice"));
                }
                parsed.options.push((option, value));
            } else if let Some(&switch) = switches.iter().find(|s| **s == name) {
                if inline.is_some() {
                    return Err(format!("`{switch}` takes no value"));
                }
                parsed.switches.push(switch);
            } else {
                return Err(format!("unknown argument `{arg}`"));
            }
        }
        Ok(parsed)
    }

    fn get(&self, name: &str) -> Option<String> {
        self.options
            .iter()
            .find(|(o, _)| *o == name)
            .map(|(_, v)| v.clone())
    }

    fn require(&self, name: &str) -> Result<String, String> {
        self.get(name)
            .ok_or_else(|| format!("`{name}` is required"))
    }

    fn has(&self, name: &str) -> bool {
        self.switches.contains(&name)
    }

    fn no_positional(&self) -> Result<(), String> {
        match self.positional.first() {
            Some(arg) => Err(format!("unexpected argument `{arg}`")),
            None => Ok(()),
        }
    }
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let rest = args.get(1..).unwrap_or_default();
    // `serve --help` asks for help, not for a config named `--help`.
    if rest.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Command::Help);
    }
    match args.first().map(String::as_str) {
        None => Err("missing a command".into()),
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("-V" | "--version") => Ok(Command::Version),
        Some("serve") => {
            // `-c` is kept for the shorthand the first releases documented.
            let rest: Vec<String> = rest
                .iter()
                .map(|a| {
                    if a == "-c" {
                        "--config".to_owned()
                    } else {
                        a.clone()
                    }
                })
                .collect();
            let args = Args::parse(&rest, &["--config"], &[])?;
            args.no_positional()?;
            Ok(Command::Serve {
                config: args.get("--config").unwrap_or(DEFAULT_CONFIG.into()).into(),
            })
        }
        Some("check") => {
            // `--deny-warnings` takes its kinds only inline, so that a
            // value never eats the next argument.
            let (deny, rest): (Vec<&String>, Vec<String>) = {
                let (deny, others): (Vec<&String>, Vec<&String>) = rest
                    .iter()
                    .partition(|a| *a == "--deny-warnings" || a.starts_with("--deny-warnings="));
                (deny, others.into_iter().cloned().collect())
            };
            let deny_warnings = match deny.as_slice() {
                [] => DenyWarnings::None,
                [one] => DenyWarnings::parse(one.strip_prefix("--deny-warnings="))?,
                _ => return Err("`--deny-warnings` is given twice".into()),
            };
            let args = Args::parse(&rest, &["--policy", "--callers"], &[])?;
            args.no_positional()?;
            Ok(Command::Check {
                policy: args.require("--policy")?.into(),
                callers: args.get("--callers").map(PathBuf::from),
                deny_warnings,
            })
        }
        Some("explain") => {
            let args = Args::parse(
                rest,
                &[
                    "--policy",
                    "--callers",
                    "--region",
                    "--caller",
                    "--caller-tags",
                    "--resource-tags",
                    "--at",
                    "--denial-detail",
                ],
                &["--json"],
            )?;
            let detail = match args.get("--denial-detail").as_deref() {
                None | Some("caller") => DenialDetail::Caller,
                Some("full") => DenialDetail::Full,
                Some(other) => {
                    return Err(format!(
                        "`--denial-detail` is `caller` or `full`, not `{other}`"
                    ))
                }
            };
            let request = match args.positional.as_slice() {
                [request] => request.clone(),
                [] => return Err("`explain` needs the request, such as 'Action=DescribeCacheClusters&Version=2015-02-02'".into()),
                [_, extra, ..] => return Err(format!("unexpected argument `{extra}`")),
            };
            Ok(Command::Explain(ExplainArgs {
                policy: args.require("--policy")?.into(),
                callers: args.get("--callers").map(PathBuf::from),
                region: args.require("--region")?,
                caller: args.get("--caller"),
                caller_tags: args.get("--caller-tags"),
                resource_tags: args.get("--resource-tags"),
                at: args.get("--at"),
                detail,
                json: args.has("--json"),
                request,
            }))
        }
        Some("replay") => {
            let args = Args::parse(
                rest,
                &[
                    "--policy",
                    "--callers",
                    "--identities",
                    "--resource-tags",
                    "--at",
                ],
                &["--json"],
            )?;
            if args.positional.is_empty() {
                return Err("`replay` needs audit or CloudTrail log files".into());
            }
            Ok(Command::Replay(ReplayArgs {
                policy: args.require("--policy")?.into(),
                callers: args.get("--callers").map(PathBuf::from),
                identities: args.get("--identities").map(PathBuf::from),
                resource_tags: args.get("--resource-tags").map(PathBuf::from),
                at: args.get("--at"),
                json: args.has("--json"),
                files: args.positional.iter().map(PathBuf::from).collect(),
            }))
        }
        Some("draft") => {
            let args = Args::parse(rest, &["--callers", "--identities", "--out"], &[])?;
            if args.positional.is_empty() {
                return Err("`draft` needs audit or CloudTrail log files".into());
            }
            Ok(Command::Draft(DraftArgs {
                callers: args.get("--callers").map(PathBuf::from),
                identities: args.get("--identities").map(PathBuf::from),
                out: args.get("--out").unwrap_or_else(|| "draft".into()).into(),
                files: args.positional.iter().map(PathBuf::from).collect(),
            }))
        }
        Some("test") => {
            let args = Args::parse(rest, &["--at"], &[])?;
            if args.positional.is_empty() {
                return Err("`test` needs a test file or a folder of them".into());
            }
            Ok(Command::Test {
                paths: args.positional.iter().map(PathBuf::from).collect(),
                at: args.get("--at"),
            })
        }
        Some(other) => Err(format!("unknown command `{other}`")),
    }
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("elasticache-authz-proxy: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            // Not `println!`, which panics when the reader has gone away
            // (`explain --help | head`).
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            Ok(true)
        }
        Command::Version => {
            println!(
                "elasticache-authz-proxy {} (ElastiCache API {}, service model of botocore {})",
                env!("CARGO_PKG_VERSION"),
                crate::model::API_VERSION,
                crate::service_model::BOTOCORE_VERSION
            );
            Ok(true)
        }
        Command::Serve { config } => serve(&config).map(|()| true),
        Command::Check {
            policy,
            callers,
            deny_warnings,
        } => check(&policy, callers.as_deref(), &deny_warnings),
        Command::Explain(args) => explain(&args),
        Command::Draft(args) => crate::replay_cli::draft(&args),
        // Each record is decided at its own time unless `--at` says.
        Command::Replay(args) => match args.at.as_deref() {
            Some(at) => at_time(Some(at)).and_then(|at| crate::replay_cli::run(&args, Some(at))),
            None => crate::replay_cli::run(&args, None),
        },
        Command::Test { paths, at } => at_time(at.as_deref()).and_then(|at| test(&paths, at)),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("elasticache-authz-proxy: {message}");
            ExitCode::from(1)
        }
    }
}

pub(crate) fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} `{}`: {e}", path.display()))
}

fn serve(config_path: &Path) -> Result<(), String> {
    let config = config::parse(
        &config_path.display().to_string(),
        &read(config_path, "config file")?,
        config_path.parent().unwrap_or(Path::new(".")),
    )
    .map_err(|e| e.to_string())?;
    let live = reload::Live::start(&config)?;
    // The control runtime: accepting, the admin listener, reloads and
    // credential refreshes. Requests are served on `workers`' threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let identity = UpstreamIdentity::load(config.assume_role.as_ref()).await?;
        let proxy = proxy::Proxy::new(config, live, identity)?;
        listener::run(proxy).await
    })
}

/// A callers file, validated (its secrets are not needed here, so its
/// permissions are not checked).
fn callers_file(path: Option<&Path>) -> Result<Option<callers::Callers>, String> {
    let Some(path) = path else { return Ok(None) };
    callers::compile(&path.display().to_string(), &read(path, "callers file")?)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Tags written on the command line as a YAML mapping (`{team: payments}`),
/// validated as a callers file's are.
fn tags_argument(option: &str, text: &str) -> Result<crate::caller_tags::CallerTags, String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|_| format!("`{option}` must be a mapping such as '{{team: payments}}'"))?;
    let mut out = crate::diagnostics::Diagnostics::new(option, "argument");
    crate::caller_tags::compile(&value, &crate::diagnostics::Place::root(), &mut out)
        .map_err(|_| out.to_string())
}

fn check(
    policy: &Path,
    callers: Option<&Path>,
    deny_warnings: &DenyWarnings,
) -> Result<bool, String> {
    // Both files are validated, so that every error shows at once.
    let checked = match callers {
        Some(path) => Some(callers::compile(
            &path.display().to_string(),
            &read(path, "callers file")?,
        )),
        None => None,
    };
    let names: Option<Vec<&str>> = match &checked {
        Some(Ok(callers)) => Some(callers.names().collect()),
        Some(Err(errors)) => {
            println!("{errors}");
            None
        }
        None => None,
    };
    let callers_valid = !matches!(checked, Some(Err(_)));
    let file = policy.display().to_string();
    let text = read(policy, "policy file")?;
    match policy_tools::check(&file, &text, names.as_deref()) {
        Err(errors) => {
            println!("{errors}");
            Ok(false)
        }
        Ok((compiled, mut warnings)) => {
            warnings.extend(policy_tools::expiry_warnings(
                &file,
                &text,
                &compiled,
                at_time(None)?,
            ));
            if let Some(Ok(callers)) = &checked {
                warnings.extend(policy_tools::caller_tag_warnings(
                    &file,
                    &text,
                    &compiled,
                    &callers.tags(),
                ));
            }
            for warning in &warnings {
                println!("{warning}");
            }
            let plural = |n: usize| if n == 1 { "" } else { "s" };
            println!(
                "{file}: {} rule{}, {} warning{}",
                compiled.rule_count(),
                plural(compiled.rule_count()),
                warnings.len(),
                plural(warnings.len())
            );
            Ok(callers_valid && !warnings.iter().any(|w| deny_warnings.fails_on(w)))
        }
    }
}

fn explain(args: &ExplainArgs) -> Result<bool, String> {
    let policy = &args.policy;
    let caller = args.caller.as_deref();
    let directory = callers_file(args.callers.as_deref())?;
    let names: Option<Vec<&str>> = directory.as_ref().map(|c| c.names().collect());
    // Tags given on the command line, or else the caller's in the file.
    let tags = match args.caller_tags.as_deref() {
        Some(text) => tags_argument("--caller-tags", text)?,
        None => directory
            .as_ref()
            .and_then(|d| d.tags().into_iter().find(|(name, _)| Some(*name) == caller))
            .map(|(_, tags)| tags.clone())
            .unwrap_or_default(),
    };
    let file = policy.display().to_string();
    let text = read(policy, "policy file")?;
    let compiled = crate::policy::compile(&file, &text).map_err(|e| e.to_string())?;
    if let Some(known) = names.as_deref() {
        for warning in policy_tools::caller_warnings(&file, &text, &compiled, known) {
            eprintln!("{warning}");
        }
    }
    let resource_tags = match args.resource_tags.as_deref() {
        Some(text) => serde_yaml::from_str(text).map_err(|_| {
            "`--resource-tags` must be a mapping of resource ids to their tags, such as '{payments-orders: {team: payments}}'".to_owned()
        })?,
        None => policy_tools::GivenTags::new(),
    };
    let asked = policy_tools::Asked {
        region: &args.region,
        caller,
        caller_tags: &tags,
        resource_tags: &resource_tags,
        at: Some(at_time(args.at.as_deref())?),
    };
    match policy_tools::explain(&compiled, &asked, &args.request, args.detail) {
        Ok(explanation) if args.json => println!("{}", explanation.to_json()),
        Ok(explanation) => print!("{}", explanation.to_text()),
        Err(rejection) => {
            return Err(format!(
                "the proxy rejects this request before the policy decides: HTTP {} {}: {}",
                rejection.status, rejection.code, rejection.message
            ))
        }
    }
    Ok(true)
}

/// `--at` as seconds since the epoch, or now.
fn at_time(at: Option<&str>) -> Result<i64, String> {
    match at {
        Some(text) => crate::params::rfc3339_seconds(text).ok_or_else(|| {
            format!("`--at` must be an RFC 3339 time such as `2026-12-31T00:00:00Z`, not `{text}`")
        }),
        None => Ok(crate::proxy::log::unix_now()),
    }
}

/// Runs every `*.test.yaml` under the paths, deciding cases without an
/// `at` at `at`; false when any test fails.
fn test(paths: &[PathBuf], at: i64) -> Result<bool, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            find_test_files(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Err("no `*.test.yaml` files found".into());
    }
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let shown = file.display().to_string();
        let suite: TestFile = serde_yaml::from_str(&read(file, "test file")?)
            .map_err(|e| diagnostics::unreadable(&shown, "test file", &e).to_string())?;
        let policy_path = file.parent().unwrap_or(Path::new(".")).join(&suite.policy);
        let names: Option<Vec<&str>> = suite
            .callers
            .as_ref()
            .map(|n| n.iter().map(String::as_str).collect());
        let policy_file = policy_path.display().to_string();
        let text = read(&policy_path, "policy file")?;
        let policy =
            crate::policy::compile(&policy_file, &text).map_err(|e| format!("{shown}: {e}"))?;
        if let Some(known) = names.as_deref() {
            for warning in policy_tools::caller_warnings(&policy_file, &text, &policy, known) {
                println!("warn  {shown}: {warning}");
            }
        }
        for case in &suite.tests {
            match policy_tools::run_case(&policy, case, at) {
                Ok(()) => {
                    passed += 1;
                    println!("ok    {shown}: {}", case.name);
                }
                Err(why) => {
                    failed += 1;
                    println!("FAIL  {shown}: {}: {why}", case.name);
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

fn find_test_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the folder `{}`: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            find_test_files(&path, out)?;
        } else if path.to_string_lossy().ends_with(".test.yaml") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse_args(&args(&["serve"])),
            Ok(Command::Serve {
                config: DEFAULT_CONFIG.into()
            })
        );
        assert_eq!(
            parse_args(&args(&["serve", "--config", "x.yaml"])),
            Ok(Command::Serve {
                config: "x.yaml".into()
            })
        );
        assert_eq!(
            parse_args(&args(&["serve", "--config=y.yaml"])),
            Ok(Command::Serve {
                config: "y.yaml".into()
            })
        );
        assert!(parse_args(&args(&["serve", "--config"])).is_err());
        assert!(parse_args(&args(&["serve", "--bogus"])).is_err());
        assert!(parse_args(&args(&[])).is_err());
        assert_eq!(parse_args(&args(&["--help"])), Ok(Command::Help));
        assert_eq!(parse_args(&args(&["serve", "--help"])), Ok(Command::Help));
        assert_eq!(parse_args(&args(&["check", "-h"])), Ok(Command::Help));
        assert_eq!(
            parse_args(&args(&["check", "--policy", "p.yaml", "--deny-warnings"])),
            Ok(Command::Check {
                policy: "p.yaml".into(),
                callers: None,
                deny_warnings: DenyWarnings::All
            })
        );
        assert_eq!(
            parse_args(&args(&[
                "check",
                "--deny-warnings=unknown-caller,lowercase-pattern",
                "--policy",
                "p.yaml"
            ])),
            Ok(Command::Check {
                policy: "p.yaml".into(),
                callers: None,
                deny_warnings: DenyWarnings::Kinds(vec![
                    WarningKind::UnknownCaller,
                    WarningKind::LowercasePattern
                ])
            })
        );
        let wrong = parse_args(&args(&[
            "check",
            "--deny-warnings=unknown-callers",
            "--policy",
            "a",
        ]));
        assert!(
            wrong
                .as_ref()
                .is_err_and(|e| e.contains("did you mean `unknown-caller`?")),
            "{wrong:?}"
        );
        assert_eq!(
            parse_args(&args(&["check"])),
            Err("`--policy` is required".into())
        );
        assert_eq!(
            parse_args(&args(&[
                "explain",
                "--policy=p.yaml",
                "--region",
                "us-east-1",
                "--json",
                "Action=DescribeCacheClusters"
            ])),
            Ok(Command::Explain(ExplainArgs {
                policy: "p.yaml".into(),
                callers: None,
                region: "us-east-1".into(),
                caller: None,
                caller_tags: None,
                resource_tags: None,
                at: None,
                detail: DenialDetail::Caller,
                json: true,
                request: "Action=DescribeCacheClusters".into()
            }))
        );
        assert!(parse_args(&args(&["explain", "--policy", "p", "--region", "r"])).is_err());
        assert!(parse_args(&args(&["check", "--policy", "a", "--policy", "b"])).is_err());
        assert!(parse_args(&args(&["check", "--deny-warnings=yes", "--policy", "a"])).is_err());
        assert!(parse_args(&args(&["test"])).is_err());
    }

    #[test]
    fn the_shipped_config_and_policies_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config_path = root.join(DEFAULT_CONFIG);
        let config = config::parse(
            "proxy.yaml",
            &read(&config_path, "config").unwrap(),
            config_path.parent().unwrap(),
        )
        .unwrap();
        reload::compile(&config, &reload::Sources::read(&config)).unwrap();
        for entry in std::fs::read_dir(root.join("policies")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.to_string_lossy();
            if name.ends_with(".yaml") && !name.ends_with(".test.yaml") {
                let text = read(&path, "policy").unwrap();
                match policy_tools::check(&name, &text, None) {
                    Ok((_, warnings)) => assert_eq!(warnings, Vec::new()),
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
}
