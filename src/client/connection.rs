//! Finding the agent (`HWSIGN_AUTH_SOCK`, the default socket, `SSH_AUTH_SOCK`) and exchanging
//! framed messages with it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh_agent_lib::proto::Request;
use ssh_encoding::Encode;

use crate::error::{Error, Result};
use crate::key::KeyMeta;
use crate::proto::generate::{GenerateReply, GenerateRequest};
use crate::proto::keys::{KeysReply, KeysRequest};
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

/// How long a request other than a signature may take (listing a card's slots takes seconds).
const CALL_WAIT: Duration = Duration::from_secs(60);
/// Added to the agent's own longest wait before the client calls the agent hung.
const MARGIN: Duration = Duration::from_secs(5);
/// The longest sign wait assumed for an agent that does not advertise one (confirm 60 s, PIN
/// 60 s, touch 15 s, token 30 s: the defaults).
const DEFAULT_SIGN_WAIT: Duration = Duration::from_secs(165);

/// A connection to an agent. Every exchange has a deadline (a hung agent is an error naming
/// its socket); a connection the agent closed while it was idle (its idle timeout, or its
/// budget made room for a newcomer) is replaced once before the next request is sent.
#[derive(Debug)]
pub struct AgentClient {
    stream: UnixStream,
    path: PathBuf,
    /// The agent's longest sign wait, from its status.
    sign_wait: Option<Duration>,
    /// The largest request the agent takes on this socket, from its status.
    max_request: Option<usize>,
}

/// How an exchange failed.
enum Failed {
    /// The agent closed the connection before any byte of the reply.
    ClosedBeforeReply,
    /// Anything else (timeout, reset, a partial reply).
    Other(Error),
}

impl AgentClient {
    /// Connect to the agent [`find_socket`] names.
    pub fn connect_default() -> Result<Self> {
        Self::connect(&find_socket()?)
    }

    /// Connect to `path`.
    pub fn connect(path: &Path) -> Result<Self> {
        Ok(AgentClient {
            stream: Self::open(path)?,
            path: path.to_path_buf(),
            sign_wait: None,
            max_request: None,
        })
    }

    /// Another connection to the same agent, knowing what this one learnt of it (its sign
    /// wait and request limit): no status request before its first signature.
    pub fn another(&self) -> Result<Self> {
        Ok(AgentClient {
            stream: Self::open(&self.path)?,
            path: self.path.clone(),
            sign_wait: self.sign_wait,
            max_request: self.max_request,
        })
    }

    fn open(path: &Path) -> Result<UnixStream> {
        UnixStream::connect(path).map_err(|source| Error::Connect {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lost(&self, detail: impl Into<String>) -> Error {
        Error::AgentLost {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    /// Whether the agent has closed this connection (it was idle) or sent something unasked.
    fn closed_by_agent(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let closed = !matches!(
            (&self.stream).read(&mut b),
            Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock
        );
        closed || self.stream.set_nonblocking(false).is_err()
    }

    fn reconnect(&mut self) -> Result<()> {
        tracing::debug!(socket = %self.path.display(), "the agent closed the idle connection; reconnecting");
        self.stream = Self::open(&self.path).map_err(|e| match e {
            Error::Connect { source, .. } => self.lost(format!("cannot connect again: {source}")),
            other => other,
        })?;
        Ok(())
    }

    /// Send `framed` (a whole frame, length and message, in pieces sent in turn) and read the
    /// reply message.
    fn exchange(&mut self, framed: &[&[u8]], wait: Duration) -> Result<Vec<u8>, Failed> {
        let path = self.path.clone();
        let lost = move |detail: String| Error::AgentLost {
            path: path.clone(),
            detail,
        };
        let io = |e: std::io::Error, what: &str| {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                Failed::Other(lost(format!(
                    "no answer within {} s while {what}; nothing more was sent",
                    wait.as_secs()
                )))
            } else {
                Failed::Other(lost(format!("{what}: {e}")))
            }
        };
        self.stream
            .set_write_timeout(Some(wait))
            .and_then(|()| self.stream.set_read_timeout(Some(wait)))
            .map_err(|e| io(e, "setting timeouts"))?;
        // The agent may refuse a request before it has all of it (too large) and close: its
        // answer is read even when the rest could not be sent.
        let write_failed = match framed
            .iter()
            .try_for_each(|piece| (&self.stream).write_all(piece))
        {
            Ok(()) => None,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                Some(e)
            }
            Err(e) => return Err(io(e, "sending the request")),
        };
        let mut hdr = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.stream.read(&mut hdr[got..]) {
                Ok(0) if got == 0 && write_failed.is_some() => {
                    return Err(Failed::Other(lost(format!(
                        "the agent closed the connection while the request was sent, without answering ({})",
                        write_failed
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ))));
                }
                Ok(0) if got == 0 => return Err(Failed::ClosedBeforeReply),
                Ok(0) => {
                    return Err(Failed::Other(lost(
                        "the agent closed the connection in the middle of its answer".into(),
                    )));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && got == 0 => {
                    return Err(Failed::ClosedBeforeReply);
                }
                Err(e) => return Err(io(e, "waiting for the answer")),
            }
        }
        let len = match frame::header_within(hdr, MAX_REPLY) {
            frame::Header::Len(n) => n,
            frame::Header::Empty => {
                return Err(Failed::Other(Error::Protocol("an empty reply".into())));
            }
            frame::Header::TooLarge(n) => {
                return Err(Failed::Other(Error::Protocol(format!(
                    "a reply of {n} bytes (at most {MAX_REPLY} expected)"
                ))));
            }
        };
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Failed::Other(lost(
                    "the agent closed the connection in the middle of its answer".into(),
                ))
            } else {
                io(e, "reading the answer")
            }
        })?;
        Ok(body)
    }

