//! Reading and writing frames on a connection. A frame announcing more than
//! [`MAX_FRAME`](crate::proto::MAX_FRAME) is refused before anything is allocated for it.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
}

/// Read one frame.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Incoming> {
    let mut hdr = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut hdr[got..]).await?;
        if n == 0 {
            return Ok(if got == 0 {
                Incoming::Closed
            } else {
                Incoming::Truncated { expected: 4, got }
            });
        }
        got += n;
    }
    let len = match frame::header(hdr) {
        Header::Len(n) => n,
        Header::Empty => return Ok(Incoming::Empty),
        Header::TooLarge(n) => return Ok(Incoming::TooLarge(n)),
    };
    let mut body = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = r.read(&mut body[got..]).await?;
        if n == 0 {
            return Ok(Incoming::Truncated { expected: len, got });
        }
        got += n;
    }
    Ok(Incoming::Message(body))
}

/// Write one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, message: &[u8]) -> std::io::Result<()> {
    w.write_all(&frame::encode(message)).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_and_truncation() {
        let mut big: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut big).await.unwrap(),
            Incoming::TooLarge(_)
        ));
        let mut short: &[u8] = &[0, 0, 0, 10, 1, 2];
        assert!(matches!(
            read_frame(&mut short).await.unwrap(),
            Incoming::Truncated {
                expected: 10,
                got: 2
            }
        ));
        let mut ok: &[u8] = &[0, 0, 0, 1, 11];
        assert!(
            matches!(read_frame(&mut ok).await.unwrap(), Incoming::Message(m) if m == vec![11])
        );
        let mut none: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut none).await.unwrap(),
            Incoming::Closed
        ));
    }
}
