#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    elasticache_authz_proxy::cli::main()
}
