use clap::Parser;

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
