//! Signature schemes a client may ask for, and what the agent is given to sign.

use std::fmt;
use std::str::FromStr;

use crate::proto::ProtoError;

/// A hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Lowercase name (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }
    /// Hash bytes in one go.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
    fn parse(s: &str) -> Option<HashAlg> {
        match s {
            "sha256" => Some(HashAlg::Sha256),
            "sha384" => Some(HashAlg::Sha384),
            "sha512" => Some(HashAlg::Sha512),
            _ => None,
        }
    }
}

/// A signature scheme: the key's algorithm family plus the hash and padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// ECDSA over the given hash; the agent returns ASN.1 DER.
    Ecdsa(HashAlg),
    /// PureEdDSA over the message (no prehash).
    Ed25519,
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1v15(HashAlg),
    /// RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash.
    RsaPss(HashAlg),
}

impl Scheme {
    /// The hash the scheme uses, if any.
    pub fn hash(self) -> Option<HashAlg> {
        match self {
            Scheme::Ecdsa(h) | Scheme::RsaPkcs1v15(h) | Scheme::RsaPss(h) => Some(h),
            Scheme::Ed25519 => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::Ecdsa(h) => write!(f, "ecdsa-{}", h.name()),
            Scheme::Ed25519 => f.write_str("ed25519"),
            Scheme::RsaPkcs1v15(h) => write!(f, "rsa-pkcs1v15-{}", h.name()),
            Scheme::RsaPss(h) => write!(f, "rsa-pss-{}", h.name()),
        }
    }
}

impl FromStr for Scheme {
    type Err = ProtoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ProtoError::Invalid(format!("unknown signature scheme {s:?}"));
        if s == "ed25519" {
            return Ok(Scheme::Ed25519);
        }
        let (family, hash) = s.rsplit_once('-').ok_or_else(bad)?;
        let hash = HashAlg::parse(hash).ok_or_else(bad)?;
        match family {
            "ecdsa" | "ecdsa-p256" | "ecdsa-p384" => Ok(Scheme::Ecdsa(hash)),
            "rsa-pkcs1v15" => Ok(Scheme::RsaPkcs1v15(hash)),
            "rsa-pss" => Ok(Scheme::RsaPss(hash)),
            _ => Err(bad()),
        }
    }
}

/// What the bytes in a sign request are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInput {
    /// The message itself: the agent hashes it (and can parse it: DSSE PAE, SSHSIG blob).
    Message,
    /// A digest made by the client with the scheme's hash.
    Prehash,
}

impl SignInput {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            SignInput::Message => 0,
            SignInput::Prehash => 1,
        }
    }
    pub(crate) fn from_u8(v: u8) -> Result<Self, ProtoError> {
        match v {
            0 => Ok(SignInput::Message),
            1 => Ok(SignInput::Prehash),
            _ => Err(ProtoError::Invalid(format!("unknown sign input kind {v}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        for s in [
            Scheme::Ecdsa(HashAlg::Sha256),
            Scheme::Ecdsa(HashAlg::Sha384),
            Scheme::Ed25519,
            Scheme::RsaPkcs1v15(HashAlg::Sha512),
            Scheme::RsaPss(HashAlg::Sha256),
        ] {
            assert_eq!(s.to_string().parse::<Scheme>().unwrap(), s);
        }
        assert_eq!(
            "ecdsa-p256-sha256".parse::<Scheme>().unwrap(),
            Scheme::Ecdsa(HashAlg::Sha256)
        );
        assert!("rsa-md5".parse::<Scheme>().is_err());
    }
}
