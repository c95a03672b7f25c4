use clap::Parser;

/// mimalloc instead of the system allocator: a gateway call makes a few hundred small
/// allocations, and glibc's malloc/free were about 15 % of a call's instructions
/// (docs/benchmarks.md, "Profile").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = tollgate::cli::Cli::parse();
    match tollgate::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e:#}");
            std::process::ExitCode::from(tollgate::cli::exit_code(&e))
        }
    }
}
