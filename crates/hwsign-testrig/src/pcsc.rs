//! Private PC/SC for the card tests: a `pcscd` per test ([`Pcscd`]) whose only readers are
//! vsmartcard `vpcd` entries, and virtual cards ([`VirtualCard`]) that the `hwsign-vcard` runner
//! (tools/vcard: Nitrokey's opcard or piv-authenticator firmware) inserts into them.
//!
//! * pcscd 1.9.9 ignores `PCSCLITE_CSOCK_NAME` itself but takes a socket passed by socket
//!   activation, so it runs as `systemd-socket-activate -l SOCK pcscd --foreground -c CONF -i`
//!   with CONF holding only our reader entries; every client (the agent, gpg's scdaemon,
//!   ykcs11, opensc-tool) gets `PCSCLITE_CSOCK_NAME=SOCK` ([`Pcscd::env`], [`Pcscd::command`]).
//!   pcscd itself starts on the first connection, which [`Pcscd::start`] makes.
//! * Each reader entry makes two readers, `NAME 00 00` on TCP port `CHANNELID` and `NAME 00 01`
//!   on `CHANNELID + 1` (vpcd's two slots); cards go into the first, the second stays empty.
//!   Each entry loads its own copy of the vpcd driver (`DIR/vpcd-N.so`): vpcd keeps its slots
//!   in static variables, and entries sharing one library break each other.
//!   PIV readers are named `Yubico YubiKey virtual N` (ykcs11 and yubico-piv-tool only look at
//!   readers named like a YubiKey), OpenPGP readers `Virtual OpenPGP card N`. Readers are fixed
//!   when pcscd starts: ask for every card a test will use (a "second card plugged in later"
//!   is a reader that stays empty until its card starts).
//! * [`VirtualCard::start`] is "insert", [`VirtualCard::stop`] "remove", [`VirtualCard::kill`]
//!   "pulled out mid-operation". The card keeps its keys and PINs across stop/start in
//!   `DIR/card-N/state*` unless it was made with [`VirtualCard::ram_only`].
//! * Touch: [`VirtualCard::touch`] creates `DIR/card-N/touch/touch`; the runner holds a
//!   touch-gated response until then (default wait 15 s, then 6982 like a YubiKey).
//! * Real readers stay out: the conf dir has only our entries (no serial readers), and pcscd
//!   runs in its own mount namespace with an empty tmpfs over its USB driver directory
//!   (`unshare --mount`, root only), so it disables USB ("Disabling USB support for pcscd");
//!   the vpcd drivers are loaded from copies in DIR. Without that privilege the USB readers of
//!   the machine (a real YubiKey) would show up too: the rig says so on stderr.
//! * pcscd must run as root here (it writes /run/pcscd/pcscd.pid, and removes it on exit: a
//!   system pcscd's pid file is overwritten while a test runs).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::{
    READY_TIMEOUT, STOP_TIMEOUT, describe, find_on_path, profile_dir, repo_root, require_file,
    require_tool, run, run_ok,
};

const PCSCD_BIN: &str = "/usr/sbin/pcscd";
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// pcscd's USB driver directory (Debian's `usbdropdir`): hidden from the private pcscd.
const USB_DROP_DIR: &str = "/usr/lib/pcsc/drivers";
/// How long pcscd may take to notice a card inserted or removed (it polls vpcd every 400 ms).
const CARD_STATE_TIMEOUT: Duration = Duration::from_secs(30);

/// The `hwsign-vcard` binary: `$HWSIGN_VCARD_BIN`, else in the running test binary's profile
/// directory (`target/debug/hwsign-vcard`), else under `$CARGO_TARGET_DIR` (as it was when
/// this crate was built) or the repository's `target/`. It is another workspace member that
/// no test depends on (LGPL), so cargo does not build it for the tests: scripts/test.sh does.
pub fn vcard_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HWSIGN_VCARD_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let candidates = vcard_candidates(profile_dir().as_deref(), option_env!("CARGO_TARGET_DIR"));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the virtual-card runner is missing (looked at {candidates:?}): build it: cargo build -p hwsign-vcard"
            )
        })
}

