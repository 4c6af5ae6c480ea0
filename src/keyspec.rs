//! The KEY forms shared by the command line (`--key`) and the config (`[[key]] match`):
//! `id:<prefix>`, `label:<label>`, `pkcs11:…` (RFC 7512), or a bare string that is an id prefix
//! (4+ hex digits) or a label.

use crate::proto::keys::KeyEntry;

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
pub fn id_matches(prefix: &str, key: &KeyEntry) -> bool {
    key.id.starts_with(&prefix.to_ascii_lowercase())
}

/// Whether a key's PKCS#11 URI has every attribute of `uri`.
pub fn uri_matches(uri: &str, key: &KeyEntry) -> bool {
    !key.pkcs11_uri.is_empty() && crate::pkcs11_uri::matches(uri, &key.pkcs11_uri).unwrap_or(false)
}

/// Whether `spec` selects `key` (a bare string matches by id prefix or by label).
pub fn matches(spec: &str, key: &KeyEntry) -> bool {
    match parse(spec) {
        Form::IdPrefix(p) => id_matches(p, key),
        Form::Label(l) => key.label == l,
        Form::Pkcs11Uri(u) => uri_matches(u, key),
        Form::Bare(s) => (looks_like_id(s) && id_matches(s, key)) || key.label == s,
    }
}
