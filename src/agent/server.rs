//! The accept loop: a connection budget (the longest-idle connection makes room for a
//! newcomer), one task per connection, and a graceful shutdown that stops accepting, lets
//! in-flight requests finish, then returns (the socket file is removed by its
//! [`BoundSocket`](super::socket::BoundSocket) guard).

use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::budget::Budget;
use super::context::Context;
use super::session;
use crate::config::SocketLimits;

/// Limits of a listener.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Connection budget, timeouts and the request size.
    pub limits: SocketLimits,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            limits: SocketLimits::main(),
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
        let limits = self.options.limits;
        let budget = Budget::new(limits.max_connections);
        let mut tasks = JoinSet::new();
        let socket = self.context.socket.name();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            match accepted {
                Ok((stream, _)) => match budget.admit() {
                    Ok(admitted) => {
                        if admitted.evicted_idle {
                            tracing::info!(
                                socket,
                                budget = limits.max_connections,
                                "connection budget full: closed the longest-idle connection"
                            );
                        }
                        let ctx = self.context.clone();
                        let stop = shutdown.clone();
                        tasks.spawn(async move {
                            session::serve(ctx, stream, stop, admitted.ticket, limits).await;
                        });
                    }
                    Err(full) => {
                        tracing::warn!(
                            socket,
                            budget = full.max,
                            "connection budget full of requests in progress: refused a connection"
                        );
                        drop(stream);
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            while tasks.try_join_next().is_some() {}
        }
        tracing::info!(
            socket,
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