/// Where [`vcard_bin`] looks, in order, given the test's profile directory and the build's
/// `CARGO_TARGET_DIR` (relative to the repository root unless absolute).
fn vcard_candidates(profile_dir: Option<&Path>, cargo_target_dir: Option<&str>) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = profile_dir {
        candidates.push(dir.join("hwsign-vcard"));
    }
    let target = match cargo_target_dir {
        Some(t) if !t.is_empty() => repo_root().join(t), // join keeps an absolute path as it is
        _ => repo_root().join("target"),
    };
    candidates.push(target.join("debug/hwsign-vcard"));
    candidates
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardKind {
    OpenPgp,
    Piv,
}

impl CardKind {
    fn arg(self) -> &'static str {
        match self {
            CardKind::OpenPgp => "openpgp",
            CardKind::Piv => "piv",
        }
    }

    /// The reader entry's FRIENDLYNAME.
    fn friendly_name(self, index: usize) -> String {
        match self {
            CardKind::OpenPgp => format!("Virtual OpenPGP card {index}"),
            CardKind::Piv => format!("Yubico YubiKey virtual {index}"),
        }
    }
}

/// One vpcd reader entry: the reader a card goes into, and the port its runner connects to.
#[derive(Clone, Debug)]
pub struct ReaderSlot {
    pub index: usize,
    pub kind: CardKind,
    /// vpcd's TCP port for slot 0 (`CHANNELID`); slot 1 uses `port + 1`.
    pub port: u16,
    /// The PC/SC reader name (`FRIENDLYNAME 00 00`).
    pub reader: String,
}

