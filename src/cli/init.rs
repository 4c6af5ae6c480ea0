//! `hwsign init`: set a user up in one step. Writes a commented `config.toml` naming the
//! tokens and cards it finds, installs the systemd user units (the unit directory made first)
//! with `ExecStart=` pointing at the installed `hwsign-agent`, and prints the `~/.ssh/config`
//! snippet for forwarding and the git lines for SSH signing for the user to paste. Idempotent:
//! a file that already says the same is left alone, one that differs is kept unless
//! `--force`; `--dry-run` says what it would do and does nothing.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::Config;
use crate::error::{Error, Result};

/// `hwsign init`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  hwsign init --dry-run\n  hwsign init\n  hwsign init --force     # rewrite the units after moving the binary"
)]
pub struct InitArgs {
    /// Replace files that exist and differ (config, units).
    #[arg(long)]
    pub force: bool,
    /// Say what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

const SERVICE: &str = include_str!("../../systemd/hwsign-agent.service");
const SOCKET: &str = include_str!("../../systemd/hwsign-agent.socket");
const EXTRA_SOCKET: &str = include_str!("../../systemd/hwsign-agent-extra.socket");

/// Known PKCS#11 modules worth a commented `[[token]]` table.
const MODULES: [(&str, &str); 3] = [
    (
        "/usr/lib/x86_64-linux-gnu/libykcs11.so",
        "YubiKey PIV through Yubico's module (hwsign also speaks PIV itself)",
    ),
    (
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "smart cards through OpenSC",
    ),
    (
        "/usr/lib/softhsm/libsofthsm2.so",
        "SoftHSM2 software tokens",
    ),
];

/// What happened to one file.
enum Outcome {
    Written,
    Same,
    Kept,
}

fn write_file(path: &Path, text: &str, force: bool, dry_run: bool) -> Result<Outcome> {
    let io = |what: &str, e: std::io::Error| {
        Error::Usage(format!("cannot {what} {}: {e}", path.display()))
    };
    match std::fs::read_to_string(path) {
        Ok(old) if old == text => return Ok(Outcome::Same),
        Ok(_) if !force => return Ok(Outcome::Kept),
        _ => {}
    }
    if dry_run {
        return Ok(Outcome::Written);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
    }
    // Through a temporary file in the same directory: never a half-written unit or config.
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io("write", e))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| io("write", e))?;
    // Made durable before the rename, with the mode a plain `>` would give.
    crate::client::output::publish(tmp, path, true)?;
    Ok(Outcome::Written)
}

fn report(path: &Path, outcome: &Outcome, dry_run: bool) {
    let line = match (outcome, dry_run) {
        (Outcome::Written, true) => format!("would write {}", path.display()),
        (Outcome::Written, false) => format!("wrote {}", path.display()),
        (Outcome::Same, _) => format!("up to date: {}", path.display()),
        (Outcome::Kept, _) => format!("kept {} (it differs; --force replaces it)", path.display()),
    };
    println!("{line}");
}

/// The installed `hwsign-agent`: next to this binary, else on PATH.
fn agent_binary() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("hwsign-agent")));
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("hwsign-agent"))
            .find(|p| p.is_file())
    });
    beside.filter(|p| p.is_file()).or(on_path)
}

