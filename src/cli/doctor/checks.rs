//! The checks of `hwsign doctor`, in the order a user would fix things.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Finding;
use super::{advisory, openpgp};
use crate::client::AgentClient;
use crate::config::Config;
use crate::key::KeyMeta;
use crate::proto::status::StatusReply;

/// Every check.
pub fn all(config_path: Option<&Path>) -> Vec<Finding> {
    let mut out = Vec::new();
    let config = config(config_path, &mut out);
    let agent = agent(&mut out);
    ssh_config(&mut out);
    let pcsc_on = config.as_ref().is_none_or(|c| c.pcsc != Some(false));
    if pcsc_on {
        pcscd(&mut out);
        let firmware = yubikeys(&mut out);
        openpgp_cards(&firmware, &mut out);
    }
    if let Some(c) = &config {
        pkcs11_modules(c, agent.as_ref().map(|a| &a.0), &mut out);
        if let Some((_, keys)) = &agent {
            remote_keys(c, keys, &mut out);
        }
    }
    udev(&mut out);
    systemd(&mut out);
    audit(&mut out);
    out
}

fn config(path: Option<&Path>, out: &mut Vec<Finding>) -> Option<Config> {
    let shown = path.map_or_else(Config::default_path, Path::to_path_buf);
    match Config::load(path) {
        Ok(c) => {
            let what = if shown.exists() {
                format!("{} is valid", shown.display())
            } else {
                format!("no {} (defaults apply)", shown.display())
            };
            out.push(Finding::ok("config", what));
            Some(c)
        }
        Err(e) => {
            out.push(Finding::fail(
                "config",
                e.to_string(),
                format!(
                    "fix {} (unknown keys are errors; see docs/agent.md, Configuration), then `systemctl --user reload hwsign-agent`",
                    shown.display()
                ),
            ));
            None
        }
    }
}

/// Which socket the client would use, and why.
fn chosen_socket() -> Option<(PathBuf, String)> {
    let var = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
    if let Some(p) = var("HWSIGN_AUTH_SOCK") {
        return Some((PathBuf::from(p), "HWSIGN_AUTH_SOCK names it".into()));
    }
    let default = crate::dirs::main_socket(&crate::dirs::runtime_dir());
    if default.exists() {
        return Some((default, "the default socket".into()));
    }
    var("SSH_AUTH_SOCK").map(|p| {
        (
            PathBuf::from(p),
            format!(
                "SSH_AUTH_SOCK (no HWSIGN_AUTH_SOCK, no {}): a forwarded agent?",
                default.display()
            ),
        )
    })
}

const START_AGENT: &str = "start the agent: `systemctl --user enable --now hwsign-agent.socket hwsign-agent-extra.socket` (`hwsign init` installs the units), or run `hwsign-agent &`";

fn agent(out: &mut Vec<Finding>) -> Option<(StatusReply, Vec<KeyMeta>)> {
    let Some((path, why)) = chosen_socket() else {
        out.push(Finding::fail(
            "agent",
            format!(
                "no agent: HWSIGN_AUTH_SOCK and SSH_AUTH_SOCK are unset and {} does not exist",
                crate::dirs::main_socket(&crate::dirs::runtime_dir()).display()
            ),
            START_AGENT,
        ));
        return None;
    };
    let mut client = match AgentClient::connect(&path) {
        Ok(c) => c,
        Err(e) => {
            out.push(Finding::fail(
                "agent",
                format!("{} ({why}): {e}", path.display()),
                START_AGENT,
            ));
            return None;
        }
    };
    let status = match client.status() {
        Ok(s) => s,
        Err(e) => {
            out.push(Finding::fail(
                "agent",
                format!(
                    "{} ({why}) answers, but not as hwsign-agent: {e}",
                    path.display()
                ),
                "point HWSIGN_AUTH_SOCK at hwsign's socket ($XDG_RUNTIME_DIR/hwsign/agent.sock, or the forwarded agent.extra.sock)",
            ));
            return None;
        }
    };
    out.push(Finding::ok(
        "agent",
        format!(
            "hwsign-agent {} on {} via {} ({why}, {} socket{})",
            status.agent_version,
            status.host,
            path.display(),
            status.socket,
            if status.test_mode { ", test mode" } else { "" }
        ),
    ));
    let mine = env!("CARGO_PKG_VERSION");
    if status.agent_version != mine {
        out.push(Finding::warn(
            "agent",
            format!(
                "the agent is version {}, this client {mine}",
                status.agent_version
            ),
            "restart the agent after an upgrade: `systemctl --user restart hwsign-agent`",
        ));
    }
    for t in &status.tokens {
        let name = format!("{} token {} ({})", t.backend, t.label, t.serial);
        if !t.problem.is_empty() {
            out.push(Finding::warn(
                "token",
                format!("{name}: {}", t.problem),
                "see the problem; `hwsign lock` re-initializes PKCS#11 modules",
            ));
        } else if !t.present {
            out.push(Finding::warn(
                "token",
                format!("{name}: not present"),
                "plug the token in",
            ));
        } else {
            out.push(Finding::ok("token", format!("{name}: {} key(s)", t.keys)));
        }
    }
    let keys = client.keys().unwrap_or_default();
    Some((status, keys))
}

