//! Finding the agent (`HWSIGN_AUTH_SOCK`, the default socket, `SSH_AUTH_SOCK`) and exchanging
//! framed messages with it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use ssh_agent_lib::proto::Request;
use ssh_encoding::Encode;

use crate::error::{Error, Result};
use crate::proto::generate::{GenerateReply, GenerateRequest};
use crate::proto::keys::{KeyEntry, KeysReply, KeysRequest};
use crate::proto::reply::{self, ReplyError};
use crate::proto::sign::{SignReply, SignRequest};
use crate::proto::status::{StatusReply, StatusRequest};
use crate::proto::{HwsignMessage, frame};

/// Replies larger than this are refused (a key list is a few KiB).
const MAX_REPLY: usize = 16 * 1024 * 1024;

/// Where the agent socket is: `HWSIGN_AUTH_SOCK`, else the default socket if it exists, else
/// `SSH_AUTH_SOCK` (a forwarded agent).
pub fn find_socket() -> Result<PathBuf> {
    let nonempty = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = nonempty("HWSIGN_AUTH_SOCK") {
        return Ok(p);
    }
    let default = crate::dirs::main_socket(&crate::dirs::runtime_dir());
    if default.exists() {
        return Ok(default);
    }
    if let Some(p) = nonempty("SSH_AUTH_SOCK") {
        return Ok(p);
    }
    Err(Error::NoAgent {
        tried: format!("HWSIGN_AUTH_SOCK, {}, SSH_AUTH_SOCK", default.display()),
    })
}

/// A connection to an agent.
#[derive(Debug)]
pub struct AgentClient {
    stream: UnixStream,
    path: PathBuf,
}

impl AgentClient {
    /// Connect to the agent [`find_socket`] names.
    pub fn connect_default() -> Result<Self> {
        Self::connect(&find_socket()?)
    }

    /// Connect to `path`.
    pub fn connect(path: &Path) -> Result<Self> {
        let stream = UnixStream::connect(path).map_err(|source| Error::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(AgentClient {
            stream,
            path: path.to_path_buf(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Send one message and read the reply message (both without length prefix).
    pub fn round_trip(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        self.stream.write_all(&frame::encode(message))?;
        let mut hdr = [0u8; 4];
        self.stream.read_exact(&mut hdr).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Protocol("the agent closed the connection without answering".into())
            } else {
                e.into()
            }
        })?;
        let len = u32::from_be_bytes(hdr) as usize;
        if len == 0 || len > MAX_REPLY {
            return Err(Error::Protocol(format!("reply of {len} bytes")));
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        Ok(body)
    }

    /// Send an `@hwsign` request and decode its reply.
    pub fn call<Req: HwsignMessage, Rep: HwsignMessage>(&mut self, request: &Req) -> Result<Rep> {
        let mut msg = Vec::new();
        Request::Extension(request.to_extension())
            .encode(&mut msg)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        let reply = self.round_trip(&msg)?;
        reply::expect::<Rep>(&reply).map_err(|e| match e {
            // A possibly remote agent's words, printed on a terminal: escaped and bounded.
            ReplyError::Wire(mut w) => {
                w.message = crate::text::for_terminal(&w.message, 2000);
                w.hint = crate::text::for_terminal(&w.hint, 2000);
                Error::Agent(w)
            }
            ReplyError::Unsupported(name) => Error::Protocol(format!(
                "the agent at {} does not answer {name}; is it an hwsign agent (SSH_AUTH_SOCK may point at another agent)?",
                self.path.display()
            )),
            ReplyError::Proto(p) => Error::Protocol(crate::text::message(&p.to_string())),
        })
    }

    /// The agent's keys, every token asked now.
    pub fn keys(&mut self) -> Result<Vec<KeyEntry>> {
        Ok(self
            .call::<_, KeysReply>(&KeysRequest { fresh: true })?
            .keys)
    }

    /// The agent's keys as it found them recently (cheaper: cards take tens of APDUs to list).
    /// For picking a key; [`crate::client::select::pick`] asks again when it is not there.
    pub fn recent_keys(&mut self) -> Result<Vec<KeyEntry>> {
        Ok(self
            .call::<_, KeysReply>(&KeysRequest { fresh: false })?
            .keys)
    }

    /// The agent's status.
    pub fn status(&mut self) -> Result<StatusReply> {
        self.call(&StatusRequest)
    }

    /// Sign.
    pub fn sign(&mut self, request: &SignRequest) -> Result<SignReply> {
        self.call(request)
    }

    /// Make a key.
    pub fn generate(&mut self, request: &GenerateRequest) -> Result<GenerateReply> {
        self.call(request)
    }
}
