//! The ISO 7816-4 layer between vpcd and a card application:
//!
//! * command chaining (CLA bit 0x10 in the first interindustry class range): the parts are
//!   acknowledged with 9000 and the application sees one command with all the data;
//! * responses longer than the command's Le (256 when absent or 00 in a short APDU) are split:
//!   `61xx` tells the client how much remains (`6100` for 256 or more) and GET RESPONSE
//!   (INS C0) fetches the next part;
//! * the status word is appended to every response: `9000` with the data on success, the
//!   application's status word alone on errors (with the data for warnings, 62xx/63xx).

use std::cell::Cell;
use std::io::Write;

use iso7816::command::{CommandView, FromSliceError};

/// The largest command (after chaining) and response an application handles.
pub const MAX_COMMAND: usize = 16 * 1024;
pub const MAX_RESPONSE: usize = 8 * 1024;
/// vpicc frames carry a 16-bit length: keep one response APDU well under it.
const MAX_CHUNK: usize = 65_000;

pub const SW_SUCCESS: u16 = 0x9000;
pub const SW_WRONG_LENGTH: u16 = 0x6700;
pub const SW_SECURITY_STATUS: u16 = 0x6982;
pub const SW_CONDITIONS_OF_USE: u16 = 0x6985;
pub const SW_REFERENCE_NOT_FOUND: u16 = 0x6A88;
pub const SW_INS_NOT_SUPPORTED: u16 = 0x6D00;
pub const SW_CLA_NOT_SUPPORTED: u16 = 0x6E00;
pub const SW_CHECKING_ERROR: u16 = 0x6F00;

/// One complete command APDU.
#[derive(Clone, Debug)]
pub struct Apdu {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Vec<u8>,
    /// Expected response length (0 = no Le field; 256 = short `00`; 65536 = extended `0000`).
    pub le: usize,
}

impl Apdu {
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: usize) -> Apdu {
        Apdu {
            cla,
            ins,
            p1,
            p2,
            data: data.to_vec(),
            le,
        }
    }

    /// Parses a short or extended command APDU; the error is the status word to answer.
    pub fn parse(raw: &[u8]) -> Result<Apdu, u16> {
        let view = CommandView::try_from(raw).map_err(|e| match e {
            FromSliceError::InvalidClass => SW_CLA_NOT_SUPPORTED,
            FromSliceError::TooShort
            | FromSliceError::TooLong
            | FromSliceError::InvalidSliceLength => SW_WRONG_LENGTH,
            FromSliceError::InvalidFirstBodyByteForExtended => SW_CHECKING_ERROR,
        })?;
        Ok(Apdu {
            cla: raw[0],
            ins: raw[1],
            p1: raw[2],
            p2: raw[3],
            data: view.data().to_vec(),
            le: view.expected(),
        })
    }

    /// Encodes the command, in the extended form only when Lc or Le need it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.data.len() + 9);
        v.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let lc = self.data.len();
        if lc <= 255 && self.le <= 256 {
            if lc > 0 {
                v.push(lc as u8);
                v.extend_from_slice(&self.data);
            }
            if self.le > 0 {
                v.push(if self.le >= 256 { 0 } else { self.le as u8 });
            }
        } else {
            v.push(0);
            if lc > 0 {
                v.extend_from_slice(&(lc.min(0xFFFF) as u16).to_be_bytes());
                v.extend_from_slice(&self.data[..lc.min(0xFFFF)]);
            }
            if self.le > 0 {
                let le = if self.le >= 65_536 { 0 } else { self.le as u16 };
                v.extend_from_slice(&le.to_be_bytes());
            }
        }
        v
    }

    /// Whether this is one part of a chain, not the last (first interindustry class only).
    pub fn chained(&self) -> bool {
        self.cla & 0xE0 == 0 && self.cla & 0x10 != 0
    }

    /// The command as the log shows it: PINs and keys (VERIFY, CHANGE REFERENCE, RESET RETRY
    /// COUNTER, PUT DATA, key import) with their data masked.
    pub fn describe(&self) -> String {
        let secret = matches!(self.ins, 0x20 | 0x24 | 0x2C | 0xDA | 0xDB | 0xFE | 0xFF);
        let data = if secret && !self.data.is_empty() {
            format!("<{} bytes>", self.data.len())
        } else {
            hex(&self.data)
        };
        format!(
            "{:02X} {:02X} {:02X} {:02X} [{}] le={}",
            self.cla, self.ins, self.p1, self.p2, data, self.le
        )
    }
}