/// The service unit with `ExecStart=` pointing at `agent`.
pub fn service_unit(agent: &Path) -> String {
    SERVICE
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                format!("ExecStart={}", agent.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The YubiKeys (serial, firmware) and other readers with a card on PC/SC.
fn cards() -> (Vec<(u32, String)>, Vec<String>) {
    let mut yubikeys = Vec::new();
    if let Ok(mut ctx) = yubikey::reader::Context::open() {
        if let Ok(readers) = ctx.iter() {
            for reader in readers {
                if let Ok(yk) = reader.open() {
                    let v = yk.version();
                    yubikeys.push((
                        yk.serial().0,
                        format!("{}.{}.{}", v.major, v.minor, v.patch),
                    ));
                    let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
                }
            }
        }
    }
    let mut others = Vec::new();
    if let Ok(ctx) = pcsc::Context::establish(pcsc::Scope::User) {
        let mut buf = [0u8; 8192];
        if let Ok(readers) = ctx.list_readers(&mut buf) {
            for r in readers {
                if let Ok(card) = ctx.connect(r, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
                    let _ = card.disconnect(pcsc::Disposition::LeaveCard);
                    others.push(r.to_string_lossy().into_owned());
                }
            }
        }
    }
    (yubikeys, others)
}

/// A commented config naming what was found.
pub fn config_text(
    yubikeys: &[(u32, String)],
    readers: &[String],
    modules: &[(&str, &str)],
) -> String {
    let mut t = String::from(
        "# hwsign configuration, written by `hwsign init`. Every setting is optional; unknown keys\n\
         # are errors. docs/agent.md, \"Configuration\", lists them all.\n\
         #\n\
         # pin_cache_ttl = \"10m\"        # how long a PIN stays cached (\"0\": ask every time)\n\
         # touch_notice_delay = \"300ms\" # tokens that cannot say they wait for a touch\n\
         # notify_command = [\"notify-send\", \"hwsign\"]   # besides the desktop notification\n\
         # confirm_command = [\"ssh-askpass\"]             # for keys with confirm = true\n\
         # default_key = \"label:…\"\n\n",
    );
    t.push_str("# Smart cards over PC/SC (YubiKey PIV, OpenPGP cards) are found by themselves.\n");
    if readers.is_empty() {
        t.push_str("# No card was found when this was written.\n");
    } else {
        t.push_str("# Cards found when this was written:\n");
        for r in readers {
            t.push_str(&format!("#   {}\n", crate::text::name(r)));
        }
    }
    for (serial, fw) in yubikeys {
        t.push_str(&format!(
            "\n# YubiKey {serial} (firmware {fw}): its PIN from a file for unattended use, else pinentry.\n\
             # [[card]]\n# serial = {serial}\n# pin_file = \"/path/to/pin\"\n"
        ));
    }
    for (module, what) in modules {
        t.push_str(&format!(
            "\n# {what}:\n# [[token]]\n# pkcs11_module = \"{module}\"\n# token_label = \"…\"\n"
        ));
    }
    t.push_str(
        "\n# Keys usable from a forwarded agent.extra.sock, and what they may sign there:\n\
         # [[key]]\n# match = \"label:…\"\n# remote = true\n# remote_kinds = [\"dsse\", \"sshsig:file\"]\n# confirm = true\n",
    );
    t
}

/// Set the user up.
pub fn run(config_path: Option<&Path>, args: InitArgs) -> Result<()> {
    let dry = args.dry_run;
    // The config.
    let config_path = config_path.map_or_else(Config::default_path, Path::to_path_buf);
    let (yubikeys, readers) = cards();
    let modules: Vec<(&str, &str)> = MODULES
        .iter()
        .copied()
        .filter(|(m, _)| Path::new(m).exists())
        .collect();
    let text = config_text(&yubikeys, &readers, &modules);
    Config::parse(&text)
        .map_err(|e| Error::Usage(format!("internal: the generated config is invalid: {e}")))?;
    let outcome = write_file(&config_path, &text, args.force, dry)?;
    report(&config_path, &outcome, dry);

    // The systemd user units.
    let unit_dir = crate::dirs::config_dir()
        .parent()
        .map_or_else(|| PathBuf::from("systemd/user"), |c| c.join("systemd/user"));
    let agent = agent_binary();
    let agent_shown = agent
        .clone()
        .unwrap_or_else(|| PathBuf::from("/usr/bin/hwsign-agent"));
    if agent.is_none() {
        eprintln!(
            "hwsign: hwsign-agent is neither next to hwsign nor on PATH; the unit names {} (install it there, then `hwsign init --force`)",
            agent_shown.display()
        );
    }
    for (name, text) in [
        ("hwsign-agent.service", service_unit(&agent_shown)),
        ("hwsign-agent.socket", SOCKET.to_string()),
        ("hwsign-agent-extra.socket", EXTRA_SOCKET.to_string()),
    ] {
        let path = unit_dir.join(name);
        let outcome = write_file(&path, &text, args.force, dry)?;
        report(&path, &outcome, dry);
    }

    let runtime = "${XDG_RUNTIME_DIR}/hwsign";
    println!(
        "\nNext, enable the agent's sockets:\n\
         \x20 systemctl --user daemon-reload\n\
         \x20 systemctl --user enable --now hwsign-agent.socket hwsign-agent-extra.socket\n\
         \x20 export HWSIGN_AUTH_SOCK=\"{runtime}/agent.sock\"   # in your shell's profile\n\
         \n\
         For ssh and git to use the token keys, add to ~/.ssh/config (not written by init):\n\
         \x20 Host *\n\
         \x20     IdentityAgent {runtime}/agent.sock\n\
         To sign on a build host with the token here, forward the restricted socket:\n\
         \x20 Host build.example.org\n\
         \x20     IdentityAgent {runtime}/agent.extra.sock\n\
         \x20     ForwardAgent yes\n\
         \n\
         Git commits and tags signed with an SSH key of the agent (`hwsign keys` lists them):\n\
         \x20 git config --global gpg.format ssh\n\
         \x20 git config --global user.signingkey \"key::$(hwsign keys export KEY --format ssh)\"\n\
         \x20 git config --global commit.gpgsign true\n\
         \x20 git config --global tag.gpgsign true"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_config_parses_and_names_what_was_found() {
        let t = config_text(
            &[(12345678, "5.4.3".into())],
            &["Yubico YubiKey OTP+FIDO+CCID 00 00".into()],
            &MODULES,
        );
        Config::parse(&t).unwrap();
        assert!(t.contains("# serial = 12345678"), "{t}");
        assert!(t.contains("Yubico YubiKey OTP+FIDO+CCID 00 00"), "{t}");
        assert!(
            t.contains("# pkcs11_module = \"/usr/lib/softhsm/libsofthsm2.so\""),
            "{t}"
        );
        // Every setting it shows parses once uncommented.
        let uncommented: String = t
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = ") && !l.contains('…') && !l.contains("/path/to"))
            .filter(|l| {
                !l.starts_with("serial")
                    && !l.starts_with("pkcs11_module")
                    && !l.starts_with("remote")
                    && !l.starts_with("confirm =")
            })
            .map(|l| l.split('#').next().unwrap_or_default().trim().to_string() + "\n")
            .collect();
        Config::parse(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    }

    #[test]
    fn the_service_runs_the_binary_given() {
        let u = service_unit(Path::new("/home/u/.cargo/bin/hwsign-agent"));
        assert!(
            u.contains("\nExecStart=/home/u/.cargo/bin/hwsign-agent\n"),
            "{u}"
        );
        assert_eq!(u.matches("ExecStart=").count(), 1);
    }
}
