//! The SSH agent protocol's framing for tests that speak it by hand (a malformed request, a
//! lock, a sign request built byte by byte): one `uint32` length, then the message. Written
//! once here, apart from the product's codec (`hwsign::proto::frame`), so that a test of the
//! agent's framing does not lean on the code it tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// Send one framed message.
pub fn send(s: &mut UnixStream, msg: &[u8]) {
    s.write_all(&(msg.len() as u32).to_be_bytes())
        .and_then(|()| s.write_all(msg))
        .expect("the agent takes the request");
}

/// The longest reply a test takes: more than any agent reply (a key listing, an attestation),
/// far less than the 4 GiB a broken length could announce.
const MAX_REPLY: usize = 64 << 20;

/// One framed reply, or None when the agent closed the connection first. A length beyond
/// [`MAX_REPLY`] fails the test rather than allocate it.
pub fn receive(s: &mut UnixStream) -> Option<Vec<u8>> {
    let mut hdr = [0u8; 4];
    s.read_exact(&mut hdr).ok()?;
    let len = u32::from_be_bytes(hdr) as usize;
    assert!(
        len <= MAX_REPLY,
        "the agent announced a reply of {len} bytes"
    );
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// Send `msg` and return the reply (which must come).
pub fn round_trip(s: &mut UnixStream, msg: &[u8]) -> Vec<u8> {
    send(s, msg);
    receive(s).expect("a reply from the agent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        send(&mut a, b"\x0bhello");
        let mut raw = [0u8; 10];
        b.read_exact(&mut raw).unwrap();
        assert_eq!(&raw, b"\0\0\0\x06\x0bhello");
        send(&mut b, b"back");
        assert_eq!(receive(&mut a).unwrap(), b"back");
        drop(b);
        assert_eq!(receive(&mut a), None);
    }
}
