//! Framing: a `uint32` length then the message. Pure functions over buffers; the agent and the
//! client do the I/O.

use super::MAX_FRAME;

/// Prefix a message with its length.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + message.len());
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// What a frame header announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A frame of this many bytes follows.
    Len(usize),
    /// An empty frame (no message type): malformed.
    Empty,
    /// More than [`MAX_FRAME`]: refuse without reading.
    TooLarge(usize),
}

/// Interpret a frame header against the default limit.
pub fn header(bytes: [u8; 4]) -> Header {
    header_within(bytes, MAX_FRAME)
}

/// Interpret a frame header against the limit `max` (a socket's configured request size).
pub fn header_within(bytes: [u8; 4], max: usize) -> Header {
    let n = u32::from_be_bytes(bytes) as usize;
    if n == 0 {
        Header::Empty
    } else if n > max {
        Header::TooLarge(n)
    } else {
        Header::Len(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(header([0, 0, 0, 5]), Header::Len(5));
        assert_eq!(header([0, 0, 0, 0]), Header::Empty);
        assert_eq!(header([0, 4, 0, 1]), Header::TooLarge(MAX_FRAME + 1));
        assert_eq!(header([0, 4, 0, 0]), Header::Len(MAX_FRAME));
        assert_eq!(&encode(b"ab")[..], &[0, 0, 0, 2, b'a', b'b']);
    }
}
