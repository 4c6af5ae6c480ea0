//! The agent daemon: socket setup and peer checks ([`socket`]), framing with a size limit
//! ([`framing`]), the accept loop with a connection limit and graceful shutdown ([`server`]),
//! per-connection request handling ([`session`], [`context`], [`dispatch`]), the signing path
//! ([`signing`]) over what is signed, parsed once ([`crate::signed`]), the forwarding policy
//! ([`policy`], [`session_bind`]), confirm and touch ([`prompt`], [`touch`]) and the audit log ([`audit`], [`record`]), systemd
//! notification ([`notify`]), the key inventory over the
//! token workers ([`inventory`]) with creation times the tokens do not record ([`created`]), the
//! tokens the config names or the SoftHSM test mode ([`tokens`]), with one agent per state
//! directory ([`state_lock`]). [`run`] is the composition root: it builds all of this, binds
//! the sockets and serves until a signal.

pub mod audit;
pub mod budget;
pub mod context;
pub mod created;
pub mod desktop_notify;
pub mod dispatch;
pub mod framing;
pub mod inventory;
pub mod notify;
pub mod policy;
pub mod prompt;
pub mod record;
pub mod run;
pub mod server;
pub mod session;
pub mod session_bind;
pub mod signing;
pub mod socket;
pub mod state_lock;
pub mod token_error;
pub mod tokens;
pub mod touch;
pub mod touch_notice;

pub use inventory::Inventory;
pub use server::{Server, ServerOptions};

#[cfg(test)]
mod tests;
