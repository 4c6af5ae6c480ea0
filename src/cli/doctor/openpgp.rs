//! OpenPGP cards seen by `hwsign doctor`, read with two APDUs (SELECT, GET DATA 6E: the
//! application related data) in one short shared connection: the card's ident, the signature
//! key's algorithm and the PW1 retry counter. No PIN is verified.

/// What the doctor needs of an OpenPGP card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// `MMMM:SSSSSSSS`, as hwsign names the card.
    pub ident: String,
    /// Manufacturer id (0x0006: Yubico).
    pub manufacturer: u16,
    /// Serial number (a YubiKey's serial for Yubico).
    pub serial: u32,
    /// The signature key's algorithm: `rsa`, `ecdsa`, `eddsa`, or empty.
    pub sig_algorithm: &'static str,
    /// PW1 (user PIN) tries left.
    pub pw1_tries: u8,
}

/// The value of the first `tag` in BER-TLV `data`, looking into constructed values.
pub fn find_tag(mut data: &[u8], tag: u16) -> Option<&[u8]> {
    while !data.is_empty() {
        let first = data[0];
        let (t, rest) = if first & 0x1f == 0x1f {
            (u16::from_be_bytes([first, *data.get(1)?]), data.get(2..)?)
        } else {
            (u16::from(first), &data[1..])
        };
        let (len, rest) = match *rest.first()? {
            n if n < 0x80 => (usize::from(n), &rest[1..]),
            0x81 => (usize::from(*rest.get(1)?), rest.get(2..)?),
            0x82 => (
                usize::from(u16::from_be_bytes([*rest.get(1)?, *rest.get(2)?])),
                rest.get(3..)?,
            ),
            _ => return None,
        };
        let value = rest.get(..len)?;
        if t == tag {
            return Some(value);
        }
        let constructed = if t > 0xff {
            (t >> 8) as u8 & 0x20 != 0
        } else {
            first & 0x20 != 0
        };
        if constructed {
            if let Some(v) = find_tag(value, tag) {
                return Some(v);
            }
        }
        data = &rest[len..];
    }
    None
}

/// The card from its application related data (the value of 6E, or 6E itself).
pub fn parse(data: &[u8]) -> Option<Card> {
    let aid = find_tag(data, 0x4f)?;
    if aid.len() < 14 || aid[..6] != [0xd2, 0x76, 0x00, 0x01, 0x24, 0x01] {
        return None;
    }
    let manufacturer = u16::from_be_bytes([aid[8], aid[9]]);
    let serial = u32::from_be_bytes([aid[10], aid[11], aid[12], aid[13]]);
    let sig_algorithm = match find_tag(data, 0xc1).and_then(|a| a.first()) {
        Some(0x01) => "rsa",
        Some(0x13) => "ecdsa",
        Some(0x16) => "eddsa",
        _ => "",
    };
    let pw1_tries = *find_tag(data, 0xc4)?.get(4)?;
    Some(Card {
        ident: format!("{manufacturer:04X}:{serial:08X}"),
        manufacturer,
        serial,
        sig_algorithm,
        pw1_tries,
    })
}

fn exchange(card: &pcsc::Card, apdu: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut next = apdu.to_vec();
    for _ in 0..16 {
        let rx = card.transmit(&next, &mut buf).ok()?;
        let (data, sw) = rx.split_at(rx.len().checked_sub(2)?);
        out.extend_from_slice(data);
        match (sw[0], sw[1]) {
            (0x90, 0x00) => return Some(out),
            (0x61, n) => next = vec![0x00, 0xc0, 0x00, 0x00, n],
            _ => return None,
        }
    }
    None
}

/// The OpenPGP card in `reader`, if it holds one.
pub fn read(ctx: &pcsc::Context, reader: &std::ffi::CStr) -> Option<Card> {
    let card = ctx
        .connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .ok()?;
    let result = (|| {
        exchange(
            &card,
            &[
                0x00, 0xa4, 0x04, 0x00, 0x06, 0xd2, 0x76, 0x00, 0x01, 0x24, 0x01,
            ],
        )?;
        parse(&exchange(&card, &[0x00, 0xca, 0x00, 0x6e, 0x00])?)
    })();
    let _ = card.disconnect(pcsc::Disposition::LeaveCard);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_related_data() {
        // 6E { 4F aid, 73 { C1 13 2A…, C4 pw status } }
        let mut aid = vec![0xd2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04, 0x00, 0x06];
        aid.extend_from_slice(&0x0123_4567u32.to_be_bytes());
        aid.extend_from_slice(&[0, 0]);
        let mut inner = vec![0xc1, 0x03, 0x13, 0x2a, 0x86];
        inner.extend_from_slice(&[0xc4, 0x07, 0x00, 0x7f, 0x7f, 0x7f, 0x02, 0x00, 0x03]);
        let mut disc = vec![0x73, inner.len() as u8];
        disc.extend(inner);
        let mut body = vec![0x4f, aid.len() as u8];
        body.extend(aid);
        body.extend(disc);
        let mut data = vec![0x6e, 0x81, body.len() as u8];
        data.extend(body);
        let card = parse(&data).unwrap();
        assert_eq!(card.ident, "0006:01234567");
        assert_eq!(card.manufacturer, 6);
        assert_eq!(card.serial, 0x0123_4567);
        assert_eq!(card.sig_algorithm, "ecdsa");
        assert_eq!(card.pw1_tries, 2);
        assert!(parse(&[0x6e, 0x02, 0x4f, 0x00]).is_none());
        assert!(find_tag(&[0x4f, 0x05, 0x00], 0x4f).is_none(), "truncated");
    }
}
