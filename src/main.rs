#![forbid(unsafe_code)]

// Requests allocate and free many small buffers on two or more threads at
// once; glibc's allocator spent a tenth of the proxy's CPU on them (and on
// its arena locks) under load. See bench/README.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    elasticache_authz_proxy::cli::main()
}
