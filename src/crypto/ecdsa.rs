//! ECDSA signature encodings: the fixed-width `r‖s` that PKCS#11 returns, ASN.1 DER (DSSE,
//! raw, OpenSSL) and the SSH `mpint r, mpint s` blob.

use crate::format::FormatError;

fn bad(msg: &str) -> FormatError {
    FormatError::Signature(msg.to_string())
}

/// Strip leading zeros from a big-endian unsigned integer (keeping at least one byte).
fn trim(mut b: &[u8]) -> &[u8] {
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    b
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

fn der_uint(out: &mut Vec<u8>, v: &[u8]) {
    let v = trim(v);
    let pad = v[0] & 0x80 != 0;
    out.push(0x02);
    der_len(out, v.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

/// `r‖s` (each half the length) → DER `SEQUENCE { INTEGER r, INTEGER s }`.
pub fn raw_to_der(raw: &[u8]) -> Result<Vec<u8>, FormatError> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return Err(bad("ECDSA r‖s has odd or zero length"));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::with_capacity(raw.len() + 8);
    der_uint(&mut body, r);
    der_uint(&mut body, s);
    let mut out = vec![0x30];
    der_len(&mut out, body.len());
    out.extend(body);
    Ok(out)
}

fn read_len(d: &mut &[u8]) -> Result<usize, FormatError> {
    let (&first, rest) = d.split_first().ok_or_else(|| bad("truncated DER"))?;
    *d = rest;
    if first < 0x80 {
        return Ok(first as usize);
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 2 || d.len() < n {
        return Err(bad("unsupported DER length"));
    }
    let mut len = 0usize;
    for &b in &d[..n] {
        len = (len << 8) | b as usize;
    }
    *d = &d[n..];
    Ok(len)
}

fn read_tlv<'a>(d: &mut &'a [u8], tag: u8) -> Result<&'a [u8], FormatError> {
    let (&t, rest) = d.split_first().ok_or_else(|| bad("truncated DER"))?;
    if t != tag {
        return Err(bad("unexpected DER tag"));
    }
    *d = rest;
    let len = read_len(d)?;
    if d.len() < len {
        return Err(bad("truncated DER"));
    }
    let (v, rest) = d.split_at(len);
    *d = rest;
    Ok(v)
}

/// DER → the two unsigned integers (leading zeros stripped).
pub fn der_to_parts(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), FormatError> {
    let mut outer = der;
    let mut seq = read_tlv(&mut outer, 0x30)?;
    if !outer.is_empty() {
        return Err(bad("trailing bytes after DER signature"));
    }
    let r = trim(read_tlv(&mut seq, 0x02)?).to_vec();
    let s = trim(read_tlv(&mut seq, 0x02)?).to_vec();
    if !seq.is_empty() {
        return Err(bad("trailing bytes in DER signature"));
    }
    Ok((r, s))
}

/// DER → fixed-width `r‖s` with `half` bytes each.
pub fn der_to_raw(der: &[u8], half: usize) -> Result<Vec<u8>, FormatError> {
    let (r, s) = der_to_parts(der)?;
    if r.len() > half || s.len() > half {
        return Err(bad("ECDSA integer longer than the curve"));
    }
    let mut out = vec![0u8; 2 * half];
    out[half - r.len()..half].copy_from_slice(&r);
    out[2 * half - s.len()..].copy_from_slice(&s);
    Ok(out)
}

fn mpint(out: &mut Vec<u8>, v: &[u8]) {
    let v = trim(v);
    let v: &[u8] = if v == [0] { &[] } else { v };
    let pad = v.first().is_some_and(|b| b & 0x80 != 0);
    out.extend_from_slice(&((v.len() + usize::from(pad)) as u32).to_be_bytes());
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

/// DER → the SSH ECDSA signature blob (`mpint r`, `mpint s`).
pub fn der_to_ssh_blob(der: &[u8]) -> Result<Vec<u8>, FormatError> {
    let (r, s) = der_to_parts(der)?;
    let mut out = Vec::with_capacity(r.len() + s.len() + 10);
    mpint(&mut out, &r);
    mpint(&mut out, &s);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn der_roundtrip_matches_rustcrypto() {
        for seed in 1u8..40 {
            let mut raw = [0u8; 64];
            for (i, b) in raw.iter_mut().enumerate() {
                *b = seed.wrapping_mul(31).wrapping_add(i as u8);
            }
            raw[0] = if seed % 2 == 0 { 0x80 } else { 0x00 };
            raw[32] = if seed % 3 == 0 { 0x00 } else { 0xff };
            raw[33] = if seed % 5 == 0 { 0x00 } else { raw[33] };
            let der = raw_to_der(&raw).unwrap();
            if let Ok(sig) = p256::ecdsa::Signature::from_slice(&raw) {
                assert_eq!(der, sig.to_der().as_bytes().to_vec());
            }
            assert_eq!(der_to_raw(&der, 32).unwrap(), raw.to_vec());
        }
    }

    #[test]
    fn ssh_blob_verifies_with_ssh_key() {
        use p256::ecdsa::{SigningKey, signature::Signer};
        let sk = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let msg = b"hello";
        let sig: p256::ecdsa::Signature = sk.sign(msg);
        let blob = der_to_ssh_blob(sig.to_der().as_bytes()).unwrap();
        let ssh_sig = ssh_key::Signature::new(
            ssh_key::Algorithm::Ecdsa {
                curve: ssh_key::EcdsaCurve::NistP256,
            },
            blob,
        )
        .unwrap();
        let vk = sk.verifying_key();
        let back = p256::ecdsa::Signature::try_from(&ssh_sig).unwrap();
        vk.verify(msg, &back).unwrap();
    }
}
