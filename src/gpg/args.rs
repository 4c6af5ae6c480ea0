//! The gpg command line that release tools send, parsed by hand: gpg's syntax is not clap's
//! (bundled short options whose last letter takes a value, `-sbo FILE`; `--opt=value` and
//! `--opt value`; options after the files; an option given twice, the last one counting).
//! Every option is in [`OPTIONS`]; anything else is refused by name, so that `hwsign-gpg`
//! never signs something other than what was asked.

use std::fmt;

/// What an option does once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// A command (`--detach-sign`, `--verify`, …).
    Cmd(Command),
    Armor(bool),
    Textmode(bool),
    Output,
    LocalUser,
    StatusFd,
    DigestAlgo,
    Yes,
    WithColons,
    PassphraseFd,
    PassphraseFile,
    /// Accepted and without effect here (`--batch`, `--homedir DIR`, `--passphrase P`, …):
    /// the agent owns keys, PINs and prompts.
    Ignored,
}

/// A gpg command (several may combine: `-s -b` is a detached signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `-s`, `--sign`.
    Sign,
    /// `-b`, `--detach-sign`.
    DetachSign,
    /// `--clearsign`, `--clear-sign`.
    ClearSign,
    /// `--verify`.
    Verify,
    /// `-k`, `--list-keys`, `--list-public-keys`.
    ListKeys,
    /// `-K`, `--list-secret-keys`.
    ListSecretKeys,
    /// `--version`.
    Version,
    /// `-h`, `--help`.
    Help,
}

struct Spec {
    long: &'static str,
    short: Option<char>,
    takes_value: bool,
    act: Act,
}

const fn flag(long: &'static str, short: Option<char>, act: Act) -> Spec {
    Spec {
        long,
        short,
        takes_value: false,
        act,
    }
}

const fn value(long: &'static str, short: Option<char>, act: Act) -> Spec {
    Spec {
        long,
        short,
        takes_value: true,
        act,
    }
}

/// Every option hwsign-gpg accepts.
const OPTIONS: &[Spec] = &[
    flag("sign", Some('s'), Act::Cmd(Command::Sign)),
    flag("detach-sign", Some('b'), Act::Cmd(Command::DetachSign)),
    flag("detach-sig", None, Act::Cmd(Command::DetachSign)),
    flag("clearsign", None, Act::Cmd(Command::ClearSign)),
    flag("clear-sign", None, Act::Cmd(Command::ClearSign)),
    flag("verify", None, Act::Cmd(Command::Verify)),
    flag("list-keys", Some('k'), Act::Cmd(Command::ListKeys)),
    flag("list-public-keys", None, Act::Cmd(Command::ListKeys)),
    flag(
        "list-secret-keys",
        Some('K'),
        Act::Cmd(Command::ListSecretKeys),
    ),
    flag("version", None, Act::Cmd(Command::Version)),
    flag("help", Some('h'), Act::Cmd(Command::Help)),
    flag("armor", Some('a'), Act::Armor(true)),
    flag("armour", None, Act::Armor(true)),
    flag("no-armor", None, Act::Armor(false)),
    flag("no-armour", None, Act::Armor(false)),
    flag("textmode", Some('t'), Act::Textmode(true)),
    flag("no-textmode", None, Act::Textmode(false)),
    value("output", Some('o'), Act::Output),
    value("local-user", Some('u'), Act::LocalUser),
    value("default-key", None, Act::LocalUser),
    value("status-fd", None, Act::StatusFd),
    value("digest-algo", None, Act::DigestAlgo),
    flag("yes", None, Act::Yes),
    flag("with-colons", None, Act::WithColons),
    value("passphrase-fd", None, Act::PassphraseFd),
    value("passphrase-file", None, Act::PassphraseFile),
    value("passphrase", None, Act::Ignored),
    value("pinentry-mode", None, Act::Ignored),
    value("homedir", None, Act::Ignored),
    value("keyring", None, Act::Ignored),
    value("secret-keyring", None, Act::Ignored),
    value("keyid-format", None, Act::Ignored),
    value("list-options", None, Act::Ignored),
    value("verify-options", None, Act::Ignored),
    value("trust-model", None, Act::Ignored),
    flag("batch", None, Act::Ignored),
    flag("no-batch", None, Act::Ignored),
    flag("no-tty", None, Act::Ignored),
    flag("quiet", Some('q'), Act::Ignored),
    flag("verbose", Some('v'), Act::Ignored),
    flag("no-verbose", None, Act::Ignored),
    flag("no-secmem-warning", None, Act::Ignored),
    flag("no-permission-warning", None, Act::Ignored),
    flag("no-greeting", None, Act::Ignored),
    flag("no-default-keyring", None, Act::Ignored),
    flag("no-auto-check-trustdb", None, Act::Ignored),
    flag("no-auto-key-locate", None, Act::Ignored),
    flag("dry-run", Some('n'), Act::Ignored),
    flag("lock-once", None, Act::Ignored),
    flag("lock-multiple", None, Act::Ignored),
    flag("lock-never", None, Act::Ignored),
    flag("use-agent", None, Act::Ignored),
    flag("no-use-agent", None, Act::Ignored),
    flag("with-fingerprint", None, Act::Ignored),
    flag("with-keygrip", None, Act::Ignored),
    flag("fixed-list-mode", None, Act::Ignored),
];