/// What an application answers: data and status word.
#[derive(Clone, Debug)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    pub fn ok(data: Vec<u8>) -> Response {
        Response {
            data,
            sw: SW_SUCCESS,
        }
    }

    pub fn status(sw: u16) -> Response {
        Response {
            data: Vec::new(),
            sw,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.sw == SW_SUCCESS
    }
}

/// A card application behind the ISO layer.
pub trait App {
    /// Executes one complete command (chaining resolved, GET RESPONSE handled).
    fn call(&mut self, apdu: &Apdu) -> Response;
    /// Power off or reset: volatile state (verified PINs, selected DOs) is lost.
    fn reset(&mut self);
}

/// Runs `apdu` through a trussed firmware's `handle(CommandView, &mut VecView<u8>)`.
pub fn call_firmware<F>(apdu: &Apdu, handle: F) -> Response
where
    F: FnOnce(CommandView<'_>, &mut heapless::VecView<u8>) -> Result<(), iso7816::Status>,
{
    // The firmwares parse CLA 0x00 only: the chain bit is already resolved.
    let mut plain = apdu.clone();
    if plain.chained() {
        plain.cla &= !0x10;
    }
    let bytes = plain.to_bytes();
    let view = match CommandView::try_from(&bytes[..]) {
        Ok(v) => v,
        Err(_) => return Response::status(SW_WRONG_LENGTH),
    };
    let mut reply: heapless::Vec<u8, MAX_RESPONSE> = heapless::Vec::new();
    match handle(view, reply.as_mut_view()) {
        Ok(()) => Response::ok(reply.as_slice().to_vec()),
        Err(status) => Response::status(u16::from(status)),
    }
}

/// The vpicc card: ATR, power handling, chaining and response splitting around an [`App`].
pub struct Adapter<A: App> {
    app: A,
    atr: Vec<u8>,
    /// The chain being received (header of its first part, data so far).
    chain: Option<Apdu>,
    /// The response being read with GET RESPONSE.
    pending: Vec<u8>,
    offset: usize,
    /// Printed on stdout the first time vpcd reads the ATR (the card is in the reader).
    ready_line: String,
    ready_printed: Cell<bool>,
}

impl<A: App> Adapter<A> {
    pub fn new(app: A, atr: Vec<u8>, ready_line: String) -> Adapter<A> {
        Adapter {
            app,
            atr,
            chain: None,
            pending: Vec::new(),
            offset: 0,
            ready_line,
            ready_printed: Cell::new(false),
        }
    }

    fn clear(&mut self) {
        self.chain = None;
        self.pending.clear();
        self.offset = 0;
    }

    /// The next part of the pending response, with 9000 or 61xx.
    fn next_chunk(&mut self, le: usize) -> Vec<u8> {
        let max = if le == 0 { 256 } else { le }.min(MAX_CHUNK);
        let n = max.min(self.pending.len() - self.offset);
        let mut out = self.pending[self.offset..self.offset + n].to_vec();
        self.offset += n;
        let rest = self.pending.len() - self.offset;
        let sw = if rest == 0 {
            self.pending.clear();
            self.offset = 0;
            SW_SUCCESS
        } else if rest >= 256 {
            0x6100
        } else {
            0x6100 | rest as u16
        };
        out.extend_from_slice(&sw.to_be_bytes());
        out
    }

    fn handle(&mut self, raw: &[u8]) -> Vec<u8> {
        let apdu = match Apdu::parse(raw) {
            Ok(a) => a,
            Err(sw) => {
                log::warn!("unparsable command {}: {sw:04X}", hex(raw));
                self.clear();
                return sw.to_be_bytes().to_vec();
            }
        };
        log::debug!("> {}", apdu.describe());

        if apdu.ins == 0xC0 && self.chain.is_none() {
            if self.offset < self.pending.len() {
                return self.next_chunk(apdu.le);
            }
            return SW_CONDITIONS_OF_USE.to_be_bytes().to_vec();
        }
        // Any other command drops an unread response.
        self.pending.clear();
        self.offset = 0;

        if apdu.chained() {
            match self.chain.as_mut() {
                Some(c) if c.ins == apdu.ins && c.p1 == apdu.p1 && c.p2 == apdu.p2 => {
                    c.data.extend_from_slice(&apdu.data);
                }
                _ => {
                    let mut first = apdu.clone();
                    first.cla &= !0x10;
                    self.chain = Some(first);
                }
            }
            if self.chain.as_ref().map_or(0, |c| c.data.len()) > MAX_COMMAND {
                self.chain = None;
                return SW_WRONG_LENGTH.to_be_bytes().to_vec();
            }
            return SW_SUCCESS.to_be_bytes().to_vec();
        }

        let full = match self.chain.take() {
            Some(mut c) if c.ins == apdu.ins && c.p1 == apdu.p1 && c.p2 == apdu.p2 => {
                c.data.extend_from_slice(&apdu.data);
                c.cla = apdu.cla;
                c.le = apdu.le;
                if c.data.len() > MAX_COMMAND {
                    return SW_WRONG_LENGTH.to_be_bytes().to_vec();
                }
                c
            }
            Some(c) => {
                log::warn!(
                    "chain of INS {:02X} abandoned for INS {:02X}",
                    c.ins,
                    apdu.ins
                );
                apdu
            }
            None => apdu,
        };

        let response = self.app.call(&full);
        log::debug!(
            "< {:04X} ({} bytes of data)",
            response.sw,
            response.data.len()
        );
        if response.is_ok() {
            self.pending = response.data;
            self.offset = 0;
            return self.next_chunk(full.le);
        }
        let mut out = Vec::new();
        if matches!(response.sw >> 8, 0x62 | 0x63) {
            out.extend_from_slice(&response.data);
        }
        out.extend_from_slice(&response.sw.to_be_bytes());
        out
    }
}

impl<A: App> vpicc::VSmartCard for Adapter<A> {
    fn atr(&self) -> &[u8] {
        if !self.ready_printed.get() {
            self.ready_printed.set(true);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", self.ready_line);
            let _ = out.flush();
        }
        &self.atr
    }

    fn power_on(&mut self) {
        log::debug!("power on");
        self.clear();
    }

    fn power_off(&mut self) {
        log::debug!("power off");
        self.clear();
        self.app.reset();
    }

    fn reset(&mut self) {
        log::debug!("reset");
        self.clear();
        self.app.reset();
    }

    fn execute(&mut self, msg: &[u8]) -> Vec<u8> {
        self.handle(msg)
    }
}

/// A T=1 ATR carrying `historical` bytes: TS 3B, T0 8K, TD1 80, TD2 01, historical, TCK.
pub fn atr_with_historical_bytes(historical: &[u8]) -> Vec<u8> {
    assert!(historical.len() <= 15, "at most 15 historical bytes");
    let mut atr = vec![0x3B, 0x80 | historical.len() as u8, 0x80, 0x01];
    atr.extend_from_slice(historical);
    let tck = atr[1..].iter().fold(0u8, |acc, b| acc ^ b);
    atr.push(tck);
    atr
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// BER-TLV with a definite length (1, 2 or 3 length bytes).
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = value.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n <= 0xFF {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(value);
    v
}

/// Reads one BER-TLV (one- or two-byte tag) at the start of `data`: (tag, value, rest).
pub fn read_tlv(data: &[u8]) -> Option<(u16, &[u8], &[u8])> {
    let (&t0, mut rest) = data.split_first()?;
    let mut tag = u16::from(t0);
    if t0 & 0x1F == 0x1F {
        let (&t1, r) = rest.split_first()?;
        tag = (tag << 8) | u16::from(t1);
        rest = r;
    }
    let (&l0, r) = rest.split_first()?;
    rest = r;
    let len = match l0 {
        0..=0x7F => usize::from(l0),
        0x81 => {
            let (&l, r) = rest.split_first()?;
            rest = r;
            usize::from(l)
        }
        0x82 => {
            if rest.len() < 2 {
                return None;
            }
            let l = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            rest = &rest[2..];
            l
        }
        _ => return None,
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The value of the first `tag` in a flat TLV list.
pub fn find_tlv(mut data: &[u8], tag: u16) -> Option<&[u8]> {
    while let Some((t, value, rest)) = read_tlv(data) {
        if t == tag {
            return Some(value);
        }
        data = rest;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(Vec<Apdu>);

    impl App for Echo {
        fn call(&mut self, apdu: &Apdu) -> Response {
            self.0.push(apdu.clone());
            if apdu.ins == 0x01 {
                return Response::status(0x6982);
            }
            Response::ok((0..600u32).map(|i| i as u8).collect())
        }
        fn reset(&mut self) {}
    }

    #[test]
    fn chaining_and_get_response() {
        let mut a = Adapter::new(Echo(Vec::new()), vec![0x3B, 0x00], String::new());
        assert_eq!(
            a.handle(&[0x10, 0xDB, 0x3F, 0xFF, 2, 1, 2]),
            vec![0x90, 0x00]
        );
        let r = a.handle(&[0x00, 0xDB, 0x3F, 0xFF, 1, 3, 0]);
        assert_eq!(a.app.0.len(), 1);
        assert_eq!(a.app.0[0].data, vec![1, 2, 3]);
        assert_eq!(a.app.0[0].cla, 0x00);
        assert_eq!(r.len(), 258);
        assert_eq!(&r[256..], &[0x61, 0x00]);
        let r = a.handle(&[0x00, 0xC0, 0x00, 0x00, 0x00]);
        assert_eq!(&r[256..], &[0x61, 88]);
        let r = a.handle(&[0x00, 0xC0, 0x00, 0x00, 88]);
        assert_eq!(r.len(), 90);
        assert_eq!(&r[88..], &[0x90, 0x00]);
        assert_eq!(a.handle(&[0x00, 0xC0, 0x00, 0x00, 0x00]), vec![0x69, 0x85]);
        assert_eq!(a.handle(&[0x00, 0x01, 0x00, 0x00]), vec![0x69, 0x82]);
    }

    #[test]
    fn extended_round_trip() {
        let a = Apdu::new(0, 0xDB, 0x3F, 0xFF, &[7u8; 300], 65_536);
        let b = Apdu::parse(&a.to_bytes()).unwrap();
        assert_eq!(b.data.len(), 300);
        assert_eq!(b.le, 65_536);
        let c = Apdu::new(0, 0xA4, 4, 0, &[1, 2], 256);
        assert_eq!(c.to_bytes(), vec![0, 0xA4, 4, 0, 2, 1, 2, 0]);
    }

    #[test]
    fn atr_checksum() {
        let atr = atr_with_historical_bytes(&[
            0x00, 0x31, 0xF5, 0x73, 0xC0, 0x01, 0x60, 0x00, 0x90, 0x00,
        ]);
        assert_eq!(atr[1..].iter().fold(0u8, |a, b| a ^ b), 0);
    }

    #[test]
    fn tlv_lengths() {
        let v = tlv(0x04, &[9u8; 300]);
        let (tag, value, rest) = read_tlv(&v).unwrap();
        assert_eq!((tag, value.len(), rest.len()), (4, 300, 0));
        assert_eq!(find_tlv(&[0xAA, 1, 2, 0xAB, 1, 3], 0xAB), Some(&[3u8][..]));
        assert_eq!(read_tlv(&[0x7F, 0x49, 2, 1, 2]).unwrap().0, 0x7F49);
    }
}
