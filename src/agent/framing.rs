//! Reading and writing frames on a connection, within the socket's limits: a frame announcing
//! more than the socket's request limit is refused before anything is allocated for it, and a
//! frame once started must complete within a deadline scaled to its announced length (so a
//! client trickling bytes cannot hold a connection slot, while a large request over a slow
//! forwarded link still gets through).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::config::SocketLimits;
use crate::proto::frame::{self, Header};

/// What came in.
#[derive(Debug)]
pub enum Incoming {
    /// A complete message.
    Message(Vec<u8>),
    /// The peer closed the connection between frames.
    Closed,
    /// The announced length is over the limit; the body was not read.
    TooLarge(usize),
    /// A zero-length frame.
    Empty,
    /// The peer closed in the middle of a frame.
    Truncated {
        /// Bytes announced.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// The frame did not complete within its deadline.
    TooSlow {
        /// Bytes announced (4 while the header itself was incomplete).
        expected: usize,
        /// Bytes received.
        got: usize,
        /// The deadline it missed, counted from its first byte.
        allowed: std::time::Duration,
    },
}

/// Read one frame whose first byte has arrived (or is about to: the caller waits for the idle
/// timeout before calling), started at `started`.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    limits: &SocketLimits,
    started: Instant,
) -> std::io::Result<Incoming> {
    let mut hdr = [0u8; 4];
    let mut got = 0;
    let allowed = limits.frame_deadline(4);
    while got < 4 {
        let n = match tokio::time::timeout_at(started + allowed, r.read(&mut hdr[got..])).await {
            Ok(n) => n?,
            Err(_) => {
                return Ok(Incoming::TooSlow {
                    expected: 4,
                    got,
                    allowed,
                });
            }
        };
        if n == 0 {
            return Ok(if got == 0 {
                Incoming::Closed
            } else {
                Incoming::Truncated { expected: 4, got }
            });
        }
        got += n;
    }
    let len = match frame::header_within(hdr, limits.max_request) {
        Header::Len(n) => n,
        Header::Empty => return Ok(Incoming::Empty),
        Header::TooLarge(n) => return Ok(Incoming::TooLarge(n)),
    };
    let allowed = limits.frame_deadline(len);
    let mut body = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = match tokio::time::timeout_at(started + allowed, r.read(&mut body[got..])).await {
            Ok(n) => n?,
            Err(_) => {
                return Ok(Incoming::TooSlow {
                    expected: len,
                    got,
                    allowed,
                });
            }
        };
        if n == 0 {
            return Ok(Incoming::Truncated { expected: len, got });
        }
        got += n;
    }
    Ok(Incoming::Message(body))
}

/// Write one frame; a client that does not read its reply within the deadline its length
/// allows is given up on (`TimedOut`).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    message: &[u8],
    limits: &SocketLimits,
) -> std::io::Result<()> {
    let write = async {
        w.write_all(&frame::encode(message)).await?;
        w.flush().await
    };
    tokio::time::timeout(limits.frame_deadline(message.len() + 4), write)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> SocketLimits {
        SocketLimits::main()
    }

    #[tokio::test]
    async fn limits_and_truncation() {
        let now = Instant::now();
        let mut big: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut big, &limits(), now).await.unwrap(),
            Incoming::TooLarge(_)
        ));
        let mut short: &[u8] = &[0, 0, 0, 10, 1, 2];
        assert!(matches!(
            read_frame(&mut short, &limits(), now).await.unwrap(),
            Incoming::Truncated {
                expected: 10,
                got: 2
            }
        ));
        let mut ok: &[u8] = &[0, 0, 0, 1, 11];
        assert!(
            matches!(read_frame(&mut ok, &limits(), now).await.unwrap(), Incoming::Message(m) if m == vec![11])
        );
        let mut none: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut none, &limits(), now).await.unwrap(),
            Incoming::Closed
        ));
        let small = SocketLimits {
            max_request: 8,
            ..limits()
        };
        let mut nine: &[u8] = &[0, 0, 0, 9];
        assert!(matches!(
            read_frame(&mut nine, &small, now).await.unwrap(),
            Incoming::TooLarge(9)
        ));
    }

    /// A frame trickling in slower than the minimum rate is cut off at its deadline; the
    /// deadline grows with the announced length.
    #[tokio::test(start_paused = true)]
    async fn slow_frames_time_out() {
        let limits = SocketLimits {
            frame_timeout: Duration::from_secs(2),
            min_frame_rate: 100,
            ..SocketLimits::main()
        };
        // 1,000 bytes announced: 2 s + 10 s allowed; 500 arrive, then nothing.
        let (mut client, mut server) = tokio::io::duplex(4096);
        let started = Instant::now();
        client.write_all(&1000u32.to_be_bytes()).await.unwrap();
        client.write_all(&[7u8; 500]).await.unwrap();
        let got = read_frame(&mut server, &limits, started).await.unwrap();
        assert!(
            matches!(got, Incoming::TooSlow { expected: 1000, got: 500, allowed } if allowed == Duration::from_secs(12)),
            "{got:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(12));
        // A header that never completes is cut off after the base timeout (plus 4 bytes' worth).
        let (mut client, mut server) = tokio::io::duplex(64);
        let started = Instant::now();
        client.write_all(&[0, 0]).await.unwrap();
        let got = read_frame(&mut server, &limits, started).await.unwrap();
        assert!(
            matches!(
                got,
                Incoming::TooSlow {
                    expected: 4,
                    got: 2,
                    ..
                }
            ),
            "{got:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(client);
    }
}
