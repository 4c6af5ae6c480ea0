//! RFC 7512 `pkcs11:` URIs: building them for keys and matching a user's URI against them.

/// Percent-encode a path attribute value (RFC 7512 `pk11-pchar`).
fn encode(value: &[u8]) -> String {
    let mut out = String::new();
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-._~:[]@!$'()*+,=&".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(value: &str) -> Result<Vec<u8>, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("bad escape in {value:?}"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape in {value:?}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The URI of a private key object.
pub fn key_uri(token_label: &str, serial: &str, object_label: &str, id: &[u8]) -> String {
    let mut parts = vec![
        format!("token={}", encode(token_label.as_bytes())),
        format!("serial={}", encode(serial.as_bytes())),
    ];
    if !object_label.is_empty() {
        parts.push(format!("object={}", encode(object_label.as_bytes())));
    }
    if !id.is_empty() {
        parts.push(format!(
            "id={}",
            id.iter().map(|b| format!("%{b:02X}")).collect::<String>()
        ));
    }
    parts.push("type=private".into());
    format!("pkcs11:{}", parts.join(";"))
}

/// The path attributes of a URI (the query part, after `?`, is ignored).
pub fn parse(uri: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let rest = uri
        .strip_prefix("pkcs11:")
        .ok_or_else(|| format!("{uri:?} is not a pkcs11: URI"))?;
    let path = rest.split('?').next().unwrap_or_default();
    path.split(';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("attribute {p:?} has no value"))?;
            Ok((k.to_string(), decode(v)?))
        })
        .collect()
}

/// Whether every attribute of `query` is present with the same value in `candidate`.
pub fn matches(query: &str, candidate: &str) -> Result<bool, String> {
    let want = parse(query)?;
    let have = parse(candidate)?;
    Ok(want
        .iter()
        .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_parse_match() {
        let uri = key_uri("hwsign test", "ab12", "release-p256", &[1, 0xfe]);
        assert_eq!(
            uri,
            "pkcs11:token=hwsign%20test;serial=ab12;object=release-p256;id=%01%FE;type=private"
        );
        assert!(matches("pkcs11:object=release-p256", &uri).unwrap());
        assert!(matches("pkcs11:token=hwsign%20test;id=%01%fe", &uri).unwrap());
        assert!(!matches("pkcs11:object=other", &uri).unwrap());
        assert!(parse("http://x").is_err());
    }
}
