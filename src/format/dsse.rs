//! DSSE v1 envelopes: the pre-authentication encoding (PAE) and the JSON envelope.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::Write as _;

use super::FormatError;

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {} {} ",
            payload_type.len(),
            payload_type,
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// Split a PAE into its payload type and payload, if `data` is one.
pub fn parse_pae(data: &[u8]) -> Option<(String, &[u8])> {
    let rest = data.strip_prefix(b"DSSEv1 ")?;
    let (type_len, rest) = split_num(rest)?;
    if rest.get(type_len) != Some(&b' ') {
        return None;
    }
    let payload_type = std::str::from_utf8(&rest[..type_len]).ok()?.to_string();
    let (body_len, body) = split_num(&rest[type_len + 1..])?;
    (body.len() == body_len).then_some((payload_type, body))
}

fn split_num(data: &[u8]) -> Option<(usize, &[u8])> {
    let sp = data.iter().position(|&b| b == b' ')?;
    let digits = std::str::from_utf8(&data[..sp]).ok()?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    Some((digits.parse().ok()?, &data[sp + 1..]))
}

/// One signature on an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The key id (hwsign: hex SHA-256 of the SPKI).
    pub keyid: String,
    /// Standard base64 of the signature.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Standard base64 of the payload.
    pub payload: String,
    /// The payload's type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// One per signer (co-signing appends).
    pub signatures: Vec<EnvelopeSignature>,
}

impl Envelope {
    /// An envelope with one signature.
    pub fn new(payload_type: &str, payload: &[u8], keyid: &str, signature: &[u8]) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        Envelope {
            payload: b64.encode(payload),
            payload_type: payload_type.into(),
            signatures: vec![EnvelopeSignature {
                keyid: keyid.into(),
                sig: b64.encode(signature),
            }],
        }
    }

    /// [`Self::to_json`] of an envelope over `payload`, written to `w` with the payload
    /// base64-encoded on the way (a large payload is not held twice more in memory).
    pub fn write_json<W: std::io::Write + ?Sized>(
        w: &mut W,
        payload_type: &str,
        payload: &[u8],
        signatures: &[EnvelopeSignature],
    ) -> std::io::Result<()> {
        let shell = Envelope {
            payload: String::new(),
            payload_type: payload_type.into(),
            signatures: signatures.to_vec(),
        }
        .to_json()
        .map_err(std::io::Error::other)?;
        let at = shell
            .find("\"payload\": \"\"")
            .map(|i| i + "\"payload\": \"".len())
            .ok_or_else(|| std::io::Error::other("no payload field"))?;
        w.write_all(&shell.as_bytes()[..at])?;
        {
            let mut enc = base64::write::EncoderWriter::new(
                &mut *w,
                &base64::engine::general_purpose::STANDARD,
            );
            enc.write_all(payload)?;
            enc.finish()?;
        }
        w.write_all(&shell.as_bytes()[at..])
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<String, FormatError> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_envelopes_are_the_serialized_ones() {
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let e = Envelope::new("application/vnd.in-toto+json", &payload, "k\"1", b"sig");
        let mut out = Vec::new();
        Envelope::write_json(&mut out, &e.payload_type, &payload, &e.signatures).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), e.to_json().unwrap());
    }

    /// A type length of `usize::MAX` overflowed `type_len + 1` and panicked the agent's
    /// classification of what it is asked to sign (any client, the forwarded socket too).
    #[test]
    fn pae_with_a_huge_length_is_no_pae() {
        assert_eq!(parse_pae(b"DSSEv1 18446744073709551615 x"), None);
        assert_eq!(parse_pae(b"DSSEv1 18446744073709551615 x 0 "), None);
        assert_eq!(parse_pae(b"DSSEv1 1 x 18446744073709551615 "), None);
        assert_eq!(parse_pae(b"DSSEv1 1 x 0 "), Some(("x".into(), &b""[..])));
    }

    #[test]
    fn pae_matches_the_spec_example() {
        // From the DSSE protocol document.
        let p = pae("http://example.com/HelloWorld", b"hello world");
        assert_eq!(
            p,
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        let (t, body) = parse_pae(&p).unwrap();
        assert_eq!(t, "http://example.com/HelloWorld");
        assert_eq!(body, b"hello world");
        assert!(parse_pae(b"DSSEv1 29 http://example.com/HelloWorld 12 hello world").is_none());
        assert!(parse_pae(b"SSHSIG").is_none());
    }
}
