//! PKCS#11 objects: reading key pairs off a token (public key from its attributes) and the
//! templates for generating them.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use crate::crypto::pubkey::{KeyAlgorithm, PublicKey};

/// DER OID of NIST P-256 (`prime256v1`).
pub const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER OID of NIST P-384 (`secp384r1`).
pub const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// DER OID of Ed25519 (`id-Ed25519`, 1.3.101.112).
pub const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER PrintableString `edwards25519`, the older way to name the curve.
const NAME_ED25519: &[u8] = b"\x13\x0cedwards25519";

/// A private key found on a token.
#[derive(Debug, Clone)]
pub struct FoundKey {
    /// The private key object (unknown until the session is logged in: private objects are
    /// hidden before).
    pub handle: Option<ObjectHandle>,
    /// CKA_ID.
    pub id: Vec<u8>,
    /// CKA_LABEL.
    pub label: String,
    /// The public key.
    pub public: PublicKey,
    /// CKA_ALWAYS_AUTHENTICATE: a context-specific login before each signature.
    pub always_authenticate: bool,
    /// CKA_START_DATE as Unix seconds (midnight UTC), if set.
    pub created: Option<u64>,
}

/// CKA_START_DATE of an object as Unix seconds (midnight UTC), if set.
fn start_date(session: &Session, handle: ObjectHandle) -> Option<u64> {
    let attrs = session
        .get_attributes(handle, &[AttributeType::StartDate])
        .ok()?;
    attrs.iter().find_map(|a| match a {
        Attribute::StartDate(d) if !d.is_empty() => {
            let digits = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<i64>().ok();
            let (y, m, day) = (digits(&d.year)?, digits(&d.month)?, digits(&d.day)?);
            let days = crate::time::days_from_civil(y, m as u32, day as u32);
            (days >= 0).then_some(days as u64 * 86_400)
        }
        _ => None,
    })
}

fn curve(params: &[u8]) -> Option<KeyAlgorithm> {
    match params {
        OID_P256 => Some(KeyAlgorithm::EcdsaP256),
        OID_P384 => Some(KeyAlgorithm::EcdsaP384),
        OID_ED25519 | NAME_ED25519 => Some(KeyAlgorithm::Ed25519),
        _ => None,
    }
}

/// CKA_EC_POINT is a DER OCTET STRING holding the point; some modules return the bare point.
/// Unwrap only when the wrapped length is the one the curve needs.
pub fn unwrap_point(point: &[u8], expected: usize) -> &[u8] {
    if point.len() == expected {
        return point;
    }
    if point.len() >= 2 && point[0] == 0x04 {
        let (len, hdr) = match point[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 if point.len() >= 3 => (point[2] as usize, 3),
            _ => return point,
        };
        if len == expected && point.len() == hdr + len {
            return &point[hdr..];
        }
    }
    point
}

fn attr_bytes(attrs: &[Attribute], t: AttributeType) -> Option<Vec<u8>> {
    attrs.iter().find_map(|a| match (a, t) {
        (Attribute::Id(v), AttributeType::Id)
        | (Attribute::Label(v), AttributeType::Label)
        | (Attribute::EcParams(v), AttributeType::EcParams)
        | (Attribute::EcPoint(v), AttributeType::EcPoint)
        | (Attribute::Modulus(v), AttributeType::Modulus)
        | (Attribute::PublicExponent(v), AttributeType::PublicExponent) => Some(v.clone()),
        _ => None,
    })
}

/// The public key from an object's attributes (public key object, or a private RSA key).
fn public_from(session: &Session, handle: ObjectHandle) -> Option<PublicKey> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .ok()?;
    let key_type = attrs.iter().find_map(|a| match a {
        Attribute::KeyType(k) => Some(*k),
        _ => None,
    })?;
    if key_type == KeyType::RSA {
        let n = attr_bytes(&attrs, AttributeType::Modulus)?;
        let e = attr_bytes(&attrs, AttributeType::PublicExponent)?;
        return PublicKey::rsa(&n, &e).ok();
    }
    let params = attr_bytes(&attrs, AttributeType::EcParams)?;
    let point = attr_bytes(&attrs, AttributeType::EcPoint)?;
    let alg = match curve(&params) {
        Some(alg) => alg,
        // Explicit curve parameters (a SEQUENCE, as ykcs11 2.2 gives): the point's size says
        // which NIST curve; the point is then checked to be on it.
        None if params.first() == Some(&0x30) => match (
            unwrap_point(&point, 65).len(),
            unwrap_point(&point, 97).len(),
        ) {
            (65, _) => KeyAlgorithm::EcdsaP256,
            (_, 97) => KeyAlgorithm::EcdsaP384,
            _ => return None,
        },
        None => return None,
    };
    match alg {
        KeyAlgorithm::Ed25519 => PublicKey::ed25519(unwrap_point(&point, 32)).ok(),
        KeyAlgorithm::EcdsaP256 => PublicKey::from_sec1(alg, unwrap_point(&point, 65)).ok(),
        KeyAlgorithm::EcdsaP384 => PublicKey::from_sec1(alg, unwrap_point(&point, 97)).ok(),
        KeyAlgorithm::Rsa(_) => None,
    }
}

/// CKA_LABEL of these attributes, trailing blanks cut ("" without one).
fn label_text(attrs: &[Attribute]) -> String {
    String::from_utf8_lossy(&attr_bytes(attrs, AttributeType::Label).unwrap_or_default())
        .trim_end()
        .to_string()
}