/// A command line hwsign-gpg cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// An option hwsign-gpg does not know (or does not do).
    Unknown(String),
    /// An option that needs a value came last.
    MissingValue(String),
    /// A value given to an option that takes none (`--armor=yes`).
    UnexpectedValue(String),
    /// A value that is not what the option takes (`--status-fd x`).
    BadValue(String, String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Unknown(o) => write!(
                f,
                "unsupported option {o}\n  hint: hwsign-gpg signs and verifies through hwsign-agent and takes only the options release tools use (see docs/release-tools.md); use gpg for anything else"
            ),
            ArgsError::MissingValue(o) => write!(f, "option {o} needs a value"),
            ArgsError::UnexpectedValue(o) => write!(f, "option {o} takes no value"),
            ArgsError::BadValue(o, v) => write!(f, "invalid value {v:?} for option {o}"),
        }
    }
}

impl std::error::Error for ArgsError {}

/// A parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpgArgs {
    /// The commands given, in order (duplicates removed).
    pub commands: Vec<Command>,
    /// ASCII armor (`-a`; the last of `--armor`/`--no-armor` counts).
    pub armor: bool,
    /// Text mode (`-t`): the signature covers the text with CRLF line endings.
    pub textmode: bool,
    /// `-o FILE` (`-` is standard output).
    pub output: Option<String>,
    /// `-u KEY` (the last one counts).
    pub local_user: Option<String>,
    /// `--status-fd N`.
    pub status_fd: Option<i32>,
    /// `--digest-algo` as given (checked when signing).
    pub digest_algo: Option<String>,
    /// `--yes`: an existing output may be replaced.
    pub yes: bool,
    /// `--with-colons`.
    pub with_colons: bool,
    /// A passphrase to read and forget.
    pub passphrase_fd: Option<i32>,
    /// A passphrase file (not read: the agent has the PIN).
    pub passphrase_file: Option<String>,
    /// The operands: files, `-`, key names for `--list-keys`.
    pub operands: Vec<String>,
}

fn fd(option: &str, v: &str) -> Result<i32, ArgsError> {
    v.parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ArgsError::BadValue(option.into(), v.into()))
}

impl GpgArgs {
    fn apply(&mut self, name: &str, act: Act, v: Option<String>) -> Result<(), ArgsError> {
        let val = || v.clone().unwrap_or_default();
        match act {
            Act::Cmd(c) => {
                if !self.commands.contains(&c) {
                    self.commands.push(c);
                }
            }
            Act::Armor(on) => self.armor = on,
            Act::Textmode(on) => self.textmode = on,
            Act::Output => self.output = Some(val()),
            Act::LocalUser => self.local_user = Some(val()),
            Act::StatusFd => self.status_fd = Some(fd(name, &val())?),
            Act::DigestAlgo => self.digest_algo = Some(val()),
            Act::Yes => self.yes = true,
            Act::WithColons => self.with_colons = true,
            Act::PassphraseFd => self.passphrase_fd = Some(fd(name, &val())?),
            Act::PassphraseFile => self.passphrase_file = Some(val()),
            Act::Ignored => {}
        }
        Ok(())
    }

