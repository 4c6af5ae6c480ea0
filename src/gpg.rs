//! hwsign-gpg: the gpg command line that release tools call (git, rpmsign, debsign, aptly,
//! reprepro hooks, maven-gpg-plugin), answered by signing through hwsign-agent. Reached as the
//! `hwsign-gpg` binary, as `hwsign gpg …`, or as `hwsign` installed or linked under the name
//! `gpg`/`gpg2`.
//!
//! [`args`] parses gpg's syntax and refuses any option it does not know by name; [`certs`]
//! are the certificates named in the config (they say which OpenPGP key a token key is, and
//! they are all `--verify` trusts); [`sign`] makes detached, cleartext and inline signatures;
//! [`verify`] checks detached ones with `hwsign verify`'s OpenPGP engine; [`status`] writes
//! `--status-fd` lines. PINs are the agent's business: passphrase options are read and ignored.

pub mod args;
pub mod certs;
pub mod list;
pub mod sign;
pub mod status;
pub mod verify;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use args::{Command, GpgArgs};

use crate::client::AgentClient;
use crate::config::Config;
use crate::error::{Error, Result};

/// The version gpg callers parse: debsign takes the third field and wants a major version
/// above 1, Maven matches `gpg \([^)]+\) .+`, aptly `\(GnuPG.*\) (2).(\d)`.
pub const VERSION_LINE: &str = "gpg (GnuPG-compatible-hwsign) 2.2.40";

/// Whether a program invoked under `argv0` should act as gpg (`gpg`, `gpg2`, `hwsign-gpg`).
pub fn is_gpg_name(argv0: &std::ffi::OsStr) -> bool {
    let name = std::path::Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    matches!(name.as_str(), "gpg" | "gpg2" | "hwsign-gpg")
}

fn version_text() -> String {
    format!(
        "{VERSION_LINE}\nlibgcrypt (none: signatures are made by hwsign-agent)\nhwsign-gpg {}: a gpg-compatible front end to hwsign-agent\n\nSupported algorithms:\nPubkey: RSA, ECDSA, EDDSA\nHash: SHA256, SHA384, SHA512\n",
        env!("CARGO_PKG_VERSION")
    )
}

const HELP: &str = "Usage: hwsign-gpg [options] [files]
Sign and verify through hwsign-agent with gpg's command line.

  -b, --detach-sign      make a detached signature (-s -b too)
  -s, --sign             make a signed message
      --clearsign        make a cleartext signature
      --verify SIG [FILE|-]
                         verify a detached signature
  -k, --list-keys        list the known certificates
  -K, --list-secret-keys list those whose key is in the agent
  -a, --armor            ASCII armor (--no-armor: binary)
  -t, --textmode         text mode signature
  -o, --output FILE      output (- for standard output)
  -u, --local-user KEY   fingerprint, key id, user id or e-mail of a known certificate,
                         or a hwsign KEY form
      --status-fd N      status lines to N
      --digest-algo ALG  SHA256, SHA384 or SHA512
      --yes              replace an existing output

Accepted and ignored (the agent owns keys and PINs): --batch, --no-tty, --homedir,
--keyring, --no-default-keyring, --pinentry-mode, --passphrase, --passphrase-file,
--passphrase-fd (read and discarded), --lock-*, --keyid-format, --list-options, ...
Certificates: [[openpgp]] cert = \"FILE\" in the config, or files in
$XDG_CONFIG_HOME/hwsign/openpgp/.
";

fn load_config(config: Option<PathBuf>) -> Result<(Config, PathBuf)> {
    let path = config.or_else(|| std::env::var_os("HWSIGN_CONFIG").map(PathBuf::from));
    let loaded = Config::load(path.as_deref()).map_err(|e| Error::Usage(e.to_string()))?;
    let file = path.unwrap_or_else(Config::default_path);
    let base = file
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    Ok((loaded, base))
}

/// What a command line asks, checked: exactly one thing to do.
enum Task {
    Version,
    Help,
    List { secret: bool },
    Verify,
    Sign(sign::Mode),
}

