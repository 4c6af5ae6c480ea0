//! The TOML configuration (`$XDG_CONFIG_HOME/hwsign/config.toml` or `--config`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod limits;
pub mod openpgp;
pub mod rules;
pub use limits::{SocketLimits, SocketsConfig};

pub use crate::key::TouchPolicy;
pub use rules::{KeyRule, KindPattern};

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config {path}: {detail}\n  hint: see docs/agent.md, \"Configuration\"")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column).
        detail: String,
    },
}

/// What a token may take for one operation beside the waits for a person (an RSA-4096
/// signature on a smart card takes seconds).
pub const TOKEN_WORK: std::time::Duration = std::time::Duration::from_secs(30);

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Use smart cards through PC/SC (OpenPGP cards). Default: yes, except in the SoftHSM test
    /// mode (set `pcsc = true` there to use cards too, e.g. a private pcscd's virtual cards).
    #[serde(default)]
    pub pcsc: Option<bool>,
    /// PIN settings of smart cards (OpenPGP cards by ident, YubiKeys by serial).
    #[serde(default, rename = "card")]
    pub cards: Vec<CardConfig>,
    /// PKCS#11 tokens to load.
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenConfig>,
    /// The key `hwsign sign`/`attest` use when `--key` is not given (a KEY form).
    #[serde(default)]
    pub default_key: Option<String>,
    /// Default package URL for `hwsign attest`'s release predicate.
    #[serde(default)]
    pub purl: Option<String>,
    /// Rotate the audit log when it would grow past this size (`"64MiB"`, or bytes).
    #[serde(default)]
    pub audit_max_bytes: Option<ByteSize>,
    /// How long a verified PIN stays cached (`"10m"`; `"0"` disables). Expiry also logs the
    /// token session out. Default 10 minutes.
    #[serde(default)]
    pub pin_cache_ttl: Option<Duration>,
    /// How many sessions a PKCS#11 token in a fixed slot (SoftHSM, an HSM) signs in beside its
    /// worker thread. Default: one per core, at most 4; 0: the worker alone (an HSM that
    /// allows few sessions).
    #[serde(default)]
    pub pkcs11_sign_sessions: Option<usize>,
    /// How long a simulated touch is waited for (test-mode keys; a card decides by itself).
    /// Default 15 s.
    #[serde(default)]
    pub touch_timeout: Option<Duration>,
    /// For touch policy `cached`: how long a touch counts. Default 15 s (as on a YubiKey).
    #[serde(default)]
    pub touch_cache_window: Option<Duration>,
    /// Run this (with the message as the last argument) to tell the user to touch the token.
    /// Default: none (the desktop notification over D-Bus says it).
    #[serde(default)]
    pub notify_command: Option<Vec<String>>,
    /// Show a desktop notification (D-Bus `org.freedesktop.Notifications`) while a token waits
    /// for a touch, closed when the signature is over. Default: yes, when a session bus is there.
    #[serde(default)]
    pub desktop_notifications: Option<bool>,
    /// Tokens that cannot say whether a key needs a touch (PKCS#11 modules): the touch notice
    /// comes when the token has not answered after this long (`"0"` disables it). Default 300 ms.
    #[serde(default)]
    pub touch_notice_delay: Option<Duration>,
    /// The confirm command (SSH_ASKPASS-compatible: `SSH_ASKPASS_PROMPT=confirm`, the prompt
    /// as the argument, exit 0 = yes) for keys with `confirm = true`. Default `ssh-askpass`.
    #[serde(default)]
    pub confirm_command: Option<Vec<String>>,
    /// The pinentry program for tokens without a PIN file. Default `pinentry`.
    #[serde(default)]
    pub pinentry: Option<PathBuf>,
    /// How long the PIN dialog may stay open before the request fails. Default 60 s.
    #[serde(default)]
    pub pin_timeout: Option<Duration>,
    /// How long the confirm command may run before the request is denied. Default 60 s.
    #[serde(default)]
    pub confirm_timeout: Option<Duration>,
    /// Connection limits of `agent.sock` and `agent.extra.sock`.
    #[serde(default)]
    pub sockets: SocketsConfig,
    /// Per-key policy: the first rule whose `match` selects a key applies to it.
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyRule>,
    /// OpenPGP certificates of token keys, for `hwsign-gpg` (`[[openpgp]] cert = "…"`).
    #[serde(default)]
    pub openpgp: Vec<openpgp::OpenpgpCert>,
}

/// A size in bytes, written as a number or as `"64MiB"`, `"512KiB"`, `"1GiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

