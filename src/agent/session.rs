//! One client connection: check the peer, then read frames, decode, dispatch and answer until
//! the client leaves, falls idle past the idle timeout, loses its slot to a newcomer while
//! idle, or the agent shuts down. A frame must complete within its deadline
//! ([`read_frame`]). Malformed standard requests get `SSH_AGENT_FAILURE` (as the
//! protocol says); malformed `@hwsign` requests an `error@hwsign` reply; a frame that cannot be
//! skipped (too large, truncated, too slow) ends the connection, never the agent.

use ssh_agent_lib::proto::Request;
use ssh_encoding::{Decode, Encode};
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::UnixStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::budget::Ticket;
use super::context::{Context, Peer};
use super::dispatch;
use super::framing::{Incoming, read_frame, write_frame};
use crate::config::SocketLimits;
use crate::error::{ErrorCode, WireError};

const MALFORMED_HINT: &str = "the client sent something this agent cannot read; are client and agent both hwsign (or ssh) of matching versions?";

/// Whether the peer runs as our uid.
pub fn peer_allowed(stream: &UnixStream) -> Result<(u32, Option<i32>), String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("cannot read peer credentials: {e}"))?;
    let me = crate::sys::current_uid();
    if cred.uid() != me {
        return Err(format!(
            "peer uid {} is not the agent's uid {me}",
            cred.uid()
        ));
    }
    Ok((cred.uid(), cred.pid()))
}

fn encode(response: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    if response.encode(&mut out).is_err() {
        out = vec![5]; // SSH_AGENT_FAILURE
    }
    out
}

use ssh_agent_lib::proto::Response;

