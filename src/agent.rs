//! The agent daemon: socket setup and peer checks ([`socket`]), framing with a size limit
//! ([`framing`]), the accept loop with a connection limit and graceful shutdown ([`server`]),
//! per-connection request handling ([`session`], [`dispatch`]), the key inventory over the
//! token workers ([`inventory`]) with creation times the tokens do not record ([`created`]) and start-up from the config or the SoftHSM test mode
//! ([`startup`]).

pub mod created;
pub mod dispatch;
pub mod framing;
pub mod inventory;
pub mod server;
pub mod session;
pub mod socket;
pub mod startup;

pub use inventory::Inventory;
pub use server::{Server, ServerOptions};