/// A setting written as a number or as text (`64MiB`, `15s`), parsed by `parse`.
fn number_or_text<'de, D, T>(
    d: D,
    number: fn(u64) -> T,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(number(n)),
        Raw::S(s) => parse(&s).map_err(serde::de::Error::custom),
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(d, ByteSize, |s| parse_size(s).map(ByteSize))
    }
}

/// `"64MiB"` → bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like \"64MiB\""))?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        u => {
            return Err(format!(
                "unknown size unit {u:?} in {s:?} (use KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// One PKCS#11 module (and optionally one token of it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Path of the PKCS#11 module.
    pub pkcs11_module: PathBuf,
    /// Only use the token with this label (default: every token of the module).
    #[serde(default)]
    pub token_label: Option<String>,
    /// Read the user PIN from this file (first line), for unattended agents.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Read the PIN from this systemd credential (`$CREDENTIALS_DIRECTORY/<name>`).
    #[serde(default)]
    pub pin_credential: Option<String>,
    /// Ask with pinentry (the default when neither pin_file nor pin_credential is set).
    #[serde(default)]
    pub pinentry: Option<bool>,
    /// Spend the last remaining PIN try (otherwise hwsign refuses to).
    #[serde(default)]
    pub force_last_pin_try: bool,
}

/// PIN settings of one smart card: an OpenPGP card by `ident` or a YubiKey PIV by `serial`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardConfig {
    /// An OpenPGP card's ident (`hwsign keys` shows it in the key's object, e.g.
    /// `0006:12345678`).
    #[serde(default)]
    pub ident: Option<String>,
    /// A YubiKey's serial number (its PIV applet).
    #[serde(default)]
    pub serial: Option<u32>,
    /// Read the user PIN from this file (first line).
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Read the PIN from this systemd credential.
    #[serde(default)]
    pub pin_credential: Option<String>,
    /// Spend the last remaining PIN try.
    #[serde(default)]
    pub force_last_pin_try: bool,
    /// OpenPGP card: read the admin PIN (PW3, for key generation) from this file.
    #[serde(default)]
    pub admin_pin_file: Option<PathBuf>,
    /// YubiKey PIV without GET METADATA (firmware before 5.3): the keys' PIN policy
    /// (`never`, `once`, `always`).
    #[serde(default)]
    pub pin_policy: Option<String>,
    /// YubiKey PIV without GET METADATA: the keys' touch policy (`never`, `always`, `cached`).
    #[serde(default)]
    pub touch_policy: Option<String>,
    /// YubiKey PIV: the management key (hex) for key generation, from this file (default: the
    /// factory key).
    #[serde(default)]
    pub management_key_file: Option<PathBuf>,
}

/// A duration written as `"15s"`, `"10m"`, `"2h"`, `"1d"`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

/// The longest duration the config takes: 100 years. The agent adds its durations to one
/// another and to the current time, which a longer one (surely a slip) would overflow.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let d = number_or_text(
            d,
            |n| Duration(std::time::Duration::from_secs(n)),
            |s| parse_duration(s).map(Duration),
        )?;
        if d.0 > MAX_DURATION {
            return Err(serde::de::Error::custom(format!(
                "{} s is too long (at most 100 years)",
                d.0.as_secs()
            )));
        }
        Ok(d)
    }
}

/// `"15s"`, `"1500ms"`, `"10m"`, `"2h"`, `"1d"` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like \"15s\" or \"10m\""))?;
    let ms = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "y" => 365 * 86_400_000,
        u => {
            return Err(format!(
                "unknown unit {u:?} in {text:?} (use ms, s, m, h, d, w or y)"
            ));
        }
    };
    n.checked_mul(ms)
        .map(std::time::Duration::from_millis)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| format!("{text:?} is too long (at most 100 years)"))
}