    /// Send one message and read the reply message (both without length prefix), waiting up
    /// to `wait`. `retry_safe`: the request changes nothing in the agent (a listing, a status),
    /// so it is sent again on a new connection when the agent closed the old one first.
    pub fn round_trip_within(
        &mut self,
        message: &[u8],
        wait: Duration,
        retry_safe: bool,
    ) -> Result<Vec<u8>> {
        self.round_trip_framed(&[&frame::encode(message)], wait, retry_safe)
    }

    /// [`Self::round_trip_within`] with a message already framed.
    fn round_trip_framed(
        &mut self,
        framed: &[&[u8]],
        wait: Duration,
        retry_safe: bool,
    ) -> Result<Vec<u8>> {
        if self.closed_by_agent() {
            self.reconnect()?;
        }
        match self.exchange(framed, wait) {
            Ok(reply) => Ok(reply),
            Err(Failed::Other(e)) => Err(e),
            Err(Failed::ClosedBeforeReply) if retry_safe => {
                self.reconnect()?;
                match self.exchange(framed, wait) {
                    Ok(reply) => Ok(reply),
                    Err(Failed::Other(e)) => Err(e),
                    Err(Failed::ClosedBeforeReply) => {
                        Err(self.lost("the agent closed the connection without answering"))
                    }
                }
            }
            Err(Failed::ClosedBeforeReply) => Err(self.lost(
                "the agent closed the connection without answering (the agent's log says why: it stopped, or refused the request)",
            )),
        }
    }

    /// Send one message and read the reply message (both without length prefix): a standard
    /// request, which may sign (so it waits as long as a signature may take, and is never sent
    /// twice).
    pub fn round_trip(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        let wait = self.sign_wait();
        self.round_trip_within(message, wait, false)
    }

    /// How long a signature may take on this agent: its advertised longest wait plus a margin
    /// (from the key listing or the status; asked with a status only when neither came yet).
    fn sign_wait(&mut self) -> Duration {
        if self.sign_wait.is_none() {
            let _ = self.status();
        }
        self.sign_wait.unwrap_or(DEFAULT_SIGN_WAIT) + MARGIN
    }

