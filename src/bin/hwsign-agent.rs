//! `hwsign-agent`: the daemon. Prepares single-threaded, then runs on tokio.

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let filter = EnvFilter::try_from_env("HWSIGN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let code = match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("hwsign-agent: {e:#}");
            1
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // Skip library destructors: the token modules' exit-time cleanup can crash while their
    // worker threads still exist (everything that matters is already on disk).
    hwsign::sys::exit_now(code)
}

fn run() -> anyhow::Result<()> {
    let args = hwsign::cli::args::AgentCli::parse();
    let prepared = hwsign::agent::run::prepare(hwsign::agent::run::Options {
        softhsm: args.softhsm,
        config: args.config,
        socket_dir: args.socket_dir,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(hwsign::agent::run::run(prepared));
    // Not dropped: the process ends with `exit_now` right after, without tearing down the
    // worker threads that hold the token libraries.
    std::mem::forget(runtime);
    result?;
    Ok(())
}
