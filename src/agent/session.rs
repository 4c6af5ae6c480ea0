//! One client connection: check the peer, then read frames, decode, dispatch and answer until
//! the client leaves or the agent shuts down. Bad frames get an `error@hwsign` reply; a frame
//! that cannot be skipped (too large, truncated) ends the connection, never the agent.

use ssh_agent_lib::proto::Request;
use ssh_encoding::{Decode, Encode};
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::sync::watch;

use super::context::{Context, Peer};
use super::dispatch;
use super::framing::{Incoming, read_frame, write_frame};
use crate::error::{ErrorCode, WireError};
use crate::proto::MAX_FRAME;

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

fn encode(response: &dispatch_response::Response) -> Vec<u8> {
    let mut out = Vec::new();
    if response.encode(&mut out).is_err() {
        out = vec![5]; // SSH_AGENT_FAILURE
    }
    out
}

mod dispatch_response {
    pub use ssh_agent_lib::proto::Response;
}

/// Resolves when the client closes its side; a byte it sends instead is kept in `early` and
/// the watch ends (the client is still there).
async fn client_gone(stream: &UnixStream, early: &mut Vec<u8>) {
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        let mut b = [0u8; 1];
        match stream.try_read(&mut b) {
            Ok(0) => return,
            Ok(_) => {
                early.push(b[0]);
                std::future::pending::<()>().await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
}

/// Serve a connection until it closes or `shutdown` turns true (checked between requests).
pub async fn serve(ctx: Context, mut stream: UnixStream, mut shutdown: watch::Receiver<bool>) {
    let mut peer = match peer_allowed(&stream) {
        Ok((uid, pid)) => Peer::new(pid, uid),
        Err(why) => {
            tracing::warn!(%why, socket = ctx.socket.name(), "refusing connection");
            return;
        }
    };
    let pid = peer.pid;
    tracing::debug!(?pid, process = %crate::text::Escaped::name(&peer.process), socket = ctx.socket.name(), "client connected");
    // A byte read while watching for the client to leave belongs to its next frame.
    let mut early: Vec<u8> = Vec::new();
    loop {
        let incoming = {
            let mut reader = (&early[..]).chain(&mut stream);
            tokio::select! {
                r = read_frame(&mut reader) => r,
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        };
        early.clear();
        let (reply, close) = match incoming {
            Ok(Incoming::Message(msg)) => match Request::decode(&mut &msg[..]) {
                Ok(request) => {
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
                Err(e)
                    if msg.first() == Some(&27)
                        || !matches!(e, ssh_agent_lib::proto::Error::UnsupportedCommand { .. }) =>
                {
                    // The error's Display quotes the peer's bytes: escape them for the log
                    // and for the client's terminal.
                    let shown = crate::text::message(&e.to_string());
                    tracing::info!(?pid, error = %shown, "malformed request");
                    let err = WireError::new(
                        ErrorCode::Malformed,
                        format!("malformed request: {shown}"),
                        MALFORMED_HINT,
                    );
                    (dispatch::error_response(&err), false)
                }
                Err(_) => (dispatch_response::Response::Failure, false),
            },
            Ok(Incoming::Closed) => break,
            Ok(Incoming::Empty) => {
                let err = WireError::new(ErrorCode::Malformed, "empty frame", MALFORMED_HINT);
                (dispatch::error_response(&err), false)
            }
            Ok(Incoming::TooLarge(n)) => {
                tracing::warn!(?pid, announced = n, "refusing an oversized frame");
                let err = WireError::new(
                    ErrorCode::FrameTooLarge,
                    format!("request of {n} bytes refused (limit {MAX_FRAME})"),
                    "hash large inputs on the client: hwsign sends digests, never files",
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
            Err(e) => {
                tracing::debug!(error = %e, "read failed");
                break;
            }
        };
        if let Err(e) = write_frame(&mut stream, &encode(&reply)).await {
            tracing::debug!(error = %e, "client gone before the reply");
            break;
        }
        if close {
            break;
        }
    }
}
