//! The client side: finding and talking to an agent ([`connection`]), choosing a key
//! ([`select`]), hashing files in parallel ([`hash`]), signing through the agent
//! ([`signer`]) and writing outputs without clobbering ([`output`]). The client never touches a
//! token: everything goes through the agent's socket.

pub mod connection;
pub mod output;
pub mod own;
pub mod select;
pub mod signer;

pub use connection::AgentClient;
pub use signer::Signer;
