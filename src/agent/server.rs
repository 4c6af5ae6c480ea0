//! The accept loop: a connection limit, one task per connection, and a graceful shutdown that
//! stops accepting, lets in-flight requests finish, then returns (the socket file is removed by
//! its [`BoundSocket`](super::socket::BoundSocket) guard).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::context::Context;
use super::session;

/// Limits of a listener.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 64,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// A listener and what it serves.
pub struct Server {
    /// The listener (bound path, systemd fd, or a test's socket).
    pub listener: UnixListener,
    /// What requests are served with.
    pub context: Context,
    /// Limits.
    pub options: ServerOptions,
}

impl Server {
    /// Serve until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.options.max_connections));
        let mut tasks = JoinSet::new();
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.wait_for(|s| *s) => break,
            };
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            match accepted {
                Ok((stream, _)) => {
                    let ctx = self.context.clone();
                    let stop = shutdown.clone();
                    tasks.spawn(async move {
                        session::serve(ctx, stream, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            while tasks.try_join_next().is_some() {}
        }
        tracing::info!(
            socket = self.context.socket.name(),
            in_flight = tasks.len(),
            "stopped accepting; finishing in-flight requests"
        );
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.options.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish in time; stopping anyway");
        }
    }
}
