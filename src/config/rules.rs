//! `[[key]]` rules: which keys a remote may use, for which kinds of signature, through which
//! hosts. Parsed and checked once, when the config is loaded; a request only matches.

use std::fmt;

use serde::Deserialize;

use super::TouchPolicy;
use crate::keyspec::Selector;

/// What a key may be used for, and from where.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRule {
    /// Which keys: a KEY form (`label:…`, `id:…`, `pkcs11:…`, or a bare id prefix or label).
    #[serde(rename = "match")]
    pub matches: Selector,
    /// Usable through the forwarded socket (`agent.extra.sock`). Default: no.
    #[serde(default)]
    pub remote: bool,
    /// What a remote may have signed. Default: `["dsse", "sshsig:file"]`.
    #[serde(default = "default_remote_kinds")]
    pub remote_kinds: Vec<KindPattern>,
    /// Only when forwarded through one of these host keys (`SHA256:…` fingerprints, from
    /// OpenSSH's session-bind; `ssh -R` sends none, so such keys are refused there).
    #[serde(default)]
    pub from_hosts: Vec<HostKey>,
    /// Ask the confirm command before each use (like `ssh-add -c`).
    #[serde(default)]
    pub confirm: bool,
    /// Simulated touch for SoftHSM test-mode keys (`never`, `always`, `cached`); hardware
    /// tokens report their own policy.
    #[serde(default)]
    pub touch: Option<TouchPolicy>,
}

impl KeyRule {
    /// How messages name the rule: its position and its match.
    pub fn describe(&self, position: usize) -> String {
        format!("[[key]] #{position} (match = {:?})", self.matches.as_str())
    }
}

fn default_remote_kinds() -> Vec<KindPattern> {
    vec![
        KindPattern::Dsse(None),
        KindPattern::Sshsig(Some("file".into())),
    ]
}

/// A `remote_kinds` entry: what a remote may have signed. `digest` covers raw and OpenPGP
/// digests, which sign anything: the one to think twice about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindPattern {
    /// `ssh-login`: SSH user authentication.
    SshLogin,
    /// `sshsig` (any namespace) or `sshsig:<namespace>`.
    Sshsig(Option<String>),
    /// `dsse` (any payloadType) or `dsse:<payloadType>`.
    Dsse(Option<String>),
    /// `digest`: bare digests and unrecognised bytes.
    Digest,
}

impl std::str::FromStr for KindPattern {
    type Err = String;
    fn from_str(k: &str) -> Result<Self, String> {
        let named = |prefix: &str| {
            k.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(str::to_string)
        };
        Ok(match k {
            "ssh-login" => KindPattern::SshLogin,
            "sshsig" => KindPattern::Sshsig(None),
            "dsse" => KindPattern::Dsse(None),
            "digest" => KindPattern::Digest,
            _ => match (named("sshsig:"), named("dsse:")) {
                (Some(ns), _) => KindPattern::Sshsig(Some(ns)),
                (_, Some(t)) => KindPattern::Dsse(Some(t)),
                _ => {
                    return Err(format!(
                        "unknown remote kind {k:?} (use ssh-login, sshsig, sshsig:<namespace>, dsse, dsse:<payloadType> or digest)"
                    ));
                }
            },
        })
    }
}

impl fmt::Display for KindPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KindPattern::SshLogin => f.write_str("ssh-login"),
            KindPattern::Sshsig(None) => f.write_str("sshsig"),
            KindPattern::Sshsig(Some(ns)) => write!(f, "sshsig:{ns}"),
            KindPattern::Dsse(None) => f.write_str("dsse"),
            KindPattern::Dsse(Some(t)) => write!(f, "dsse:{t}"),
            KindPattern::Digest => f.write_str("digest"),
        }
    }
}

impl<'de> Deserialize<'de> for KindPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A host key fingerprint as OpenSSH prints it (`SHA256:…`), compared as text with what
/// session-bind reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey(String);

impl HostKey {
    /// The fingerprint.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for HostKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.starts_with("SHA256:") {
            Ok(HostKey(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "from_hosts entry {s:?} is not a SHA256:… host key fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_patterns_round_trip_and_unknown_ones_are_refused() {
        for k in [
            "ssh-login",
            "sshsig",
            "sshsig:git",
            "dsse",
            "dsse:a/b",
            "digest",
        ] {
            assert_eq!(k.parse::<KindPattern>().unwrap().to_string(), k);
        }
        for bad in ["everything", "sshsig:", "dsse:", "SSH-LOGIN"] {
            assert!(bad.parse::<KindPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_are_checked_at_load() {
        let parse = |t: &str| toml::from_str::<KeyRule>(t);
        let r = parse("match = \"label:a\"\nremote = true\n").unwrap();
        assert_eq!(r.remote_kinds, default_remote_kinds());
        assert_eq!(r.describe(2), "[[key]] #2 (match = \"label:a\")");
        assert!(parse("match = \"\"\n").is_err());
        // Patterns that would select every key (or none) are refused at load.
        for every in ["id:", "id:zz", "label:", "pkcs11:"] {
            assert!(parse(&format!("match = {every:?}\n")).is_err(), "{every}");
        }
        assert!(parse("match = \"pkcs11:token=%zz\"\n").is_err());
        let err = parse("match = \"a\"\nfrom_hosts = [\"MD5:x\"]\n").unwrap_err();
        assert!(err.to_string().contains("SHA256"), "{err}");
    }
}
