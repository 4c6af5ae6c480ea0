//! What requests are served with: the shared agent state ([`Context`], one per listener) and
//! what is known about the client of one connection ([`Peer`]).

use std::sync::{Arc, RwLock};

use super::Inventory;
use super::audit::writer::AuditWriter;
use super::session_bind::BoundHost;
use crate::config::Config;

/// Which socket a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// `agent.sock`: the local user, everything allowed.
    Main,
    /// `agent.extra.sock`: the one to forward; per-key policy applies.
    Extra,
}

impl Socket {
    /// `main` or `extra`.
    pub fn name(self) -> &'static str {
        match self {
            Socket::Main => "main",
            Socket::Extra => "extra",
        }
    }
}

/// Shared by every connection of a listener.
#[derive(Debug, Clone)]
pub struct Context {
    /// The keys.
    pub inventory: Inventory,
    /// Which socket.
    pub socket: Socket,
    /// Whether the agent runs the SoftHSM test mode.
    pub test_mode: bool,
    /// The host name shown to clients.
    pub host: String,
    /// The config (replaced on SIGHUP).
    pub config: Arc<RwLock<Arc<Config>>>,
    /// The audit log, through its writer thread.
    pub audit: AuditWriter,
    /// Pending and recent touches.
    pub touch: Arc<super::touch::TouchGate>,
    /// Held while a confirm dialog is open: one at a time, whichever socket or client asked
    /// (a person answers one question at a time; four parallel signatures of a confirm key
    /// opened four dialogs at once).
    pub dialog: Arc<tokio::sync::Mutex<()>>,
}

impl Context {
    /// The config in force now.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_default()
    }
}

/// The client of one connection.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// Its pid, if the kernel says.
    pub pid: Option<i32>,
    /// Its uid, from the socket's peer credentials (checked to be ours).
    pub uid: u32,
    /// Its process name (`/proc/<pid>/comm`).
    pub process: String,
    /// The hosts the connection was forwarded through (OpenSSH session-bind), in order.
    pub hosts: Vec<BoundHost>,
}

impl Peer {
    /// A peer from its credentials.
    pub fn new(pid: Option<i32>, uid: u32) -> Self {
        let process = pid
            .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Peer {
            pid,
            uid,
            process,
            hosts: Vec::new(),
        }
    }
}