/// An object's CKA_LABEL, when it can be read.
fn object_label(session: &Session, handle: ObjectHandle) -> Option<String> {
    let attrs = session
        .get_attributes(handle, &[AttributeType::Label])
        .ok()?;
    Some(label_text(&attrs))
}

/// Every key pair on the token. Logged in: every private key whose public key can be found
/// (by CKA_ID, or on the private object itself for RSA). Not logged in: the public key
/// objects (listing keys needs no PIN), whose private handles are found after login. Keys
/// whose public half cannot be read are skipped and logged.
pub fn find_keys(session: &Session, logged_in: bool) -> cryptoki::error::Result<Vec<FoundKey>> {
    if !logged_in {
        return find_public_keys(session);
    }
    let privs = session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])?;
    let mut out = Vec::new();
    for handle in privs {
        let attrs = session.get_attributes(
            handle,
            &[
                AttributeType::Id,
                AttributeType::Label,
                AttributeType::AlwaysAuthenticate,
            ],
        )?;
        let id = attr_bytes(&attrs, AttributeType::Id).unwrap_or_default();
        let private_label = label_text(&attrs);
        let always_authenticate = attrs
            .iter()
            .any(|a| matches!(a, Attribute::AlwaysAuthenticate(true)));
        let mut public = None;
        if !id.is_empty() {
            let pubs = session.find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(id.clone()),
            ])?;
            public = pubs.into_iter().find_map(|h| {
                public_from(session, h)
                    .map(|p| (p, start_date(session, h), object_label(session, h)))
            });
        }
        let public = public.or_else(|| public_from(session, handle).map(|p| (p, None, None)));
        match public {
            Some((public, public_date, public_label)) => out.push(FoundKey {
                handle: Some(handle),
                // The public object's date first: it is readable with or without a login.
                created: public_date.or_else(|| start_date(session, handle)),
                id,
                // The public object's label first, as in a listing without a login: a key's
                // label does not change when the agent logs in (OpenSC names the two halves
                // differently: "PIV AUTH pubkey", "PIV AUTH key").
                label: public_label
                    .filter(|l| !l.is_empty())
                    .unwrap_or_else(|| private_label.clone()),
                public,
                always_authenticate,
            }),
            None => tracing::warn!(
                label = private_label,
                "skipping a private key whose public key cannot be read"
            ),
        }
    }
    Ok(out)
}

fn find_public_keys(session: &Session) -> cryptoki::error::Result<Vec<FoundKey>> {
    let mut out = Vec::new();
    for handle in session.find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])? {
        let attrs = session.get_attributes(handle, &[AttributeType::Id, AttributeType::Label])?;
        let id = attr_bytes(&attrs, AttributeType::Id).unwrap_or_default();
        let label = label_text(&attrs);
        if let Some(public) = public_from(session, handle) {
            let created = start_date(session, handle);
            out.push(FoundKey {
                handle: None,
                created,
                id,
                label,
                public,
                always_authenticate: false,
            });
        }
    }
    Ok(out)
}

/// The mechanism and templates to generate a key pair of `algorithm`
/// (`p256`, `p384`, `ed25519`, `rsa2048`, `rsa3072`, `rsa4096`).
pub fn generation_templates(
    algorithm: &str,
    label: &str,
    id: &[u8],
    start_date: Option<cryptoki::types::Date>,
) -> Option<(Mechanism<'static>, Vec<Attribute>, Vec<Attribute>)> {
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Verify(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    if let Some(date) = start_date {
        public.push(Attribute::StartDate(date));
        private.push(Attribute::StartDate(date));
    }
    let mechanism = match algorithm {
        "p256" | "p384" => {
            let oid = if algorithm == "p256" {
                OID_P256
            } else {
                OID_P384
            };
            public.push(Attribute::EcParams(oid.to_vec()));
            Mechanism::EccKeyPairGen
        }
        "ed25519" => {
            public.push(Attribute::EcParams(OID_ED25519.to_vec()));
            Mechanism::EccEdwardsKeyPairGen
        }
        "rsa2048" | "rsa3072" | "rsa4096" => {
            let bits: u64 = algorithm[3..].parse().ok()?;
            public.push(Attribute::ModulusBits(bits.into()));
            public.push(Attribute::PublicExponent(vec![1, 0, 1]));
            Mechanism::RsaPkcsKeyPairGen
        }
        _ => return None,
    };
    Some((mechanism, public, private))
}

/// Today's date for CKA_START_DATE (UTC).
pub fn today() -> Option<cryptoki::types::Date> {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs()
        / 86_400;
    let (y, m, d) = crate::time::civil_from_days(days as i64);
    cryptoki::types::Date::new_from_str_slice(
        &format!("{y:04}"),
        &format!("{m:02}"),
        &format!("{d:02}"),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_dates() {
        let mut wrapped = vec![0x04, 65];
        wrapped.extend([0x04; 65]);
        assert_eq!(unwrap_point(&wrapped, 65).len(), 65);
        let mut bare = vec![0x04, 64];
        bare.extend([1; 63]);
        assert_eq!(unwrap_point(&bare, 65), &bare[..]);
        assert_eq!(crate::time::civil_from_days(20_784), (2026, 11, 27));
        assert_eq!(crate::time::days_from_civil(2000, 2, 29), 11_016);
    }
}