fn ssh_config(out: &mut Vec<Finding>) {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let path = Path::new(&home).join(".ssh/config");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    for line in text.lines() {
        let line = line.trim();
        let mut parts = line.splitn(2, |c: char| c.is_whitespace() || c == '=');
        let (Some(k), Some(v)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !k.eq_ignore_ascii_case("IdentityAgent") {
            continue;
        }
        let v = v.trim().trim_start_matches('=').trim();
        if v.contains("hwsign") {
            out.push(Finding::ok(
                "ssh",
                format!("{}: IdentityAgent {v}", path.display()),
            ));
        } else {
            out.push(Finding::warn(
                "ssh",
                format!(
                    "{}: IdentityAgent {v}: ssh and git use that agent, not hwsign's keys (for the hosts it applies to)",
                    path.display()
                ),
                "for hwsign keys: `IdentityAgent ${XDG_RUNTIME_DIR}/hwsign/agent.sock` (hwsign init prints the snippet)",
            ));
        }
    }
}

fn pcscd_running() -> bool {
    std::fs::read_dir("/proc").is_ok_and(|d| {
        d.flatten().any(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "pcscd")
        })
    })
}

fn pcscd(out: &mut Vec<Finding>) {
    let socket = std::env::var_os("PCSCLITE_CSOCK_NAME")
        .map_or_else(|| PathBuf::from("/run/pcscd/pcscd.comm"), PathBuf::from);
    let running = pcscd_running();
    let ctx = match pcsc::Context::establish(pcsc::Scope::User) {
        Ok(c) => c,
        Err(e) => {
            out.push(Finding::fail(
                "pcscd",
                format!(
                    "pcscd is not reachable at {} ({e}; {})",
                    socket.display(),
                    if running {
                        "a pcscd runs"
                    } else {
                        "no pcscd runs"
                    }
                ),
                "`sudo apt install pcscd && sudo systemctl enable --now pcscd.socket`",
            ));
            return;
        }
    };
    out.push(Finding::ok(
        "pcscd",
        format!(
            "pcscd reachable at {} ({})",
            socket.display(),
            if running {
                "running"
            } else {
                "socket-activated, starts on first use"
            }
        ),
    ));
    let mut buf = [0u8; 8192];
    let readers: Vec<std::ffi::CString> = match ctx.list_readers(&mut buf) {
        Ok(r) => r.map(std::ffi::CStr::to_owned).collect(),
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => {
            out.push(Finding::fail(
                "pcscd",
                format!("cannot list readers: {e}"),
                "`sudo systemctl restart pcscd`",
            ));
            return;
        }
    };
    if readers.is_empty() {
        out.push(Finding::warn(
            "reader",
            "no smart card reader (no YubiKey or OpenPGP card plugged in?)",
            "plug the token in; if it is and still not listed, check the udev rules below and `sudo systemctl restart pcscd`",
        ));
    }
    let mut held = false;
    for reader in &readers {
        let name = reader.to_string_lossy();
        match ctx.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
            Ok(card) => {
                let _ = card.disconnect(pcsc::Disposition::LeaveCard);
                out.push(Finding::ok("reader", format!("{name}: card present")));
            }
            Err(pcsc::Error::SharingViolation) => held = true,
            Err(pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard) => {
                out.push(Finding::ok("reader", format!("{name}: no card")));
            }
            Err(e) => out.push(Finding::warn(
                "reader",
                format!("{name}: {e}"),
                "take the token out and plug it in again",
            )),
        }
    }
    if held {
        for problem in crate::token::pcsc_probe::exclusive_holders() {
            out.push(Finding::fail(
                "card",
                problem,
                "let the program share the card (scdaemon: `pcsc-shared` in ~/.gnupg/scdaemon.conf, then `gpgconf --kill scdaemon`) or stop it",
            ));
        }
    }
}

