//! The agent's composition root, `hwsign-agent`'s whole life: config, the SoftHSM test token,
//! the tokens, the inventory, the audit log, the sockets, the ready line, signals (SIGHUP
//! reloads the config), sockets bound again when deleted, and an orderly stop.

use std::io::Write;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use super::context::{Context, Socket};
use super::{Inventory, Server, ServerOptions, audit, notify, socket, tokens};
use crate::config::Config;
use crate::token::softhsm::TestToken;

/// How often the agent checks that its bound sockets still exist.
const SOCKET_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

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
    /// Another agent owns the state directory, or it cannot be locked.
    #[error(transparent)]
    StateLock(#[from] super::state_lock::LockError),
}

/// How `hwsign-agent` was started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Test mode: provision (once) and use a SoftHSM2 token under the state directory.
    pub softhsm: bool,
    /// Config file (default: `$XDG_CONFIG_HOME/hwsign/config.toml`).
    pub config: Option<PathBuf>,
    /// Directory for the sockets (default: `$XDG_RUNTIME_DIR/hwsign`).
    pub socket_dir: Option<PathBuf>,
}

/// Everything decided before threads exist (the SoftHSM config must be in the environment
/// before the module is loaded, and setting the environment is only sound single-threaded).
pub struct Prepared {
    args: Options,
    config: Config,
    test_token: Option<TestToken>,
    activated: Vec<(String, std::os::unix::net::UnixListener)>,
    /// Held for the agent's life: one agent per state directory (audit chain, test token).
    state_lock: super::state_lock::StateLock,
}

/// Single-threaded preparation.
pub fn prepare(args: Options) -> Result<Prepared, StartError> {
    crate::sys::make_non_dumpable();
    crate::sys::set_umask(0o077);
    let activated = crate::sys::take_activated_listeners()?;
    let config = Config::load(args.config.as_deref())?;
    // Before anything in the state directory is touched (the test token, the audit log).
    let state_lock = super::state_lock::acquire(&crate::dirs::state_dir())?;
    tracing::debug!(lock = %state_lock.path().display(), "state directory locked");
    let test_token = if args.softhsm {
        let state = crate::dirs::state_dir();
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
        activated,
        state_lock,
    })
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A listener: handed over by systemd, or bound here (and removed on stop).
struct Listener {
    listener: tokio::net::UnixListener,
    path: PathBuf,
    _bound: Option<socket::BoundSocket>,
}

fn listener(
    activated: &mut Vec<(String, std::os::unix::net::UnixListener)>,
    name: &str,
    path: &std::path::Path,
) -> Result<Option<Listener>, StartError> {
    let Some(pos) = activated.iter().position(|(n, _)| n == name) else {
        return Ok(None);
    };
    let (_, std_listener) = activated.remove(pos);
    let path = std_listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(PathBuf::from))
        .unwrap_or_else(|| path.to_path_buf());
    Ok(Some(Listener {
        listener: tokio::net::UnixListener::from_std(std_listener)?,
        path,
        _bound: None,
    }))
}

