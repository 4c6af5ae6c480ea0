//! The vpcd link: vpcd's protocol (a 2-byte big-endian length, then a control byte or an APDU;
//! answers the same way), as the `vpicc` crate speaks it, with one difference: each read asks
//! the kernel for an immediate ACK (TCP_QUICKACK). vpcd writes a message's length and its body
//! in two sends without TCP_NODELAY, so the body waits for the length's ACK, which a delayed
//! ACK holds back ~40 ms: every APDU took ~45 ms instead of well under one.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use vpicc::VSmartCard;

/// Ask for the next ACK now (Linux resets this after it fires, so it is set before each read).
fn quick_ack(stream: &TcpStream) {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value of the size passed.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn read_message(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut size = [0u8; 2];
    quick_ack(stream);
    stream.read_exact(&mut size)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(size))];
    quick_ack(stream);
    stream.read_exact(&mut msg)?;
    quick_ack(stream);
    Ok(msg)
}

fn send_message(stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    let len = u16::try_from(data.len()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidData, "answer longer than 65535 bytes")
    })?;
    let mut msg = Vec::with_capacity(2 + data.len());
    msg.extend_from_slice(&len.to_be_bytes());
    msg.extend_from_slice(data);
    stream.write_all(&msg)
}

/// Serve `card` on `stream` until vpcd closes it (an `UnexpectedEof` error) or a read fails.
pub fn serve<V: VSmartCard>(mut stream: TcpStream, card: &mut V) -> io::Result<()> {
    loop {
        let msg = read_message(&mut stream)?;
        match msg.as_slice() {
            [] => return Err(io::Error::other("vpcd sent an empty message")),
            [0] => card.power_off(),
            [1] => card.power_on(),
            [2] => card.reset(),
            [4] => send_message(&mut stream, card.atr())?,
            [c] => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unsupported vpcd control command {c}"),
                ));
            }
            apdu => {
                let answer = card.execute(apdu);
                send_message(&mut stream, &answer)?;
            }
        }
    }
}