/// Resolves when the client is gone for good. A byte it sends instead is kept in `early` (it
/// belongs to its next frame) and the watch goes on for a close. A client that only shut down
/// its writing side after a complete request (socat and scripts do) still waits for the reply:
/// only a hang-up of both directions counts as gone.
async fn client_gone(stream: &UnixStream, early: &mut Vec<u8>) {
    loop {
        let ready = match stream.ready(Interest::READABLE).await {
            Ok(r) => r,
            Err(_) => return,
        };
        if ready.is_write_closed() {
            return;
        }
        if ready.is_read_closed() && !ready.is_readable() {
            break;
        }
        let mut b = [0u8; 1];
        match stream.try_read(&mut b) {
            Ok(0) => break,
            Ok(_) => {
                // Pipelined: keep one byte, read no more until this request is answered.
                early.push(b[0]);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
    // Half-closed (or pipelining): wait for the hang-up of the other direction. The event
    // updates the socket's readiness whoever waits; closed states are final, so a look every
    // 100 ms finds it (clearing the writable readiness to wait for an edge would stall the
    // reply's write, since a writable socket sends no new edge).
    loop {
        match stream.ready(Interest::WRITABLE).await {
            Ok(r) if r.is_write_closed() => return,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            Err(_) => return,
        }
    }
}

/// What a request that cannot be decoded gets: `SSH_AGENT_FAILURE` for a standard request (the
/// protocol's answer, which every SSH client understands) and for extensions of others, an
/// `error@hwsign` reply for hwsign's own extensions.
fn malformed(pid: Option<i32>, msg: &[u8], why: &str) -> Response {
    let shown = crate::text::message(why);
    tracing::info!(?pid, kind = msg.first().copied().unwrap_or(0), error = %shown, "malformed request");
    if is_hwsign_extension(msg) {
        let err = WireError::new(
            ErrorCode::Malformed,
            format!("malformed request: {shown}"),
            MALFORMED_HINT,
        );
        dispatch::error_response(&err)
    } else {
        Response::Failure
    }
}

/// An `SSH_AGENTC_EXTENSION` whose name ends in `@hwsign`.
pub fn is_hwsign_extension(msg: &[u8]) -> bool {
    let Some((&27, rest)) = msg.split_first() else {
        return false;
    };
    crate::proto::wire::Dec(rest)
        .bytes()
        .is_ok_and(|name| name.ends_with(b"@hwsign"))
}

/// Decode a whole request: bytes left after it make it malformed (a request is one message).
pub fn decode(msg: &[u8]) -> Result<Request, String> {
    let mut rest = msg;
    let request = Request::decode(&mut rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the request", rest.len()));
    }
    Ok(request)
}

/// Serve a connection until it closes, idles out, is evicted, or `shutdown` turns true
/// (checked between requests).
pub async fn serve(
    ctx: Context,
    mut stream: UnixStream,
    mut shutdown: watch::Receiver<bool>,
    ticket: Ticket,
    limits: SocketLimits,
) {
    let mut peer = match peer_allowed(&stream) {
        Ok((uid, pid)) => Peer::new(pid, uid),
        Err(why) => {
            tracing::warn!(%why, socket = ctx.socket.name(), "refusing connection");
            return;
        }
    };
    let pid = peer.pid;
    tracing::debug!(?pid, process = %crate::text::Escaped::name(&peer.process), socket = ctx.socket.name(), "client connected");
    // A byte read while waiting or watching for the client to leave belongs to its next frame.
    let mut early: Vec<u8> = Vec::new();
    loop {
        ticket.set_idle(true);
        if early.is_empty() {
            let mut b = [0u8; 1];
            let first = tokio::select! {
                r = stream.read(&mut b) => r,
                _ = tokio::time::sleep(limits.idle_timeout) => {
                    tracing::info!(?pid, socket = ctx.socket.name(), "idle timeout: closing the connection");
                    break;
                }
                _ = ticket.evicted() => {
                    tracing::debug!(?pid, socket = ctx.socket.name(), "closing an idle connection for a newcomer");
                    break;
                }
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            match first {
                Ok(1) => early.push(b[0]),
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "read failed");
                    break;
                }
            }
        }
        ticket.set_idle(false);
        let started = Instant::now();
        let incoming = {
            let mut reader = (&early[..]).chain(&mut stream);
            tokio::select! {
                r = read_frame(&mut reader, &limits, started) => r,
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        };
        early.clear();
        let (reply, close) = match incoming {
            Ok(Incoming::Message(msg)) => match decode(&msg) {
                Ok(request) => {
                    // The frame is decoded: a large request (a 100,000-subject statement) is
                    // not held a second time while it is signed.
                    drop(msg);
                    // A client that leaves mid-request (say, during a touch) cancels it.
                    let reply = tokio::select! {
                        r = dispatch::handle(&ctx, &mut peer, request) => r,
                        _ = client_gone(&stream, &mut early) => {
                            tracing::info!(?pid, "client gone mid-request; cancelled it");
                            break;
                        }
                    };
                    (reply, false)
                }
                Err(why) => (malformed(pid, &msg, &why), false),
            },
            Ok(Incoming::Closed) => break,
            Ok(Incoming::Empty) => (Response::Failure, false),
            Ok(Incoming::TooLarge(n)) => {
                tracing::warn!(
                    ?pid,
                    announced = n,
                    limit = limits.max_request,
                    "refusing an oversized frame"
                );
                let err = WireError::new(
                    ErrorCode::FrameTooLarge,
                    format!(
                        "request of {n} bytes refused (the {} socket takes at most {})",
                        ctx.socket.name(),
                        limits.max_request
                    ),
                    "hash large inputs on the client: hwsign sends digests, never files; the limit is [sockets.*] max_request in the agent's config",
                );
                (dispatch::error_response(&err), true)
            }
            Ok(Incoming::Truncated { expected, got }) => {
                tracing::info!(?pid, expected, got, "connection closed mid-frame");
                let err = WireError::new(
                    ErrorCode::TruncatedFrame,
                    format!("frame truncated: {got} of {expected} bytes"),
                    "the client closed its side mid-request; retry the command",
                );
                (dispatch::error_response(&err), true)
            }
            Ok(Incoming::TooSlow {
                expected,
                got,
                allowed,
            }) => {
                tracing::info!(
                    ?pid,
                    expected,
                    got,
                    allowed_ms = allowed.as_millis() as u64,
                    socket = ctx.socket.name(),
                    "frame too slow: closing the connection"
                );
                let err = WireError::new(
                    ErrorCode::TruncatedFrame,
                    format!(
                        "frame not complete within {:.1} s: {got} of {expected} bytes",
                        allowed.as_secs_f64()
                    ),
                    "the link to the agent is too slow; raise [sockets.*] frame_timeout or lower min_frame_rate in the agent's config",
                );
                (dispatch::error_response(&err), true)
            }
            Err(e) => {
                tracing::debug!(error = %e, "read failed");
                break;
            }
        };
        if let Err(e) = write_frame(&mut stream, &encode(&reply), &limits).await {
            tracing::debug!(error = %e, "client gone or not reading before the reply");
            break;
        }
        if close {
            break;
        }
    }
    drop(ticket);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_requests_only_and_whose_errors() {
        // REQUEST_IDENTITIES, then one stray byte.
        assert!(decode(&[11]).is_ok());
        assert!(decode(&[11, 0]).unwrap_err().contains("1 bytes after"));
        let ext = |name: &str| {
            let mut m = vec![27];
            m.extend_from_slice(&(name.len() as u32).to_be_bytes());
            m.extend_from_slice(name.as_bytes());
            m
        };
        assert!(is_hwsign_extension(&ext("sign@hwsign")));
        assert!(!is_hwsign_extension(&ext("session-bind@openssh.com")));
        assert!(!is_hwsign_extension(&[13, 0, 0]));
        assert!(!is_hwsign_extension(&[27, 0, 0, 0, 50, b'x']));
        assert!(matches!(malformed(None, &[13, 1], "x"), Response::Failure));
    }
}
