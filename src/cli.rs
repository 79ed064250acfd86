//! Command-line entry: parse arguments, load and validate files, start the
//! server. Start-up errors are plain text for people; exit codes: 0 ok,
//! 1 failure, 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::upstream::ProxyCredentials;
use crate::{config, reload, server};

const DEFAULT_CONFIG: &str = "config/proxy.yaml";

const USAGE: &str = "\
elasticache-authz-proxy: a policy-enforcing proxy for the Amazon ElastiCache Query API

usage:
  elasticache-authz-proxy serve [--config FILE]   run the proxy (default config: config/proxy.yaml)
  elasticache-authz-proxy --help | --version

The proxy signs forwarded requests with the credentials in AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and (optionally) AWS_SESSION_TOKEN.";

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve { config: PathBuf },
    Help,
    Version,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        None => Err("missing a command".into()),
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("-V" | "--version") => Ok(Command::Version),
        Some("serve") => {
            let mut config = PathBuf::from(DEFAULT_CONFIG);
            let mut rest = args[1..].iter();
            while let Some(arg) = rest.next() {
                match arg.as_str() {
                    "--config" | "-c" => {
                        config = rest.next().ok_or("`--config` needs a file")?.into();
                    }
                    other => match other.strip_prefix("--config=") {
                        Some(path) => config = path.into(),
                        None => return Err(format!("unknown argument `{other}`")),
                    },
                }
            }
            Ok(Command::Serve { config })
        }
        Some(other) => Err(format!("unknown command `{other}`")),
    }
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("elasticache-authz-proxy {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Serve { config }) => match serve(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("elasticache-authz-proxy: {message}");
                ExitCode::from(1)
            }
        },
        Err(message) => {
            eprintln!("elasticache-authz-proxy: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} `{}`: {e}", path.display()))
}

/// Reads the callers file, refusing one that others could read (as ssh
/// refuses private keys).
fn serve(config_path: &Path) -> Result<(), String> {
    let config = config::parse(
        &config_path.display().to_string(),
        &read(config_path, "config file")?,
        config_path.parent().unwrap_or(Path::new(".")),
    )?;
    let snapshot = reload::compile(&config, reload::Sources::read(&config)?)?;
    let credentials = ProxyCredentials::from_env_vars(|name| std::env::var(name).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let proxy = server::Proxy::new(config, snapshot, credentials)?;
        server::run(proxy).await
    })
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
        reload::compile(&config, reload::Sources::read(&config).unwrap()).unwrap();
        for entry in std::fs::read_dir(root.join("policies")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = read(&path, "policy").unwrap();
                if let Err(e) = crate::policy::compile(&path.display().to_string(), &text) {
                    panic!("{e}");
                }
            }
        }
    }
}