fn algorithm_name(alg: yubikey::piv::AlgorithmId) -> String {
    use yubikey::piv::AlgorithmId as A;
    match alg {
        A::EccP256 => "ecdsa-p256".into(),
        A::EccP384 => "ecdsa-p384".into(),
        A::Rsa1024 => "rsa-1024".into(),
        A::Rsa2048 => "rsa-2048".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// YubiKeys over PC/SC: PIN retries, and the advisories for the keys in their PIV slots;
/// returns their firmware versions by serial.
fn yubikeys(out: &mut Vec<Finding>) -> HashMap<u32, advisory::Version> {
    use yubikey::piv::{self, SlotAlgorithmId, SlotId};
    let mut firmware = HashMap::new();
    let Ok(mut ctx) = yubikey::reader::Context::open() else {
        return firmware;
    };
    let Ok(readers) = ctx.iter() else {
        return firmware;
    };
    for reader in readers {
        let Ok(mut yk) = reader.open() else { continue };
        let v = yk.version();
        let version = (v.major, v.minor, v.patch);
        let serial = yk.serial().0;
        firmware.insert(serial, version);
        let name = format!(
            "YubiKey {serial} (firmware {}.{}.{})",
            v.major, v.minor, v.patch
        );
        match yk.get_pin_retries() {
            Ok(0) => out.push(Finding::fail(
                "pin",
                format!("{name}: the PIV PIN is blocked (0 tries left)"),
                "unblock it with the PUK: `yubico-piv-tool -a unblock-pin` (or `ykman piv access unblock-pin`)",
            )),
            Ok(n) if n < 3 => out.push(Finding::warn(
                "pin",
                format!("{name}: {n} PIV PIN tries left"),
                "check pin_file / the PIN you type; a correct PIN resets the counter",
            )),
            Ok(n) => out.push(Finding::ok("pin", format!("{name}: {n} PIV PIN tries left"))),
            Err(_) => {}
        }
        let mut keys = 0;
        for slot in piv::SLOTS
            .iter()
            .copied()
            .filter(|s| !matches!(s, SlotId::Attestation))
        {
            let Ok(meta) = piv::metadata(&mut yk, slot) else {
                continue;
            };
            let SlotAlgorithmId::Asymmetric(alg) = meta.algorithm else {
                continue;
            };
            keys += 1;
            let alg = algorithm_name(alg);
            for hit in advisory::check(version, false, &alg) {
                out.push(Finding::warn(
                    "advisory",
                    format!(
                        "{name} PIV slot {:02x}: {} — {}",
                        u8::from(slot),
                        hit.id,
                        hit.message
                    ),
                    hit.fix,
                ));
            }
        }
        if keys > 0
            && !out
                .iter()
                .any(|f| f.check == "advisory" && f.message.starts_with(&name))
        {
            out.push(Finding::ok(
                "advisory",
                format!("{name}: no known advisory for its {keys} PIV key(s)"),
            ));
        }
        let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
    }
    firmware
}

/// OpenPGP cards: the PW1 retry counter, and for a YubiKey's OpenPGP applet the advisories for
/// its signature key (the firmware version from its PIV applet, same serial).
fn openpgp_cards(firmware: &HashMap<u32, advisory::Version>, out: &mut Vec<Finding>) {
    let Ok(ctx) = pcsc::Context::establish(pcsc::Scope::User) else {
        return;
    };
    let mut buf = [0u8; 8192];
    let Ok(readers) = ctx.list_readers(&mut buf) else {
        return;
    };
    let readers: Vec<std::ffi::CString> = readers.map(std::ffi::CStr::to_owned).collect();
    for reader in &readers {
        let Some(card) = openpgp::read(&ctx, reader) else {
            continue;
        };
        let name = format!("OpenPGP card {}", card.ident);
        match card.pw1_tries {
            0 => out.push(Finding::fail(
                "pin",
                format!("{name}: the user PIN (PW1) is blocked (0 tries left)"),
                "unblock it with the admin PIN or reset code: `gpg --card-edit`, then `admin`, `passwd`, 2",
            )),
            n if n < 3 => out.push(Finding::warn(
                "pin",
                format!("{name}: {n} user PIN (PW1) tries left"),
                "check pin_file / the PIN you type; a correct PIN resets the counter",
            )),
            n => out.push(Finding::ok(
                "pin",
                format!("{name}: {n} user PIN (PW1) tries left"),
            )),
        }
        let version = (card.manufacturer == 0x0006)
            .then(|| firmware.get(&card.serial))
            .flatten();
        if let (Some(&version), false) = (version, card.sig_algorithm.is_empty()) {
            for hit in advisory::check(version, false, card.sig_algorithm) {
                out.push(Finding::warn(
                    "advisory",
                    format!(
                        "YubiKey {} OpenPGP signature key: {} — {}",
                        card.serial, hit.id, hit.message
                    ),
                    hit.fix,
                ));
            }
        }
    }
}

fn pkcs11_modules(config: &Config, status: Option<&StatusReply>, out: &mut Vec<Finding>) {
    for t in &config.tokens {
        let module = &t.pkcs11_module;
        if !module.exists() {
            out.push(Finding::fail(
                "pkcs11",
                format!("module {} does not exist", module.display()),
                "install it (e.g. `sudo apt install ykcs11` or `opensc-pkcs11`) or fix pkcs11_module in the config",
            ));
            continue;
        }
        let ctx = match crate::token::pkcs11::load_module(module) {
            Ok(c) => c,
            Err(e) => {
                out.push(Finding::fail(
                    "pkcs11",
                    format!("module {} cannot be loaded: {e}", module.display()),
                    "check it is a PKCS#11 module for this architecture (`file`, `ldd`)",
                ));
                continue;
            }
        };
        let tokens = crate::token::pkcs11::list_tokens(&ctx).unwrap_or_default();
        let wanted: Vec<String> = tokens
            .iter()
            .map(|(_, label, _)| label.clone())
            .filter(|l| t.token_label.as_ref().is_none_or(|w| w == l))
            .collect();
        if wanted.is_empty() {
            out.push(Finding::warn(
                "pkcs11",
                format!(
                    "module {}: no token{}",
                    module.display(),
                    t.token_label
                        .as_ref()
                        .map(|l| format!(" labelled {l:?}"))
                        .unwrap_or_default()
                ),
                "plug the token in, or fix token_label in the config",
            ));
            continue;
        }
        for label in wanted {
            let login = status
                .and_then(|s| s.tokens.iter().find(|t| t.label == label))
                .map_or("not seen by the agent", |t| {
                    if t.logged_in {
                        "logged in"
                    } else {
                        "not logged in (PIN asked at the next signature)"
                    }
                });
            out.push(Finding::ok(
                "pkcs11",
                format!("module {}: token {label:?}, {login}", module.display()),
            ));
        }
    }
}

fn remote_keys(config: &Config, keys: &[KeyMeta], out: &mut Vec<Finding>) {
    for k in keys.iter().filter(|k| k.remote) {
        let confirm = config.rule_for(k).is_some_and(|(_, r)| r.confirm);
        let touch = k.touch != crate::key::TouchPolicy::Never
            || config
                .rule_for(k)
                .and_then(|(_, r)| r.touch)
                .is_some_and(|t| t != crate::config::TouchPolicy::Never);
        if !confirm && !touch {
            out.push(Finding::warn(
                "remote",
                format!(
                    "key {} is usable through the forwarded socket without a touch or a confirm",
                    k.label
                ),
                "add `confirm = true` to its [[key]] rule, or give the key a touch policy on the token",
            ));
        }
    }
}

fn udev(out: &mut Vec<Finding>) {
    let places = [
        "/etc/udev/rules.d/70-hwsign.rules",
        "/usr/lib/udev/rules.d/70-hwsign.rules",
        "/lib/udev/rules.d/70-hwsign.rules",
    ];
    match places.iter().find(|p| Path::new(p).exists()) {
        Some(p) => out.push(Finding::ok("udev", format!("rules installed: {p}"))),
        None => out.push(Finding::warn(
            "udev",
            "hwsign's udev rules are not installed (pcscd and the distribution's rules may be enough)",
            "`sudo cp udev/70-hwsign.rules /etc/udev/rules.d/ && sudo udevadm control --reload && sudo udevadm trigger`",
        )),
    }
    // Tokens on USB: Yubico, Nitrokey.
    let Ok(devices) = std::fs::read_dir("/sys/bus/usb/devices") else {
        return;
    };
    for dev in devices.flatten() {
        let read = |f: &str| {
            std::fs::read_to_string(dev.path().join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let vendor = read("idVendor");
        if vendor != "1050" && vendor != "20a0" {
            continue;
        }
        let (Ok(bus), Ok(num)) = (read("busnum").parse::<u32>(), read("devnum").parse::<u32>())
        else {
            continue;
        };
        let node = format!("/dev/bus/usb/{bus:03}/{num:03}");
        let product = read("product");
        // Opening a usbfs node claims nothing: it only tests the permission (the uaccess ACL).
        let ok = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&node)
            .is_ok();
        if ok {
            out.push(Finding::ok(
                "udev",
                format!("{product} at {node}: you have access"),
            ));
        } else {
            out.push(Finding::warn(
                "udev",
                format!("{product} at {node}: no read/write access for you (no uaccess ACL?)"),
                "install the udev rules (above) and plug the token in again; pcscd itself does not need this",
            ));
        }
    }
}

fn systemd(out: &mut Vec<Finding>) {
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|c| c.join("systemd/user"));
    let Some(dir) = dir else { return };
    let units = [
        "hwsign-agent.service",
        "hwsign-agent.socket",
        "hwsign-agent-extra.socket",
    ];
    let missing: Vec<&str> = units
        .iter()
        .copied()
        .filter(|u| !dir.join(u).exists())
        .collect();
    if !missing.is_empty() {
        out.push(Finding::warn(
            "systemd",
            format!(
                "user units not installed in {}: {}",
                dir.display(),
                missing.join(", ")
            ),
            "`hwsign init` installs them (or start hwsign-agent yourself)",
        ));
        return;
    }
    let service = std::fs::read_to_string(dir.join("hwsign-agent.service")).unwrap_or_default();
    let exec = service
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let exec_path = exec.trim_start_matches(['-', '@', '!', '+', ':']);
    if exec_path.is_empty() || !Path::new(exec_path).exists() {
        out.push(Finding::fail(
            "systemd",
            format!("hwsign-agent.service: ExecStart={exec} does not exist"),
            "`hwsign init --force` rewrites the units with the installed binary's path",
        ));
    } else {
        out.push(Finding::ok(
            "systemd",
            format!("units installed in {} (ExecStart={exec})", dir.display()),
        ));
    }
    let enabled = ["hwsign-agent.socket", "hwsign-agent-extra.socket"]
        .iter()
        .all(|u| dir.join("sockets.target.wants").join(u).exists());
    if !enabled {
        out.push(Finding::warn(
            "systemd",
            "the socket units are not enabled",
            "`systemctl --user daemon-reload && systemctl --user enable --now hwsign-agent.socket hwsign-agent-extra.socket`",
        ));
    }
}

fn audit(out: &mut Vec<Finding>) {
    let dir = crate::dirs::state_dir();
    let log = dir.join("audit.jsonl");
    if !dir.exists() {
        out.push(Finding::ok(
            "audit",
            format!("no audit log yet ({} is made by the agent)", dir.display()),
        ));
        return;
    }
    if tempfile::tempfile_in(&dir).is_err() {
        out.push(Finding::fail(
            "audit",
            format!("{} is not writable: the agent cannot sign", dir.display()),
            format!(
                "`chmod u+rwx {}` (it should be yours, mode 0700)",
                dir.display()
            ),
        ));
        return;
    }
    match crate::agent::audit::verify_chain(&dir) {
        Ok(r) if r.unrecovered_tail.is_some() => out.push(Finding::warn(
            "audit",
            format!("{}: a torn last record (the agent recovers it on start)", log.display()),
            "restart the agent: `systemctl --user restart hwsign-agent`",
        )),
        Ok(_) => out.push(Finding::ok("audit", format!("{}: chain intact", log.display()))),
        Err(b) => out.push(Finding::fail(
            "audit",
            format!(
                "{} line {}: {}",
                b.file.display(),
                b.line,
                b.reason
            ),
            "`hwsign audit verify` for details; keep the file as evidence and find out who changed it",
        )),
    }
}
