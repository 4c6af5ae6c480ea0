//! What hwsign knows about a key, as types: the tokens report it, the agent's inventory,
//! policy and audit and the client's key selection read it. The `keys@hwsign` wire strings
//! ([`crate::proto::keys::KeyEntry`]) are made from a [`KeyMeta`] when a reply is encoded and
//! parsed back into one, checked, when it is decoded; nothing inside compares policy names as
//! strings.

use std::fmt;
use std::str::FromStr;

use crate::crypto::pubkey::{KeyAlgorithm, PublicKey};

/// A name on the wire or in the config that is not one of a closed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (use {})", .allowed.join(", "))]
pub struct UnknownName {
    /// What was named (`touch policy`…).
    pub what: &'static str,
    /// What was given.
    pub value: String,
    /// The names that are known, for the message.
    pub allowed: &'static [&'static str],
}

/// An enum of a few names that are its text form everywhere (config, wire, JSON, logs).
macro_rules! named {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// The name used in the config, on the wire and in listings.
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(UnknownName {
                        what: $what,
                        value: s.to_string(),
                        allowed: &[$($s),+],
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

named!(
    /// When a key wants a touch: the token's own policy (PIV, OpenPGP UIF), or the simulated
    /// one a `[[key]] touch` rule gives a SoftHSM test-mode key.
    #[derive(Default)]
    TouchPolicy, "touch policy", {
        /// No touch.
        #[default]
        Never = "never",
        /// A touch for every signature.
        Always = "always",
        /// A touch counts for a while (15 s on a YubiKey, `touch_cache_window` when simulated).
        Cached = "cached",
    }
);

named!(
    /// When a key wants its PIN.
    PinPolicy, "PIN policy", {
        /// Never (PIV `never`).
        Never = "never",
        /// Once per session, then cached.
        Once = "once",
        /// Before every signature (PKCS#11 CKA_ALWAYS_AUTHENTICATE, PIV `always`, OpenPGP
        /// "PW1 valid for one signature").
        Always = "always",
    }
);

named!(
    /// Which backend holds a key: decides how touches are announced and how tokens are named.
    BackendKind, "backend", {
        /// A PKCS#11 module (SoftHSM2, ykcs11, OpenSC).
        Pkcs11 = "pkcs11",
        /// A YubiKey's PIV applet over PC/SC.
        Piv = "piv",
        /// An OpenPGP card over PC/SC.
        OpenPgpCard = "openpgp-card",
    }
);

impl BackendKind {
    /// Whether the backend is a card worker of its own (one per applet, found through PC/SC)
    /// rather than a configured PKCS#11 token.
    pub fn is_card(self) -> bool {
        matches!(self, BackendKind::Piv | BackendKind::OpenPgpCard)
    }
}

/// A key id: lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo. Stable across
/// tokens and backends (the same key reached through PKCS#11 and PIV has one id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

/// A string that is not a key id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a key id (64 hex digits)")]
pub struct BadKeyId(pub String);

impl KeyId {
    /// The id of `public`.
    pub fn of(public: &PublicKey) -> KeyId {
        KeyId(public.key_id())
    }

    /// An id given as text (the wire, an audit log): 64 hex digits, any case.
    pub fn parse(s: &str) -> Result<KeyId, BadKeyId> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(KeyId(s.to_ascii_lowercase()))
        } else {
            Err(BadKeyId(s.to_string()))
        }
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the id begins with `prefix` (hex, any case): how people name keys.
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.0.starts_with(&prefix.to_ascii_lowercase())
    }

    /// The first 16 digits, for listings and messages.
    pub fn short(&self) -> &str {
        &self.0[..16]
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read as text where text is wanted (messages, file names, DSSE `keyid`s): an id is never
/// built from text without [`KeyId::parse`].
impl std::ops::Deref for KeyId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for KeyId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<KeyId> for String {
    fn eq(&self, other: &KeyId) -> bool {
        *self == other.0
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Everything known about one key the agent can use: what its token reports, where the token
/// is, and when the key was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMeta {
    /// The id, from `public`.
    pub id: KeyId,
    /// The key's label on its token.
    pub label: String,
    /// The public key.
    pub public: PublicKey,
    /// The backend that holds it.
    pub backend: BackendKind,
    /// The token's label (a card's name, e.g. `YubiKey 5 #12345678 PIV`).
    pub token_label: String,
    /// The token's serial number.
    pub token_serial: String,
    /// Where the key sits on the token (object id, slot, key reference).
    pub object: String,
    /// When it wants a touch.
    pub touch: TouchPolicy,
    /// When it wants its PIN.
    pub pin: PinPolicy,
    /// Its RFC 7512 URI (PKCS#11 keys only).
    pub pkcs11_uri: Option<String>,
    /// When the key was made (Unix seconds): from the token (PKCS#11 CKA_START_DATE) or first
    /// seen by the agent. OpenPGP fingerprints depend on it.
    pub created: u64,
    /// Whether the agent's policy lets it be used through the forwarded socket (a fact of the
    /// listing, set where a listing is made).
    pub remote: bool,
}

impl KeyMeta {
    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm()
    }

    /// The OpenSSH public key line, with the label as its comment.
    pub fn ssh_line(&self) -> String {
        self.public.ssh_line(&self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_say_what_is_allowed() {
        for p in [TouchPolicy::Never, TouchPolicy::Always, TouchPolicy::Cached] {
            assert_eq!(p.name().parse::<TouchPolicy>(), Ok(p));
        }
        for p in [PinPolicy::Never, PinPolicy::Once, PinPolicy::Always] {
            assert_eq!(p.to_string().parse::<PinPolicy>(), Ok(p));
        }
        assert_eq!(
            "openpgp-card".parse::<BackendKind>(),
            Ok(BackendKind::OpenPgpCard)
        );
        let err = "sometimes".parse::<TouchPolicy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown touch policy \"sometimes\" (use never, always, cached)"
        );
        let cfg: TouchPolicy = toml::Value::String("cached".into()).try_into().unwrap();
        assert_eq!(cfg, TouchPolicy::Cached);
    }

    #[test]
    fn key_ids_are_64_hex_digits_lowercased() {
        let id = KeyId::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(id.as_str(), "ab".repeat(32));
        assert!(id.starts_with("ABab"));
        assert!(!id.starts_with("abc"));
        assert_eq!(id.short(), "ab".repeat(8));
        assert!(KeyId::parse("abcd").is_err());
        assert!(KeyId::parse(&"g".repeat(64)).is_err());
    }
}