fn task(a: &GpgArgs) -> Result<Task> {
    let has = |c| a.commands.contains(&c);
    if has(Command::Version) {
        return Ok(Task::Version);
    }
    if has(Command::Help) {
        return Ok(Task::Help);
    }
    let signing = has(Command::Sign) || has(Command::DetachSign) || has(Command::ClearSign);
    let listing = has(Command::ListKeys) || has(Command::ListSecretKeys);
    let kinds = [signing, listing, has(Command::Verify)]
        .iter()
        .filter(|b| **b)
        .count();
    if kinds > 1 || (has(Command::ClearSign) && has(Command::DetachSign)) {
        let names: Vec<String> = a.commands.iter().map(|c| format!("{c:?}")).collect();
        return Err(Error::Usage(format!(
            "conflicting commands: {}",
            names.join(", ")
        )));
    }
    if listing {
        return Ok(Task::List {
            secret: has(Command::ListSecretKeys),
        });
    }
    if has(Command::Verify) {
        return Ok(Task::Verify);
    }
    if has(Command::ClearSign) {
        return Ok(Task::Sign(sign::Mode::Clear));
    }
    if has(Command::DetachSign) {
        return Ok(Task::Sign(sign::Mode::Detached));
    }
    if has(Command::Sign) {
        return Ok(Task::Sign(sign::Mode::Inline));
    }
    Err(Error::Usage(
        "no command given\n  hint: -b (detached signature), --clearsign, -s, --verify, --list-keys or --version"
            .into(),
    ))
}

/// The fingerprints of known certificates whose key the agent has (when it can be asked).
fn own_fingerprints(certs: &[certs::Known]) -> Vec<sequoia_openpgp::Fingerprint> {
    let Ok(mut client) = AgentClient::connect_default() else {
        return Vec::new();
    };
    let Ok(keys) = client.keys() else {
        return Vec::new();
    };
    certs
        .iter()
        .filter(|k| {
            keys.iter()
                .any(|e| crate::format::openpgp::signing_key_in(&k.bytes, &e.public).is_ok())
        })
        .map(|k| k.cert.fingerprint())
        .collect()
}

fn run(argv: &[String], config: Option<PathBuf>) -> Result<u8> {
    let a = GpgArgs::parse(argv).map_err(|e| Error::Usage(e.to_string()))?;
    let t = task(&a)?;
    match t {
        Task::Version => {
            print!("{}", version_text());
            return Ok(0);
        }
        Task::Help => {
            print!("{HELP}");
            return Ok(0);
        }
        _ => {}
    }
    if let Some(fd) = a.passphrase_fd {
        sign::drain_passphrase(fd)?;
    }
    let (config, base) = load_config(config)?;
    let known = certs::load(&config, &base)?;
    let mut status = status::Status::open(a.status_fd)?;
    match t {
        Task::List { secret } => {
            let own = if secret {
                own_fingerprints(&known)
            } else {
                Vec::new()
            };
            let shown: Vec<&certs::Known> = known
                .iter()
                .filter(|k| !secret || own.contains(&k.cert.fingerprint()))
                .collect();
            let text = list::render(&shown, &a.operands, secret, a.with_colons);
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(Error::Stdout)?;
            // gpg exits 2 when a named key was not found.
            Ok(if text.is_empty() && !a.operands.is_empty() {
                2
            } else {
                0
            })
        }
        Task::Verify => {
            let own = own_fingerprints(&known);
            Ok(match verify::run(&a.operands, &known, &own, &mut status)? {
                verify::Outcome::Good => 0,
                verify::Outcome::Bad => 1,
                verify::Outcome::Error => 2,
            })
        }
        Task::Sign(mode) => {
            sign::run(&a, mode, &config, &known, &mut status)?;
            Ok(0)
        }
        Task::Version | Task::Help => Ok(0),
    }
}

/// Run hwsign-gpg with `args` (without the program name); `config` overrides the config file
/// (else `HWSIGN_CONFIG`, else the default). Exit status as gpg's: 0 good, 1 a bad
/// signature, 2 any other error.
pub fn main(args: Vec<OsString>, config: Option<PathBuf>) -> ExitCode {
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        match a.into_string() {
            Ok(s) => argv.push(s),
            Err(bad) => {
                eprintln!(
                    "hwsign-gpg: argument {} is not UTF-8",
                    crate::text::name(&bad.to_string_lossy())
                );
                return ExitCode::from(2);
            }
        }
    }
    let result = run(&argv, config);
    // The outputs' names are durable before the command counts as done.
    let result = match (result, crate::client::output::sync_dirs()) {
        (Ok(_), Err(e)) => Err(e),
        (result, _) => result,
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Error::Stdout(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
        Err(e) => {
            eprintln!("hwsign-gpg: {e}");
            ExitCode::from(2)
        }
    }
}