/// A free pair of TCP ports (p, p + 1) on all interfaces (vpcd binds 0.0.0.0), not in `taken`.
fn free_port_pair(taken: &[u16]) -> u16 {
    for _ in 0..200 {
        let Ok(first) = TcpListener::bind("0.0.0.0:0") else {
            continue;
        };
        let p = first.local_addr().unwrap().port();
        if p >= u16::MAX - 1 || taken.iter().any(|&t| t.abs_diff(p) <= 1) {
            continue;
        }
        if TcpListener::bind(("0.0.0.0", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free pair of TCP ports for vpcd");
}

/// Whether this process may run pcscd in its own mount namespace (root, or CAP_SYS_ADMIN).
fn can_unshare_mounts() -> bool {
    static CAN: OnceLock<bool> = OnceLock::new();
    *CAN.get_or_init(|| {
        find_on_path("unshare").is_some()
            && Command::new("unshare")
                .args(["--mount", "--propagation", "private", "true"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|st| st.success())
    })
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on the pid of our own child, not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

/// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]; reaps the child.
fn terminate(child: &mut Child) -> ExitStatus {
    signal(child, libc::SIGTERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return st;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().expect("wait after SIGKILL")
}

/// Polls `f` every 50 ms until it returns Some or `timeout` passes.
fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `opensc-tool -l` through the private socket.
/// Where a pcscd's directory keeps its OpenSC configuration.
fn opensc_conf_in(dir: &Path) -> PathBuf {
    dir.join("opensc.conf")
}

/// The OpenSC configuration of the clients of the pcscd in `dir`: not the machine's, and only
/// the two card drivers our virtual cards need and `default` for raw APDUs (OpenSC otherwise
/// probes each card with every driver, ~2 s per card over vpcd).
fn write_opensc_conf(dir: &Path) {
    let path = opensc_conf_in(dir);
    fs::write(
        &path,
        "app default {\n\tcard_drivers = PIV-II, openpgp, default;\n\tframework pkcs15 {\n\t\tuse_file_caching = no;\n\t}\n}\n",
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn list_readers_at(sock: &Path) -> String {
    require_tool("opensc-tool", "opensc");
    let mut cmd = Command::new("opensc-tool");
    cmd.arg("-l")
        .env("PCSCLITE_CSOCK_NAME", sock)
        .env(
            "OPENSC_CONF",
            opensc_conf_in(sock.parent().unwrap_or(Path::new("/"))),
        )
        .stdin(Stdio::null());
    let out = run(&mut cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// From `opensc-tool -l`: whether `reader` holds a card (None: no such reader).
///
/// ```text
/// Nr.  Card  Features  Name
/// 0    Yes             Yubico YubiKey virtual 0 00 00
/// ```
pub fn card_in_listing(listing: &str, reader: &str) -> Option<bool> {
    listing.lines().find_map(|line| {
        let line = line.trim_end();
        if !line.ends_with(reader) {
            return None;
        }
        let mut fields = line.split_whitespace();
        let _nr = fields.next()?.parse::<usize>().ok()?;
        match fields.next()? {
            "Yes" => Some(true),
            "No" => Some(false),
            _ => None,
        }
    })
}

fn wait_card_state(sock: &Path, reader: &str, present: bool) {
    let mut last = String::new();
    let ok = wait_for(CARD_STATE_TIMEOUT, || {
        last = list_readers_at(sock);
        (card_in_listing(&last, reader) == Some(present)).then_some(())
    });
    if ok.is_none() {
        panic!(
            "reader {reader:?} did not show the card {} within {CARD_STATE_TIMEOUT:?}; opensc-tool -l:\n{last}",
            if present { "inserted" } else { "removed" }
        );
    }
}

// ---------------------------------------------------------------- pcscd

/// A private pcscd (socket activation) with one vpcd reader entry per card kind asked for.
/// Dropping it stops pcscd (SIGTERM, SIGKILL after 10 s) and prints its log when panicking.
pub struct Pcscd {
    child: Option<Child>,
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub conf_dir: PathBuf,
    pub log: PathBuf,
    pub slots: Vec<ReaderSlot>,
}

impl Pcscd {
    /// Starts pcscd under `dir` with one reader per entry of `kinds` (index = position) and
    /// waits until it is ready; retries with other ports when one was taken meanwhile.
    pub fn start(dir: &Path, kinds: &[CardKind]) -> Pcscd {
        require_tool("systemd-socket-activate", "systemd");
        require_file(PCSCD_BIN, "pcscd");
        require_file(VPCD_DRIVER, "vsmartcard-vpcd");
        assert!(!kinds.is_empty(), "a pcscd without readers tests nothing");
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let sock = dir.join("pcscd.sock");
        assert!(
            sock.as_os_str().len() < 100,
            "socket path too long for a unix socket: {}",
            sock.display()
        );
        let conf_dir = dir.join("reader.conf.d");
        let log = dir.join("pcscd.log");
        write_opensc_conf(dir);
        // One copy of the vpcd driver per reader entry: vpcd keeps its two slots in static
        // variables, so entries sharing one loaded library steal each other's slots (only the
        // last entry's card would ever be seen); distinct files are distinct dlopen()s. The
        // copies also live outside the USB driver directory we hide (below). Never rewritten
        // while a pcscd of this directory may have them mapped.
        let drivers: Vec<PathBuf> = (0..kinds.len())
            .map(|index| {
                let driver = dir.join(format!("vpcd-{index}.so"));
                if !driver.is_file() {
                    fs::copy(VPCD_DRIVER, &driver).unwrap_or_else(|e| {
                        panic!("copy {VPCD_DRIVER} -> {}: {e}", driver.display())
                    });
                }
                driver
            })
            .collect();
        let hide_usb = Path::new(USB_DROP_DIR).is_dir() && can_unshare_mounts();
        if !hide_usb && Path::new(USB_DROP_DIR).is_dir() {
            eprintln!(
                "note: cannot unshare a mount namespace: this machine's USB card readers may show up in the test's private pcscd"
            );
        }

        for attempt in 0..5 {
            let _ = fs::remove_dir_all(&conf_dir);
            fs::create_dir_all(&conf_dir).unwrap();
            let mut taken = Vec::new();
            let mut slots = Vec::new();
            for (index, &kind) in kinds.iter().enumerate() {
                let port = free_port_pair(&taken);
                taken.push(port);
                let name = kind.friendly_name(index);
                fs::write(
                    conf_dir.join(format!("vpcd-{index}")),
                    format!(
                        "FRIENDLYNAME \"{name}\"\nDEVICENAME   /dev/null:0x{port:04X}\n\
                         LIBPATH      {}\nCHANNELID    0x{port:04X}\n",
                        drivers[index].display()
                    ),
                )
                .unwrap();
                slots.push(ReaderSlot {
                    index,
                    kind,
                    port,
                    reader: format!("{name} 00 00"),
                });
            }

            let _ = fs::remove_file(&sock);
            let log_file = File::create(&log).unwrap();
            // unshare execs sh, sh mounts and execs systemd-socket-activate, which execs pcscd
            // on the first connection: one pid all along, and the namespace dies with it.
            let mut cmd = if hide_usb {
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "sh", "-c"])
                    .arg(format!(
                        "mount -t tmpfs -o ro,size=4k hwsign-no-usb-drivers {USB_DROP_DIR} && exec \"$@\""
                    ))
                    .args(["sh", "systemd-socket-activate"]);
                c
            } else {
                Command::new("systemd-socket-activate")
            };
            cmd.arg("-l")
                .arg(&sock)
                // -f: stay in the foreground, log to stdout; -i: info level (shows "daemon
                // ready" and reader failures); no -x (auto-exit after 60 s idle).
                .args([PCSCD_BIN, "--foreground", "--info", "--config"])
                .arg(&conf_dir)
                .env_remove("PCSCLITE_CSOCK_NAME")
                .stdin(Stdio::null())
                .stdout(Stdio::from(log_file.try_clone().unwrap()))
                .stderr(Stdio::from(log_file));
            let desc = format!("{cmd:?}");
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
            let mut pcscd = Pcscd {
                child: Some(child),
                dir: dir.to_path_buf(),
                sock: sock.clone(),
                conf_dir: conf_dir.clone(),
                log: log.clone(),
                slots,
            };

            // systemd-socket-activate listens at once; pcscd starts on the first connection.
            let listening = wait_for(READY_TIMEOUT, || {
                pcscd.check_alive(&desc);
                UnixStream::connect(&sock).ok()
            });
            let Some(trigger) = listening else {
                panic!(
                    "{desc}: no socket at {} within {READY_TIMEOUT:?}",
                    sock.display()
                );
            };
            let ready = wait_for(READY_TIMEOUT, || {
                pcscd.check_alive(&desc);
                pcscd.log_text().contains("daemon ready").then_some(())
            });
            drop(trigger);
            if ready.is_none() {
                panic!(
                    "{desc}: pcscd not ready within {READY_TIMEOUT:?}\n---- {} ----\n{}",
                    log.display(),
                    pcscd.log_text()
                );
            }
            let text = pcscd.log_text();
            if text.contains("init failed") || text.contains("Address already in use") {
                // A port was taken between our check and pcscd's bind: try other ports.
                eprintln!("pcscd attempt {attempt}: a vpcd port was taken, retrying\n{text}");
                pcscd.stop();
                continue;
            }
            return pcscd;
        }
        panic!("pcscd could not bind free vpcd ports in 5 attempts");
    }

    fn check_alive(&mut self, desc: &str) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                panic!(
                    "{desc} exited with {st}\n---- {} ----\n{}",
                    self.log.display(),
                    self.log_text()
                );
            }
        }
    }

    /// `PCSCLITE_CSOCK_NAME=<private socket>`, for every PC/SC client of this pcscd.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        vec![
            (
                OsString::from("PCSCLITE_CSOCK_NAME"),
                self.sock.clone().into_os_string(),
            ),
            (
                OsString::from("OPENSC_CONF"),
                self.opensc_conf().into_os_string(),
            ),
        ]
    }

    /// The OpenSC configuration every client of this pcscd gets (`OPENSC_CONF`, written by
    /// [`write_opensc_conf`] when the pcscd starts).
    fn opensc_conf(&self) -> PathBuf {
        opensc_conf_in(&self.dir)
    }

    /// Points `cmd` at this pcscd.
    fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.envs(self.env())
    }

    /// A command for `program` pointed at this pcscd (stdin null).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.apply(&mut cmd).stdin(Stdio::null());
        cmd
    }

    fn slot(&self, index: usize) -> &ReaderSlot {
        self.slots
            .get(index)
            .unwrap_or_else(|| panic!("pcscd has {} readers, no {index}", self.slots.len()))
    }

    /// The PC/SC name of reader `index` (`... 00 00`).
    pub fn reader(&self, index: usize) -> &str {
        &self.slot(index).reader
    }

    /// `opensc-tool -l` through this pcscd.
    pub fn list_readers(&self) -> String {
        list_readers_at(&self.sock)
    }

    /// The `Nr.` of `reader` in `opensc-tool -l`.
    pub fn reader_number(&self, reader: &str) -> String {
        let listing = self.list_readers();
        listing
            .lines()
            .find(|l| l.trim_end().ends_with(reader))
            .and_then(|l| l.split_whitespace().next())
            .filter(|n| n.parse::<usize>().is_ok())
            .unwrap_or_else(|| panic!("no reader {reader:?} in opensc-tool -l:\n{listing}"))
            .to_string()
    }

    /// `opensc-tool -c default -r N -s APDU…` (raw APDUs, no card driver, a fresh connection
    /// that leaves the card as it is); the tool must succeed; returns its stdout
    /// (`Received (SW1=0x90, SW2=0x00)` and a hex dump per APDU).
    pub fn send_apdus(&self, reader: &str, apdus: &[&str]) -> String {
        require_tool("opensc-tool", "opensc");
        let nr = self.reader_number(reader);
        let mut cmd = self.command("opensc-tool");
        cmd.args(["-c", "default", "-r", &nr]);
        for apdu in apdus {
            cmd.arg("-s").arg(apdu);
        }
        String::from_utf8_lossy(&run_ok(&mut cmd).stdout).into_owned()
    }

    /// Whether reader `index` holds a card right now.
    pub fn card_present(&self, index: usize) -> bool {
        let listing = self.list_readers();
        card_in_listing(&listing, self.reader(index))
            .unwrap_or_else(|| panic!("no reader {:?} in:\n{listing}", self.reader(index)))
    }

    /// A virtual card for reader `index`, not started yet (see [`VirtualCard`]'s builders).
    pub fn card(&self, index: usize) -> VirtualCard {
        VirtualCard::new(self, index)
    }

    /// A virtual card for reader `index`, started (in the reader).
    pub fn start_card(&self, index: usize) -> VirtualCard {
        let mut card = self.card(index);
        card.start();
        card
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops pcscd (its cards' runners see the connection close and exit).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
        let _ = fs::remove_file(&self.sock);
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!(
                "---- pcscd log {} ----\n{}\n---- end of pcscd log ----",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

// ---------------------------------------------------------------- virtual cards

/// One `hwsign-vcard` runner for one reader. Build it with [`Pcscd::card`], adjust it with the
/// builders, then [`start`](VirtualCard::start) it. Dropping it kills the runner and prints its
/// log when the test is panicking.
pub struct VirtualCard {
    child: Option<Child>,
    pub kind: CardKind,
    pub index: usize,
    pub port: u16,
    pub reader: String,
    /// `DIR/card-N`: log, stdout, state, touch directory.
    pub dir: PathBuf,
    pub touch_dir: PathBuf,
    /// `--state` (None: RAM only, a fresh card at every start).
    pub state: Option<PathBuf>,
    pub log: PathBuf,
    pub serial: u32,
    pub touch_timeout: Duration,
    /// Extra runner arguments (`--slot-policy 9a=once,always`, `--touch-sig`, ...).
    pub extra_args: Vec<String>,
    stdout: PathBuf,
    sock: PathBuf,
    starts: u32,
}

impl VirtualCard {
    pub fn new(pcscd: &Pcscd, index: usize) -> VirtualCard {
        let slot = pcscd.slot(index).clone();
        let dir = pcscd.dir.join(format!("card-{index}"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        VirtualCard {
            child: None,
            kind: slot.kind,
            index,
            port: slot.port,
            reader: slot.reader,
            touch_dir: dir.join("touch"),
            state: Some(dir.join("state")),
            log: dir.join("vcard.log"),
            stdout: dir.join("vcard.stdout"),
            // Distinct per card and stable across restarts of this card.
            serial: 20_000_000 + index as u32,
            touch_timeout: Duration::from_secs(15),
            extra_args: Vec::new(),
            dir,
            sock: pcscd.sock.clone(),
            starts: 0,
        }
    }

    /// No `--state`: keys and PINs live in RAM, every start is a factory-fresh card.
    pub fn ram_only(mut self) -> Self {
        self.state = None;
        self
    }

    pub fn touch_timeout(mut self, timeout: Duration) -> Self {
        self.touch_timeout = timeout;
        self
    }

    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.extra_args
            .extend(args.iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// The OpenPGP card ident (`MMMM:SSSSSSSS`, as openpgp-card and gpg show it).
    pub fn openpgp_ident(&self) -> String {
        format!("000F:{:08X}", self.serial)
    }

    /// Starts the runner ("inserts the card") and waits until pcscd shows the card.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "card {} already started", self.index);
        let bin = vcard_bin();
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log.display()));
        let _ = writeln!(log, "---- start {} ----", self.starts);
        let stdout = File::create(&self.stdout).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.args(["--kind", self.kind.arg(), "--port"])
            .arg(self.port.to_string())
            .arg("--serial")
            .arg(self.serial.to_string())
            .arg("--touch-dir")
            .arg(&self.touch_dir)
            .arg("--touch-timeout-ms")
            .arg(self.touch_timeout.as_millis().to_string());
        if let Some(state) = &self.state {
            cmd.arg("--state").arg(state);
        }
        cmd.args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(log));
        let desc = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
        self.child = Some(child);
        let ready = wait_for(READY_TIMEOUT, || {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "{desc} exited with {st} before the card was ready\n---- {} ----\n{}",
                    self.log.display(),
                    self.log_text()
                );
            }
            fs::read_to_string(&self.stdout)
                .ok()
                .filter(|s| s.contains("HWSIGN_VCARD_READY"))
        });
        if ready.is_none() {
            panic!(
                "{desc}: no ready line within {READY_TIMEOUT:?}\n---- {} ----\n{}",
                self.log.display(),
                self.log_text()
            );
        }
        wait_card_state(&self.sock, &self.reader, true);
    }

    /// Stops the runner ("removes the card") and waits until pcscd shows the reader empty.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let st = self.child.take().map(|mut c| terminate(&mut c));
        wait_card_state(&self.sock, &self.reader, false);
        st
    }

    /// SIGKILL ("pulled out mid-operation"); waits until pcscd shows the reader empty.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait_card_state(&self.sock, &self.reader, false);
    }

    /// Gives one touch (the next or current touch-gated command consumes it).
    pub fn touch(&self) {
        fs::create_dir_all(&self.touch_dir).unwrap();
        let path = self.touch_dir.join("touch");
        fs::write(&path, b"").unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The command waiting for a touch right now, if any.
    pub fn waiting_for_touch(&self) -> Option<String> {
        fs::read_to_string(self.touch_dir.join("waiting"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Waits until a command waits for a touch; returns its description.
    pub fn wait_for_touch_request(&self, timeout: Duration) -> String {
        wait_for(timeout, || self.waiting_for_touch()).unwrap_or_else(|| {
            panic!(
                "card {} did not wait for a touch within {timeout:?}\n---- {} ----\n{}",
                self.index,
                self.log.display(),
                self.log_text()
            )
        })
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for VirtualCard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "---- virtual card {} log {} ----\n{}\n---- end of virtual card log ----",
                self.index,
                self.log.display(),
                self.log_text()
            );
        }
    }
}

// ---------------------------------------------------------------- gpg with a private scdaemon

/// A throwaway GNUPGHOME whose gpg-agent (and so scdaemon) talks to a private pcscd:
/// `scdaemon.conf` has `disable-ccid` (PC/SC only) and `pcsc-shared` unless `exclusive`.
/// The agent is launched with `PCSCLITE_CSOCK_NAME` set (scdaemon inherits the agent's
/// environment, not the gpg client's). Dropping it kills the agent and scdaemon.
pub struct GpgCardHome {
    pub home: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl GpgCardHome {
    /// `home` must be short (gpg-agent's sockets live there when /run/user/UID is missing).
    pub fn new(home: &Path, pcscd: &Pcscd, exclusive: bool) -> GpgCardHome {
        require_tool("gpg", "gnupg");
        require_tool("gpgconf", "gpgconf");
        require_file("/usr/lib/gnupg/scdaemon", "scdaemon");
        fs::create_dir_all(home).unwrap_or_else(|e| panic!("mkdir {}: {e}", home.display()));
        crate::set_mode(home, 0o700);
        let mut conf = String::from("disable-ccid\n");
        if !exclusive {
            conf.push_str("pcsc-shared\n");
        }
        conf.push_str(&format!(
            "log-file {}\ndebug-level basic\n",
            home.join("scdaemon.log").display()
        ));
        fs::write(home.join("scdaemon.conf"), conf).unwrap();
        let mut env = pcscd.env();
        env.push((OsString::from("GNUPGHOME"), home.as_os_str().to_os_string()));
        let g = GpgCardHome {
            home: home.to_path_buf(),
            env,
        };
        let out = run(g.command("gpgconf").args(["--launch", "gpg-agent"]));
        assert!(
            out.status.success(),
            "{}",
            describe("gpgconf --launch gpg-agent", &out)
        );
        g
    }

    /// `program` with GNUPGHOME and PCSCLITE_CSOCK_NAME set, stdin null.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// `gpg --batch --card-status` (not asserted).
    pub fn card_status(&self) -> std::process::Output {
        run(self
            .command("gpg")
            .args(["--batch", "--no-tty", "--card-status"]))
    }

    pub fn scdaemon_log(&self) -> String {
        fs::read_to_string(self.home.join("scdaemon.log")).unwrap_or_default()
    }
}

impl Drop for GpgCardHome {
    fn drop(&mut self) {
        let _ = self
            .command("gpgconf")
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if thread::panicking() {
            eprintln!(
                "---- scdaemon log ----\n{}\n---- end of scdaemon log ----",
                self.scdaemon_log()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
# Detected readers (pcsc)
Nr.  Card  Features  Name
0    Yes             Yubico YubiKey virtual 0 00 00
1    No              Yubico YubiKey virtual 0 00 01
2    No              Virtual OpenPGP card 1 00 00
";

    #[test]
    fn card_in_listing_reads_the_card_column_of_the_named_reader() {
        assert_eq!(
            card_in_listing(LISTING, "Yubico YubiKey virtual 0 00 00"),
            Some(true)
        );
        assert_eq!(
            card_in_listing(LISTING, "Virtual OpenPGP card 1 00 00"),
            Some(false)
        );
        assert_eq!(
            card_in_listing(LISTING, "Yubico YubiKey virtual 1 00 00"),
            None
        );
        assert_eq!(card_in_listing("", "Virtual OpenPGP card 1 00 00"), None);
    }

    #[test]
    fn reader_names_are_what_ykcs11_and_the_tests_expect() {
        assert_eq!(CardKind::Piv.friendly_name(2), "Yubico YubiKey virtual 2");
        assert_eq!(CardKind::OpenPgp.friendly_name(0), "Virtual OpenPGP card 0");
        assert_eq!(CardKind::Piv.arg(), "piv");
        assert_eq!(CardKind::OpenPgp.arg(), "openpgp");
    }

    #[test]
    fn the_vcard_runner_is_looked_for_next_to_the_test_then_in_the_target_dir() {
        let profile = Path::new("/t/debug");
        assert_eq!(
            vcard_candidates(Some(profile), None),
            [
                PathBuf::from("/t/debug/hwsign-vcard"),
                repo_root().join("target/debug/hwsign-vcard")
            ]
        );
        assert_eq!(
            vcard_candidates(None, Some("/cache/target")),
            [PathBuf::from("/cache/target/debug/hwsign-vcard")]
        );
        assert_eq!(
            vcard_candidates(None, Some("build")),
            [repo_root().join("build/debug/hwsign-vcard")]
        );
    }

    #[test]
    fn free_port_pairs_avoid_taken_neighbours() {
        let first = free_port_pair(&[]);
        let second = free_port_pair(&[first]);
        assert!(second.abs_diff(first) > 1, "{first} and {second} overlap");
    }
}
