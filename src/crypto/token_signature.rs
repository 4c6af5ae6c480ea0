//! A signature as a token returned it, and the one place that encodes it the way every format
//! of hwsign expects (ECDSA as DER, Ed25519 as 64 bytes, RSA as an integer as long as the
//! modulus). Backends return what their token said; they never encode.

use crate::crypto::ecdsa;
use crate::crypto::pubkey::KeyAlgorithm;
use crate::format::FormatError;

/// What a token answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSignature {
    /// ECDSA as `r‖s` (PKCS#11 CKM_ECDSA, OpenPGP cards).
    EcdsaConcat(Vec<u8>),
    /// ECDSA as ASN.1 DER (PIV).
    EcdsaDer(Vec<u8>),
    /// Ed25519's 64 bytes.
    Ed25519(Vec<u8>),
    /// RSA's big-endian integer; a card may drop its leading zero bytes.
    Rsa(Vec<u8>),
}

impl TokenSignature {
    /// The signature in its canonical encoding for a key of `alg`. A token answering in a
    /// form that cannot be its key's (a length that does not fit, DER that does not parse) is
    /// an error: nothing malformed is passed on.
    pub fn encode(self, alg: KeyAlgorithm) -> Result<Vec<u8>, FormatError> {
        let bad = |what: String| FormatError::Invalid(format!("the token returned {what}"));
        match (self, alg) {
            (
                TokenSignature::EcdsaConcat(raw),
                KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384,
            ) => {
                let want = if alg == KeyAlgorithm::EcdsaP256 {
                    64
                } else {
                    96
                };
                if raw.len() != want {
                    return Err(bad(format!(
                        "a {}-byte ECDSA signature for a {alg} key ({want} expected)",
                        raw.len()
                    )));
                }
                ecdsa::raw_to_der(&raw)
            }
            (TokenSignature::EcdsaDer(der), KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384) => {
                ecdsa::der_to_parts(&der)?;
                Ok(der)
            }
            (TokenSignature::Ed25519(sig), KeyAlgorithm::Ed25519) if sig.len() == 64 => Ok(sig),
            (TokenSignature::Rsa(sig), KeyAlgorithm::Rsa(bits)) => {
                let len = (bits as usize).div_ceil(8);
                if sig.len() > len {
                    return Err(bad(format!(
                        "a {}-byte RSA signature for a {bits}-bit key",
                        sig.len()
                    )));
                }
                let mut padded = vec![0u8; len - sig.len()];
                padded.extend_from_slice(&sig);
                Ok(padded)
            }
            (other, alg) => Err(bad(format!("{other:?} for a {alg} key"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_is_encoded_once_and_misfits_are_refused() {
        let raw = [[0x01u8; 32], [0x80u8; 32]].concat();
        let der = TokenSignature::EcdsaConcat(raw.clone())
            .encode(KeyAlgorithm::EcdsaP256)
            .unwrap();
        assert_eq!(ecdsa::der_to_raw(&der, 32).unwrap(), raw);
        assert_eq!(
            TokenSignature::EcdsaDer(der.clone())
                .encode(KeyAlgorithm::EcdsaP256)
                .unwrap(),
            der
        );
        assert!(
            TokenSignature::EcdsaConcat(raw)
                .encode(KeyAlgorithm::EcdsaP384)
                .is_err()
        );
        assert!(
            TokenSignature::EcdsaDer(vec![0x30, 0x00, 0x01])
                .encode(KeyAlgorithm::EcdsaP256)
                .is_err()
        );
        // A card that dropped a leading zero byte gets it back.
        let short = vec![0x42u8; 255];
        let full = TokenSignature::Rsa(short)
            .encode(KeyAlgorithm::Rsa(2048))
            .unwrap();
        assert_eq!((full.len(), full[0], full[1]), (256, 0, 0x42));
        assert!(
            TokenSignature::Rsa(vec![1; 257])
                .encode(KeyAlgorithm::Rsa(2048))
                .is_err()
        );
        assert!(
            TokenSignature::Ed25519(vec![0; 63])
                .encode(KeyAlgorithm::Ed25519)
                .is_err()
        );
        assert!(
            TokenSignature::Ed25519(vec![0; 64])
                .encode(KeyAlgorithm::EcdsaP256)
                .is_err()
        );
    }
}
