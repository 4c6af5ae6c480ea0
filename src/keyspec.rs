//! The KEY forms shared by the command line (`--key`) and the config (`[[key]] match`):
//! `id:<prefix>`, `label:<label>`, `pkcs11:…` (RFC 7512), or a bare string that is an id prefix
//! (4+ hex digits) or a label.

use crate::key::KeyMeta;

/// How a KEY string selects keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form<'a> {
    /// `id:<prefix>`.
    IdPrefix(&'a str),
    /// `label:<label>`.
    Label(&'a str),
    /// `pkcs11:…`.
    Pkcs11Uri(&'a str),
    /// A bare string: an id prefix if it looks like one, else a label.
    Bare(&'a str),
}

/// Parse a KEY string.
pub fn parse(spec: &str) -> Form<'_> {
    if let Some(p) = spec.strip_prefix("id:") {
        Form::IdPrefix(p)
    } else if let Some(l) = spec.strip_prefix("label:") {
        Form::Label(l)
    } else if spec.starts_with("pkcs11:") {
        Form::Pkcs11Uri(spec)
    } else {
        Form::Bare(spec)
    }
}

/// Whether `s` can be an id prefix.
pub fn looks_like_id(s: &str) -> bool {
    s.len() >= 4 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether the key id starts with `prefix` (case-insensitive).
pub fn id_matches(prefix: &str, key: &KeyMeta) -> bool {
    key.id.starts_with(prefix)
}

/// Whether a key's PKCS#11 URI has every attribute of `uri`.
pub fn uri_matches(uri: &str, key: &KeyMeta) -> bool {
    key.pkcs11_uri
        .as_deref()
        .is_some_and(|k| crate::pkcs11_uri::matches(uri, k).unwrap_or(false))
}

/// A KEY string checked once, where it is read (a `[[key]] match` at config load), and kept
/// with its text for the messages that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(String);

impl Selector {
    /// Check a KEY string: not empty, and a `pkcs11:` URI that parses.
    pub fn parse(spec: &str) -> Result<Selector, String> {
        if spec.trim().is_empty() {
            return Err("an empty KEY (use label:…, id:…, pkcs11:… or an id prefix)".into());
        }
        // A rule that selects every key is never what was meant: no empty prefix, label or URI.
        match parse(spec) {
            Form::IdPrefix(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_hexdigit()) => {
                return Err(format!("{spec:?}: id: takes a hex prefix of the key id"));
            }
            Form::Label("") => return Err(format!("{spec:?}: label: takes a label")),
            Form::Pkcs11Uri(u) if crate::pkcs11_uri::parse(u)?.is_empty() => {
                return Err(format!(
                    "{spec:?}: a pkcs11: URI needs at least one attribute"
                ));
            }
            _ => {}
        }
        Ok(Selector(spec.to_string()))
    }

    /// Whether it selects `key` (a bare string matches by id prefix or by label).
    pub fn matches(&self, key: &KeyMeta) -> bool {
        match parse(&self.0) {
            Form::IdPrefix(p) => id_matches(p, key),
            Form::Label(l) => key.label == l,
            Form::Pkcs11Uri(u) => uri_matches(u, key),
            Form::Bare(s) => (looks_like_id(s) && id_matches(s, key)) || key.label == s,
        }
    }

    /// The KEY string as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Selector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Selector::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
