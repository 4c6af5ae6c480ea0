//! Public keys in every shape hwsign needs: DER SubjectPublicKeyInfo (and the key id, its
//! SHA-256), PEM, OpenSSH wire blobs and lines.

use std::fmt;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};
use ssh_key::public::{EcdsaPublicKey, Ed25519PublicKey, KeyData};

use crate::crypto::scheme::{HashAlg, Scheme};

/// Why public key material could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not a valid key of the claimed kind.
    #[error("invalid {kind} public key: {detail}")]
    Invalid {
        /// The kind of key.
        kind: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A key type hwsign does not handle.
    #[error("unsupported key type {0}")]
    Unsupported(String),
}

/// The algorithm (and size) of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519 (signs the message itself, no prehash).
    Ed25519,
    /// RSA with a modulus of this many bits.
    Rsa(u32),
}

impl KeyAlgorithm {
    /// The scheme used when nothing else is asked for.
    pub fn default_scheme(self) -> Scheme {
        match self {
            KeyAlgorithm::EcdsaP256 => Scheme::Ecdsa(HashAlg::Sha256),
            KeyAlgorithm::EcdsaP384 => Scheme::Ecdsa(HashAlg::Sha384),
            KeyAlgorithm::Ed25519 => Scheme::Ed25519,
            KeyAlgorithm::Rsa(_) => Scheme::RsaPkcs1v15(HashAlg::Sha256),
        }
    }

    /// Whether a key of this algorithm can sign with `scheme`.
    pub fn supports(self, scheme: Scheme) -> bool {
        matches!(
            (self, scheme),
            (
                KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384,
                Scheme::Ecdsa(_)
            ) | (KeyAlgorithm::Ed25519, Scheme::Ed25519)
                | (
                    KeyAlgorithm::Rsa(_),
                    Scheme::RsaPkcs1v15(_) | Scheme::RsaPss(_)
                )
        )
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::EcdsaP256 => f.write_str("ecdsa-p256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ecdsa-p384"),
            KeyAlgorithm::Ed25519 => f.write_str("ed25519"),
            KeyAlgorithm::Rsa(bits) => write!(f, "rsa-{bits}"),
        }
    }
}

/// A public key hwsign can sign with.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA P-256.
    P256(p256::PublicKey),
    /// ECDSA P-384.
    P384(p384::PublicKey),
    /// Ed25519 (signs the message itself, no prehash).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA, 2048 bits or more.
    Rsa(rsa::RsaPublicKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.algorithm(), self.key_id())
    }
}

fn invalid(kind: &'static str, detail: impl ToString) -> KeyError {
    KeyError::Invalid {
        kind,
        detail: detail.to_string(),
    }
}

impl PublicKey {
    /// An EC key from its curve and SEC1 point.
    pub fn from_sec1(alg: KeyAlgorithm, point: &[u8]) -> Result<Self, KeyError> {
        match alg {
            KeyAlgorithm::EcdsaP256 => p256::PublicKey::from_sec1_bytes(point)
                .map(PublicKey::P256)
                .map_err(|e| invalid("P-256", e)),
            KeyAlgorithm::EcdsaP384 => p384::PublicKey::from_sec1_bytes(point)
                .map(PublicKey::P384)
                .map_err(|e| invalid("P-384", e)),
            other => Err(KeyError::Unsupported(other.to_string())),
        }
    }