/// Run the agent until SIGTERM/SIGINT.
pub async fn run(mut p: Prepared) -> Result<(), StartError> {
    let dir = p
        .args
        .socket_dir
        .clone()
        .unwrap_or_else(crate::dirs::runtime_dir);
    let main_path = crate::dirs::main_socket(&dir);
    let extra_path = crate::dirs::extra_socket(&dir);
    if p.activated.len() == 1 && p.activated[0].0 != "extra" {
        // A single unnamed activated socket is the main one.
        p.activated[0].0 = "main".into();
    }
    let mut main = listener(&mut p.activated, "main", &main_path)?;
    let mut extra = listener(&mut p.activated, "extra", &extra_path)?;
    for (name, _) in &p.activated {
        tracing::warn!(
            name,
            "ignoring an activated socket with an unknown name (expected main or extra)"
        );
    }
    if main.is_none() {
        socket::check_path(&dir, &main_path)?;
    }
    if extra.is_none() {
        socket::check_path(&dir, &extra_path)?;
    }

    let config = p.config.clone();
    let tt = p.test_token.clone();
    let tokens = tokio::task::spawn_blocking(move || tokens::start_tokens(&config, tt.as_ref()))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    if tokens.is_empty() {
        tracing::warn!(
            "no tokens: configure [[token]] in config.toml, or start with --softhsm for the test token"
        );
    }
    let state = crate::dirs::state_dir();
    let state_ok = match crate::dirs::ensure_private_dir(&state) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "no private state dir: key creation times are not remembered");
            false
        }
    };
    let created_path = state_ok.then(|| state.join("keys-created.tsv"));
    let inventory = Inventory::new(tokens, super::created::CreatedStore::open(created_path));
    let keys = inventory.refresh().await;
    for k in &keys {
        tracing::info!(label = %crate::text::name(&k.meta.label), id = %k.meta.id, algorithm = %k.meta.algorithm(), token = %crate::text::name(&k.meta.token_label), "key");
    }
    let max_bytes = p
        .config
        .audit_max_bytes
        .map_or(audit::DEFAULT_MAX_BYTES, |b| b.0);
    let audit_log = Arc::new(audit::AuditLog::open(&state, max_bytes));
    tracing::info!(path = %audit_log.path().display(), "audit log");
    let audit_writer = audit::writer::AuditWriter::spawn(Arc::clone(&audit_log))?;

    // Bind what systemd did not hand over; check again first: another agent may have started
    // while the tokens were loading.
    if main.is_none() {
        socket::check_path(&dir, &main_path)?;
        let (l, bound) = socket::bind(&main_path)?;
        main = Some(Listener {
            listener: l,
            path: main_path.clone(),
            _bound: Some(bound),
        });
    }
    if extra.is_none() {
        socket::check_path(&dir, &extra_path)?;
        let (l, bound) = socket::bind(&extra_path)?;
        extra = Some(Listener {
            listener: l,
            path: extra_path.clone(),
            _bound: Some(bound),
        });
    }
    let (Some(main), Some(extra)) = (main, extra) else {
        return Err(std::io::Error::other("no listener").into());
    };
    let shared = Arc::new(RwLock::new(Arc::new(p.config.clone())));
    let touch = Arc::new(super::touch::TouchGate::default());
    let dialog = Arc::new(tokio::sync::Mutex::new(()));
    let context = |socket| Context {
        inventory: inventory.clone(),
        socket,
        test_mode: p.test_token.is_some(),
        host: host_name(),
        config: Arc::clone(&shared),
        audit: audit_writer.clone(),
        touch: Arc::clone(&touch),
        dialog: Arc::clone(&dialog),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let main_server = Server {
        listener: main.listener,
        context: context(Socket::Main),
        options: ServerOptions {
            limits: p.config.sockets.main(),
            ..ServerOptions::default()
        },
    };
    let extra_options = ServerOptions {
        limits: p.config.sockets.extra(),
        ..ServerOptions::default()
    };
    let extra_server = Server {
        listener: extra.listener,
        context: context(Socket::Extra),
        options: extra_options,
    };
    let mut serving = vec![
        tokio::spawn(main_server.run(stop_rx.clone())),
        tokio::spawn(extra_server.run(stop_rx.clone())),
    ];

    tracing::info!(main = %main.path.display(), extra = %extra.path.display(), keys = keys.len(), "ready");
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "HWSIGN_AUTH_SOCK={}; export HWSIGN_AUTH_SOCK;",
            main.path.display()
        )?;
        out.flush()?;
    }
    notify::notify("READY=1");

    // The sockets this agent bound, watched: a deleted one is bound again.
    let mut bound = vec![
        (Socket::Main, main._bound, p.config.sockets.main()),
        (Socket::Extra, extra._bound, p.config.sockets.extra()),
    ];
    let mut watch_sockets = tokio::time::interval(SOCKET_CHECK);
    loop {
        tokio::select! {
            _ = sigterm.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = sighup.recv() => reload(&p.args, &shared),
            _ = watch_sockets.tick() => {
                for (which, guard, limits) in &mut bound {
                    let Some(g) = guard.as_ref().filter(|g| !g.still_there()) else {
                        continue;
                    };
                    let path = g.path.clone();
                    match socket::check_path(&dir, &path).and_then(|()| socket::bind(&path)) {
                        Ok((listener, new_guard)) => {
                            tracing::warn!(socket = which.name(), path = %path.display(), "the socket file was deleted or replaced: bound it again");
                            *guard = Some(new_guard);
                            let server = Server {
                                listener,
                                context: context(*which),
                                options: ServerOptions { limits: *limits, ..ServerOptions::default() },
                            };
                            serving.push(tokio::spawn(server.run(stop_rx.clone())));
                        }
                        Err(e) => {
                            tracing::error!(socket = which.name(), path = %path.display(), error = %e, "the socket file was deleted and cannot be bound again; stopping (systemd restarts the service)");
                            let _ = stop_tx.send(true);
                            for s in serving {
                                let _ = s.await;
                            }
                            return Err(e.into());
                        }
                    }
                }
            }
        }
    }
    notify::notify("STOPPING=1");
    let _ = stop_tx.send(true);
    for s in serving {
        let _ = s.await;
    }
    drop(bound);
    tracing::info!("stopped");
    drop(p.state_lock);
    Ok(())
}

/// SIGHUP: load the config again; keep the old one when the new one is invalid.
fn reload(args: &Options, shared: &RwLock<Arc<Config>>) {
    match Config::load(args.config.as_deref()) {
        Ok(new) => {
            if let Ok(mut c) = shared.write() {
                *c = Arc::new(new);
            }
            tracing::info!("SIGHUP: configuration reloaded");
        }
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: the new configuration is invalid; keeping the old one")
        }
    }
}
