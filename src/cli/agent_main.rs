//! `hwsign-agent`'s start-up: config, the SoftHSM test token, tokens, the socket, the ready line,
//! signals, and an orderly stop.

use std::io::Write;

use tokio::sync::watch;

use super::args::AgentCli;
use crate::agent::dispatch::Context;
use crate::agent::{Inventory, Server, ServerOptions, socket, startup};
use crate::config::Config;
use crate::token::softhsm::TestToken;

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Config problem.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Socket problem.
    #[error(transparent)]
    Socket(#[from] socket::SocketError),
    /// Token problem.
    #[error(transparent)]
    Token(#[from] crate::token::TokenError),
    /// Runtime problem.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Everything decided before threads exist (the SoftHSM config must be in the environment
/// before the module is loaded, and setting the environment is only sound single-threaded).
pub struct Prepared {
    args: AgentCli,
    config: Config,
    test_token: Option<TestToken>,
}

/// Single-threaded preparation.
pub fn prepare(args: AgentCli) -> Result<Prepared, StartError> {
    crate::sys::make_non_dumpable();
    crate::sys::set_umask(0o077);
    let config = Config::load(args.config.as_deref())?;
    let test_token = if args.softhsm {
        let state = crate::dirs::state_dir();
        crate::dirs::ensure_private_dir(&state)
            .map_err(|e| crate::token::TokenError::Other(e.to_string()))?;
        let tt = crate::token::softhsm::prepare(&state)?;
        crate::sys::set_env_before_threads("SOFTHSM2_CONF", tt.conf.as_os_str());
        Some(tt)
    } else {
        None
    };
    Ok(Prepared {
        args,
        config,
        test_token,
    })
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Run the agent until SIGTERM/SIGINT.
pub async fn run(p: Prepared) -> Result<(), StartError> {
    let dir = p
        .args
        .socket_dir
        .clone()
        .unwrap_or_else(crate::dirs::runtime_dir);
    let path = crate::dirs::main_socket(&dir);
    socket::check_path(&dir, &path)?;

    let config = p.config.clone();
    let tt = p.test_token.clone();
    let tokens = tokio::task::spawn_blocking(move || startup::start_tokens(&config, tt.as_ref()))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    if tokens.is_empty() {
        tracing::warn!(
            "no tokens: configure [[token]] in config.toml, or start with --softhsm for the test token"
        );
    }
    let state = crate::dirs::state_dir();
    let created_path = match crate::dirs::ensure_private_dir(&state) {
        Ok(()) => Some(state.join("keys-created.tsv")),
        Err(e) => {
            tracing::warn!(error = %e, "no state dir: key creation times are not remembered");
            None
        }
    };
    let inventory = Inventory::new(
        tokens,
        crate::agent::created::CreatedStore::open(created_path),
    );
    let keys = inventory.refresh().await;
    for k in &keys {
        tracing::info!(label = %k.info.label, id = %k.id, algorithm = %k.info.algorithm(), token = %k.token_label, "key");
    }

    // Check again: another agent may have started while the tokens were loading.
    socket::check_path(&dir, &path)?;
    let (listener, bound) = socket::bind(&path)?;
    let context = Context {
        inventory,
        socket: "main",
        test_mode: p.test_token.is_some(),
        host: host_name(),
    };
    let server = Server {
        listener,
        context,
        options: ServerOptions::default(),
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let serving = tokio::spawn(server.run(stop_rx));

    tracing::info!(socket = %path.display(), keys = keys.len(), "ready");
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "HWSIGN_AUTH_SOCK={}; export HWSIGN_AUTH_SOCK;",
            path.display()
        )?;
        out.flush()?;
    }

    tokio::select! {
        _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = sigint.recv() => tracing::info!("SIGINT: shutting down"),
    }
    let _ = stop_tx.send(true);
    let _ = serving.await;
    drop(bound);
    tracing::info!("stopped");
    Ok(())
}