impl Config {
    /// Sessions a fixed-slot PKCS#11 token signs in beside its worker (default: one per core,
    /// at most 4).
    pub fn pkcs11_sign_sessions(&self) -> usize {
        self.pkcs11_sign_sessions.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4)
        })
    }
    /// The PIN cache TTL (default 10 minutes; zero disables the cache).
    pub fn pin_cache_ttl(&self) -> std::time::Duration {
        self.pin_cache_ttl
            .map_or(std::time::Duration::from_secs(600), |d| d.0)
    }
    /// The simulated touch timeout (default 15 s).
    pub fn touch_timeout(&self) -> std::time::Duration {
        self.touch_timeout
            .map_or(std::time::Duration::from_secs(15), |d| d.0)
    }
    /// The cached-touch window (default 15 s).
    pub fn touch_cache_window(&self) -> std::time::Duration {
        self.touch_cache_window
            .map_or(std::time::Duration::from_secs(15), |d| d.0)
    }

    /// Whether touch notices go to the desktop over D-Bus (default yes).
    pub fn desktop_notifications(&self) -> bool {
        self.desktop_notifications.unwrap_or(true)
    }
    /// How long a token that cannot say its touch policy may be silent before the touch
    /// notice (default 300 ms; zero: never).
    pub fn touch_notice_delay(&self) -> std::time::Duration {
        self.touch_notice_delay
            .map_or(std::time::Duration::from_millis(300), |d| d.0)
    }

    /// How long the PIN dialog may stay open (default 60 s).
    pub fn pin_timeout(&self) -> std::time::Duration {
        self.pin_timeout
            .map_or(std::time::Duration::from_secs(60), |d| d.0)
    }
    /// How long the confirm command may run (default 60 s).
    pub fn confirm_timeout(&self) -> std::time::Duration {
        self.confirm_timeout
            .map_or(std::time::Duration::from_secs(60), |d| d.0)
    }
    /// The longest a signing request may wait inside the agent: the confirm dialog, the PIN
    /// dialog, the touch, and the token's own work. Advertised in `status@hwsign` so that a
    /// client knows how long to wait before it calls the agent hung.
    pub fn longest_sign_wait(&self) -> std::time::Duration {
        self.confirm_timeout() + self.pin_timeout() + self.touch_timeout() + TOKEN_WORK
    }

    /// The default config path.
    pub fn default_path() -> PathBuf {
        crate::dirs::config_dir().join("config.toml")
    }

    /// Load `path`; a missing default file is an empty config, a missing explicit one an error.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (Self::default_path(), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&text).map_err(|detail| ConfigError::Parse { path, detail })
    }

    /// Parse config text (and check what serde cannot).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The first `[[key]]` rule that selects `key`, with its position (1-based).
    pub fn rule_for(&self, key: &crate::key::KeyMeta) -> Option<(usize, &KeyRule)> {
        self.keys
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches.matches(key))
            .map(|(i, r)| (i + 1, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_typos() {
        let c = Config::parse(
            "purl = \"pkg:generic/x@1\"\n[[token]]\npkcs11_module = \"/m.so\"\npin_file = \"/p\"\n",
        )
        .unwrap();
        assert_eq!(c.tokens.len(), 1);
        assert_eq!(c.purl.as_deref(), Some("pkg:generic/x@1"));
        let err = Config::parse("[[token]]\npkcs11_modul = \"/m.so\"\n").unwrap_err();
        assert!(err.contains("pkcs11_modul"), "{err}");
        let c = Config::parse(
            "audit_max_bytes = \"1MiB\"\n[[key]]\nmatch = \"label:a\"\nremote = true\nremote_kinds = [\"ssh-login\", \"dsse:application/vnd.in-toto+json\"]\n",
        )
        .unwrap();
        assert_eq!(c.audit_max_bytes, Some(ByteSize(1 << 20)));
        assert_eq!(c.keys[0].remote_kinds.len(), 2);
        assert!(
            Config::parse("[[key]]\nmatch = \"a\"\nremote_kinds = [\"everything\"]\n").is_err()
        );
        assert!(Config::parse("[[key]]\nmatch = \"a\"\nfrom_hosts = [\"MD5:x\"]\n").is_err());
        let none = Config::parse("pkcs11_sign_sessions = 0\n").unwrap();
        assert_eq!(none.pkcs11_sign_sessions(), 0);
        assert!((1..=4).contains(&Config::default().pkcs11_sign_sessions()));
        assert!(Config::parse("pkcs11_sign_sessions = -1\n").is_err());
    }

    /// Durations of about `u64::MAX` seconds made the agent panic when it added them to one
    /// another (the longest sign wait) or to the current time (a frame's deadline).
    #[test]
    fn durations_too_long_to_add_are_refused() {
        for text in [
            "pin_timeout = 9223372036854775807\nconfirm_timeout = 9223372036854775807\n",
            "[sockets.main]\nframe_timeout = 9223372036854775807\n",
            "touch_timeout = \"584942417y\"\n",
            "touch_timeout = \"101y\"\n",
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(err.contains("too long"), "{text}: {err}");
        }
        let c = Config::parse("pin_timeout = \"100y\"\nconfirm_timeout = 3153600000\n").unwrap();
        let now = std::time::Instant::now();
        let _ = now + c.longest_sign_wait();
        let main = c.sockets.main();
        let _ = now + main.frame_deadline(main.max_request);
    }
}