    /// Parse `args` (without the program name).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<GpgArgs, ArgsError> {
        let mut out = GpgArgs::default();
        let mut it = args.iter().map(|s| s.as_ref().to_string());
        while let Some(arg) = it.next() {
            if arg == "--" {
                out.operands.extend(it.by_ref());
                break;
            }
            if let Some(body) = arg.strip_prefix("--") {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (body, None),
                };
                let shown = format!("--{name}");
                let spec = OPTIONS
                    .iter()
                    .find(|s| s.long == name)
                    .ok_or_else(|| ArgsError::Unknown(shown.clone()))?;
                let v = match (spec.takes_value, inline) {
                    (true, Some(v)) => Some(v),
                    (true, None) => Some(it.next().ok_or(ArgsError::MissingValue(shown.clone()))?),
                    (false, Some(_)) => return Err(ArgsError::UnexpectedValue(shown)),
                    (false, None) => None,
                };
                out.apply(&shown, spec.act, v)?;
            } else if arg.len() > 1 && arg.starts_with('-') {
                // Bundled short options: `-bsau KEY`, `-sbo FILE`, `-uKEY`.
                let letters: Vec<char> = arg[1..].chars().collect();
                let mut i = 0;
                while i < letters.len() {
                    let c = letters[i];
                    let shown = format!("-{c}");
                    let spec = OPTIONS
                        .iter()
                        .find(|s| s.short == Some(c))
                        .ok_or_else(|| ArgsError::Unknown(shown.clone()))?;
                    if spec.takes_value {
                        let rest: String = letters[i + 1..].iter().collect();
                        let v = if rest.is_empty() {
                            it.next().ok_or(ArgsError::MissingValue(shown.clone()))?
                        } else {
                            rest
                        };
                        out.apply(&shown, spec.act, Some(v))?;
                        break;
                    }
                    out.apply(&shown, spec.act, None)?;
                    i += 1;
                }
            } else {
                out.operands.push(arg);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> GpgArgs {
        GpgArgs::parse(a).unwrap()
    }

    #[test]
    fn git_sign() {
        let a = p(&["--status-fd=2", "-bsau", "ABCDEF0123456789"]);
        assert_eq!(a.commands, vec![Command::DetachSign, Command::Sign]);
        assert!(a.armor);
        assert_eq!(a.status_fd, Some(2));
        assert_eq!(a.local_user.as_deref(), Some("ABCDEF0123456789"));
        assert!(a.operands.is_empty());
    }

    #[test]
    fn git_verify() {
        let a = p(&[
            "--keyid-format=long",
            "--status-fd=1",
            "--verify",
            "/tmp/x",
            "-",
        ]);
        assert_eq!(a.commands, vec![Command::Verify]);
        assert_eq!(a.operands, vec!["/tmp/x", "-"]);
    }

    #[test]
    fn rpm_sign() {
        let a = p(&[
            "--no-verbose",
            "--no-armor",
            "--no-secmem-warning",
            "--digest-algo=sha256",
            "-u",
            "Release Signer",
            "-sbo",
            "/tmp/x.sig",
            "--",
            "-",
        ]);
        assert_eq!(a.commands, vec![Command::Sign, Command::DetachSign]);
        assert!(!a.armor);
        assert_eq!(a.output.as_deref(), Some("/tmp/x.sig"));
        assert_eq!(a.digest_algo.as_deref(), Some("sha256"));
        assert_eq!(a.operands, vec!["-"]);
    }

    #[test]
    fn maven_and_repeats() {
        let a = p(&[
            "--homedir",
            "/h",
            "--batch",
            "--batch",
            "--status-fd",
            "1",
            "--local-user",
            "K",
            "--local-user",
            "L",
            "--armor",
            "--detach-sign",
            "--no-tty",
            "--pinentry-mode",
            "error",
            "--output",
            "x.asc",
            "x.jar",
        ]);
        assert_eq!(a.local_user.as_deref(), Some("L"));
        assert_eq!(a.status_fd, Some(1));
        assert_eq!(a.operands, vec!["x.jar"]);
        let a = p(&["-uKEY", "--armor", "--no-armor", "-b", "--", "--verify"]);
        assert_eq!(a.local_user.as_deref(), Some("KEY"));
        assert!(!a.armor);
        assert_eq!(a.operands, vec!["--verify"]);
    }

    #[test]
    fn refused_by_name() {
        for (args, name) in [
            (&["--encrypt"][..], "--encrypt"),
            (&["-bx"][..], "-x"),
            (&["-e", "-b"][..], "-e"),
            (&["--symmetric=x"][..], "--symmetric"),
        ] {
            assert_eq!(
                GpgArgs::parse(args).unwrap_err(),
                ArgsError::Unknown(name.into())
            );
        }
        assert_eq!(
            GpgArgs::parse(&["-bu"]).unwrap_err(),
            ArgsError::MissingValue("-u".into())
        );
        assert_eq!(
            GpgArgs::parse(&["--armor=1"]).unwrap_err(),
            ArgsError::UnexpectedValue("--armor".into())
        );
        assert!(matches!(
            GpgArgs::parse(&["--status-fd", "x"]),
            Err(ArgsError::BadValue(..))
        ));
    }
}