    /// Send an `@hwsign` request and decode its reply.
    pub fn call<Req: HwsignMessage, Rep: HwsignMessage>(&mut self, request: &Req) -> Result<Rep> {
        let mut msg = Vec::new();
        Request::Extension(request.to_extension())
            .encode(&mut msg)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        let reply = match Req::NAME {
            "sign@hwsign" => {
                let wait = self.sign_wait();
                self.round_trip_within(&msg, wait, false)?
            }
            // Two signatures, each of which may wait for a touch.
            "minisign@hwsign" => {
                let wait = self.sign_wait() * 2;
                self.round_trip_within(&msg, wait, false)?
            }
            // Generating a key on a card can take minutes (RSA-4096 on an OpenPGP card).
            "generate@hwsign" => {
                let wait = self.sign_wait() + Duration::from_secs(300);
                self.round_trip_within(&msg, wait, false)?
            }
            // touch@hwsign waits for a pending touch for as long as it was asked to.
            _ => self.round_trip_within(&msg, CALL_WAIT + MARGIN, Req::NAME != "touch@hwsign")?,
        };
        self.decode_reply(&reply)
    }

    fn decode_reply<Rep: HwsignMessage>(&self, reply: &[u8]) -> Result<Rep> {
        reply::expect::<Rep>(reply).map_err(|e| match e {
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
    pub fn keys(&mut self) -> Result<Vec<KeyMeta>> {
        self.keys_reply(true)
    }

    /// The agent's keys as it found them recently (cheaper: cards take tens of APDUs to list).
    /// For picking a key; [`crate::client::select::pick`] asks again when it is not there.
    pub fn recent_keys(&mut self) -> Result<Vec<KeyMeta>> {
        self.keys_reply(false)
    }

    fn keys_reply(&mut self, fresh: bool) -> Result<Vec<KeyMeta>> {
        let reply: KeysReply = self.call(&KeysRequest { fresh })?;
        self.remember_sign_wait(reply.max_sign_wait_s);
        // The request limit too (0 from older agents: the status says it, when asked).
        if reply.max_request > 0 {
            self.max_request = Some(usize::try_from(reply.max_request).unwrap_or(usize::MAX));
        }
        for why in &reply.unusable {
            eprintln!(
                "hwsign: warning: left out a key the agent listed: {}\n  hint: is the agent newer than this client? (`hwsign status` shows both versions)",
                crate::text::for_terminal(why, 500)
            );
        }
        Ok(reply.keys)
    }

    /// The longest sign wait an agent advertised (0: an agent too old to say; the default then,
    /// without asking again).
    fn remember_sign_wait(&mut self, seconds: u32) {
        self.sign_wait = Some(if seconds > 0 {
            Duration::from_secs(u64::from(seconds))
        } else {
            DEFAULT_SIGN_WAIT
        });
    }

    /// The agent's status (and its longest sign wait, remembered for this connection).
    pub fn status(&mut self) -> Result<StatusReply> {
        let status: StatusReply = self.call(&StatusRequest)?;
        if status.max_sign_wait_s > 0 {
            self.sign_wait = Some(Duration::from_secs(u64::from(status.max_sign_wait_s)));
        }
        self.max_request = Some(status.request_limit());
        Ok(status)
    }

    /// The largest request the agent takes on this socket (its status says; asked once per
    /// connection).
    pub fn request_limit(&mut self) -> Result<usize> {
        match self.max_request {
            Some(n) => Ok(n),
            None => Ok(self.status()?.request_limit()),
        }
    }

    /// Sign. The request is sent in pieces around its data (a large statement is not copied to
    /// be framed), and one larger than the agent takes is refused here, before anything is sent.
    pub fn sign(&mut self, request: &SignRequest) -> Result<SignReply> {
        let limit = self.request_limit()?;
        let len = request.frame_len_with(request.data.len());
        if len > limit {
            return Err(Error::Usage(format!(
                "the signing request has {len} bytes; the agent at {} takes at most {limit} bytes\n  hint: sign fewer files at once, or raise [sockets.*] max_request in the agent's config",
                self.path.display()
            )));
        }
        let (head, data, tail) = request.frame_parts();
        let wait = self.sign_wait();
        let reply = self.round_trip_framed(&[&head, data, &tail], wait, false)?;
        self.decode_reply(&reply)
    }

    /// Make a key.
    pub fn generate(&mut self, request: &GenerateRequest) -> Result<GenerateReply> {
        self.call(request)
    }

    /// A token's attestation of a key.
    pub fn attest_key(&mut self, key_id: &str) -> Result<crate::proto::attest::AttestReply> {
        self.call(&crate::proto::attest::AttestRequest {
            key_id: key_id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::Enc;
    use std::os::unix::net::UnixListener;

    fn read_request(s: &mut UnixStream) -> Option<Vec<u8>> {
        let mut hdr = [0u8; 4];
        s.read_exact(&mut hdr).ok()?;
        let frame::Header::Len(n) = frame::header(hdr) else {
            return None;
        };
        let mut body = vec![0u8; n];
        s.read_exact(&mut body).ok()?;
        Some(body)
    }

    fn answer<T: HwsignMessage>(s: &mut UnixStream, reply: &T) {
        let mut m = Enc::default();
        m.u8(29).str(T::NAME);
        m.0.extend_from_slice(&reply.to_bytes());
        s.write_all(&frame::encode(&m.0)).unwrap();
    }

    fn status(max_sign_wait_s: u32) -> StatusReply {
        StatusReply {
            agent_version: "test".into(),
            host: "h".into(),
            socket: "main".into(),
            test_mode: true,
            tokens: Vec::new(),
            pending_touches: Vec::new(),
            touch_cache_window_s: 15,
            max_sign_wait_s,
            max_request: 0,
        }
    }

    /// A fake agent on a socket in a temporary directory, serving with `serve` on a thread.
    fn fake_agent(
        serve: impl FnOnce(UnixListener) + Send + 'static,
    ) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<()>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        (dir, path, std::thread::spawn(move || serve(listener)))
    }

    fn sign_request() -> SignRequest {
        SignRequest {
            key_id: "00".repeat(32),
            scheme: crate::crypto::scheme::Scheme::Ed25519,
            input: crate::crypto::scheme::SignInput::Message,
            data: b"x".to_vec(),
            context: Default::default(),
        }
    }

    /// An agent that answers its status (longest sign wait 1 s) and then never answers a
    /// signature: the client gives up after that wait plus the margin, naming the socket.
    #[test]
    fn a_hung_agent_is_an_error_naming_the_socket() {
        let (_dir, path, server) = fake_agent(|listener| {
            let (mut s, _) = listener.accept().unwrap();
            read_request(&mut s).unwrap();
            answer(&mut s, &status(1));
            read_request(&mut s).unwrap();
            // Hold the connection without answering until the client gives up.
            let _ = read_request(&mut s);
        });
        let mut client = AgentClient::connect(&path).unwrap();
        let started = std::time::Instant::now();
        let err = client.sign(&sign_request()).unwrap_err();
        let waited = started.elapsed();
        let text = err.to_string();
        assert!(matches!(err, Error::AgentLost { .. }), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("no answer within 6 s"), "{text}");
        assert!(
            waited >= Duration::from_secs(6) && waited < Duration::from_secs(30),
            "{waited:?}"
        );
        drop(client);
        server.join().unwrap();
    }

    /// The agent closes an idle connection (its idle timeout): the next request goes over a
    /// new connection, once, and is answered.
    #[test]
    fn a_connection_the_agent_closed_while_idle_is_replaced() {
        let (_dir, path, server) = fake_agent(|listener| {
            let (mut first, _) = listener.accept().unwrap();
            read_request(&mut first).unwrap();
            answer(&mut first, &status(7));
            drop(first); // idle timeout
            let (mut second, _) = listener.accept().unwrap();
            read_request(&mut second).unwrap();
            answer(&mut second, &status(9));
        });
        let mut client = AgentClient::connect(&path).unwrap();
        assert_eq!(client.status().unwrap().max_sign_wait_s, 7);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(client.status().unwrap().max_sign_wait_s, 9);
        server.join().unwrap();
    }

    /// A signature request is never sent twice: an agent that closes without answering it is
    /// an error that says so.
    #[test]
    fn a_sign_request_is_not_repeated() {
        let (_dir, path, server) = fake_agent(|listener| {
            let (mut s, _) = listener.accept().unwrap();
            read_request(&mut s).unwrap();
            answer(&mut s, &status(1));
            read_request(&mut s).unwrap();
            drop(s);
            listener.set_nonblocking(true).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            assert!(listener.accept().is_err(), "the client connected again");
        });
        let mut client = AgentClient::connect(&path).unwrap();
        let err = client.sign(&sign_request()).unwrap_err().to_string();
        assert!(
            err.contains("closed the connection without answering"),
            "{err}"
        );
        server.join().unwrap();
    }
}