    /// An Ed25519 key from its 32 bytes.
    pub fn ed25519(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("Ed25519", "not 32 bytes"))?;
        ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map(PublicKey::Ed25519)
            .map_err(|e| invalid("Ed25519", e))
    }

    /// An Ed25519 key as OpenPGP carries it: 32 bytes, or 33 with the native-point prefix
    /// 0x40. Only a 33-byte point loses its first byte: one generated key in 256 begins with
    /// 0x40 itself.
    pub fn ed25519_openpgp(bytes: &[u8]) -> Result<Self, KeyError> {
        match bytes {
            [0x40, key @ ..] if key.len() == 32 => Self::ed25519(key),
            key => Self::ed25519(key),
        }
    }

    /// An RSA key from its modulus and public exponent (big-endian).
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> Result<Self, KeyError> {
        rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(modulus),
            rsa::BigUint::from_bytes_be(exponent),
        )
        .map(PublicKey::Rsa)
        .map_err(|e| invalid("RSA", e))
    }

    /// The algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PublicKey::P256(_) => KeyAlgorithm::EcdsaP256,
            PublicKey::P384(_) => KeyAlgorithm::EcdsaP384,
            PublicKey::Ed25519(_) => KeyAlgorithm::Ed25519,
            PublicKey::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                KeyAlgorithm::Rsa(k.n().bits() as u32)
            }
        }
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        let doc = match self {
            PublicKey::P256(k) => k.to_public_key_der(),
            PublicKey::P384(k) => k.to_public_key_der(),
            PublicKey::Ed25519(k) => k.to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
        };
        // Encoding a valid key into a Vec cannot fail.
        doc.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        let der = self.spki_der();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    /// The stable key id: lowercase hex SHA-256 of the DER SPKI.
    pub fn key_id(&self) -> String {
        hex(&Sha256::digest(self.spki_der()))
    }

    /// The OpenSSH key data.
    pub fn ssh_key_data(&self) -> KeyData {
        match self {
            PublicKey::P256(k) => {
                KeyData::Ecdsa(EcdsaPublicKey::NistP256(k.to_encoded_point(false)))
            }
            PublicKey::P384(k) => {
                KeyData::Ecdsa(EcdsaPublicKey::NistP384(k.to_encoded_point(false)))
            }
            PublicKey::Ed25519(k) => KeyData::Ed25519(Ed25519PublicKey::from(*k)),
            PublicKey::Rsa(k) => match ssh_key::public::RsaPublicKey::try_from(k) {
                Ok(r) => KeyData::Rsa(r),
                Err(_) => KeyData::Ed25519(Ed25519PublicKey([0; 32])),
            },
        }
    }

    /// The OpenSSH public key line (`ecdsa-sha2-nistp256 AAAA… comment`).
    pub fn ssh_line(&self, comment: &str) -> String {
        let key = ssh_key::PublicKey::new(self.ssh_key_data(), comment);
        key.to_openssh().unwrap_or_default()
    }

    /// Parse an OpenSSH key (as ssh-key decodes it).
    pub fn from_ssh(data: &KeyData) -> Result<Self, KeyError> {
        match data {
            KeyData::Ecdsa(EcdsaPublicKey::NistP256(p)) => {
                Self::from_sec1(KeyAlgorithm::EcdsaP256, p.as_bytes())
            }
            KeyData::Ecdsa(EcdsaPublicKey::NistP384(p)) => {
                Self::from_sec1(KeyAlgorithm::EcdsaP384, p.as_bytes())
            }
            KeyData::Ed25519(k) => Self::ed25519(&k.0),
            KeyData::Rsa(k) => rsa::RsaPublicKey::try_from(k)
                .map(PublicKey::Rsa)
                .map_err(|e| invalid("RSA", e)),
            other => Err(KeyError::Unsupported(other.algorithm().to_string())),
        }
    }

    /// A key from its DER SubjectPublicKeyInfo (an X.509 certificate's subject key).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        use p256::pkcs8::DecodePublicKey;
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            return Ok(PublicKey::P256(k));
        }
        if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
            return Ok(PublicKey::P384(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::Ed25519(k));
        }
        rsa::RsaPublicKey::from_public_key_der(der)
            .map(PublicKey::Rsa)
            .map_err(|_| {
                KeyError::Unsupported(
                    "a SubjectPublicKeyInfo that is not P-256, P-384, Ed25519 or RSA".into(),
                )
            })
    }

    /// Parse an OpenSSH public key line.
    pub fn from_ssh_line(line: &str) -> Result<Self, KeyError> {
        let key =
            ssh_key::PublicKey::from_openssh(line.trim()).map_err(|e| invalid("OpenSSH", e))?;
        Self::from_ssh(key.key_data())
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32-byte Ed25519 key that begins with 0x40 is taken whole; 0x40 ‖ key is the key.
    #[test]
    fn openpgp_ed25519_points_with_and_without_the_prefix() {
        let key = (0u8..=255)
            .map(|seed| ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key())
            .find(|k| k.as_bytes()[0] == 0x40)
            .expect("one seed in 256 gives a key that begins with 0x40");
        let raw = key.as_bytes();
        let want = PublicKey::Ed25519(key);
        assert_eq!(PublicKey::ed25519_openpgp(raw).unwrap(), want);
        assert_eq!(
            PublicKey::ed25519_openpgp(&[&[0x40][..], raw].concat()).unwrap(),
            want
        );
        assert!(PublicKey::ed25519_openpgp(&raw[1..]).is_err());
    }

    #[test]
    fn ed25519_key_id_and_formats() {
        // RFC 8032 test vector 1 public key.
        let pk = [
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ];
        let key = PublicKey::ed25519(&pk).unwrap();
        let spki = key.spki_der();
        assert_eq!(
            &spki[..12],
            &[
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00
            ]
        );
        assert_eq!(key.key_id(), hex(&Sha256::digest(&spki)));
        let line = key.ssh_line("c");
        assert!(line.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
        assert_eq!(PublicKey::from_ssh_line(&line).unwrap(), key);
        assert!(
            key.to_pem()
                .starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA")
        );
    }
}
