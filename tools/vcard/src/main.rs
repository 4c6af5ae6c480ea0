//! `hwsign-vcard`: one virtual smart card for hwsign's tests. It runs Nitrokey's OpenPGP card
//! firmware (`opcard`) or PIV firmware (`piv-authenticator`) on trussed's virtual platform and
//! connects it to vsmartcard's `vpcd` (a pcscd reader driver) as a virtual ICC.
//!
//! Starting it inserts the card into the reader whose `CHANNELID` is `--port`; stopping it
//! removes the card. With `--state FILE` the card's filesystems live in `FILE` (internal) and
//! `FILE.external`, the runner's PIV metadata in `FILE.piv-meta`, so keys, PINs and policies
//! survive a restart ("card removed and re-inserted"); without it everything is in RAM.
//!
//! stdout: one line `HWSIGN_VCARD_READY kind=K port=P serial=S` when vpcd first reads the ATR.
//! stderr: the log (`HWSIGN_VCARD_LOG=error|warn|info|debug|trace`, default info for the
//! runner and warn for the firmware; debug shows every APDU, PINs masked).
//!
//! Exit status: 0 when vpcd closes the connection (pcscd stopped), 1 on errors, 2 on usage.

mod attest;
mod iso;
mod link;
mod openpgp;
mod piv;
mod platform;
mod touch;

use std::collections::BTreeMap;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::exit;
use std::thread;
use std::time::{Duration, Instant};

use trussed::pipe::TrussedChannel;
use trussed::virt::{Runner, StorageConfig, StoreConfig};

use crate::iso::{atr_with_historical_bytes, Adapter, App};
use crate::platform::{BackendName, Dispatch, DispatchContext, VirtClient, VirtPlatform, BACKENDS};
use crate::touch::Touch;

const USAGE: &str = "\
usage: hwsign-vcard --kind openpgp|piv --port PORT [options]

  --kind openpgp|piv        which card to run (opcard 1.11 or piv-authenticator 0.7)
  --host HOST               vpcd's address (default 127.0.0.1)
  --port PORT               vpcd's port: the reader entry's CHANNELID (default 35963)
  --state FILE              keep the card's storage in FILE, FILE.external, FILE.piv-meta
                            (default: RAM, a fresh card every start)
  --serial N                card serial, decimal (default 10000000 + PORT); PIV: GET SERIAL,
                            OpenPGP: the serial number in the AID
  --touch-dir DIR           simulated touch: a touch-gated command waits for DIR/touch
  --touch-timeout-ms MS     how long it waits before answering 6982 (default 15000)
  --touch-sig               OpenPGP: every PSO:CDS needs a touch, whatever UIF-SIG says
  --slot-policy S=PIN,TOUCH PIV: policies of slot S (hex) over what GENERATE/IMPORT said,
                            e.g. 9c=once,always (repeatable; never|once|always, never|always|cached)
  --version X.Y.Z           PIV: GET VERSION answer (default 5.4.3)
  --attestation-root FILE   PIV: write the test attestation CA's root certificate (PEM) to
                            FILE; ATTEST (INS F9) chains to it
  --manufacturer HHHH       OpenPGP: manufacturer id in the AID, hex (default 000f, Nitrokey)
  --connect-timeout-ms MS   keep trying to reach vpcd this long (default 30000)
";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    OpenPgp,
    Piv,
}

struct Args {
    kind: Kind,
    host: String,
    port: u16,
    state: Option<PathBuf>,
    serial: Option<u32>,
    touch_dir: Option<PathBuf>,
    touch_timeout: Duration,
    touch_sig: bool,
    slot_policies: BTreeMap<u8, (Option<u8>, Option<u8>)>,
    version: [u8; 3],
    attestation_root: Option<PathBuf>,
    manufacturer: [u8; 2],
    connect_timeout: Duration,
}

impl Args {
    fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut kind = None;
        let mut args = Args {
            kind: Kind::Piv,
            host: "127.0.0.1".to_string(),
            port: 35963,
            state: None,
            serial: None,
            touch_dir: None,
            touch_timeout: Duration::from_millis(15_000),
            touch_sig: false,
            slot_policies: BTreeMap::new(),
            version: [5, 4, 3],
            attestation_root: None,
            manufacturer: [0x00, 0x0F],
            connect_timeout: Duration::from_millis(30_000),
        };
        while let Some(flag) = argv.next() {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (flag.clone(), None),
            };
            let mut value = || -> Result<String, String> {
                inline
                    .clone()
                    .or_else(|| argv.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            let ms = |v: String| -> Result<Duration, String> {
                v.parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| format!("{name}: not a number of milliseconds: {v:?}"))
            };
            match name.as_str() {
                "--kind" => {
                    kind = Some(match value()?.as_str() {
                        "openpgp" => Kind::OpenPgp,
                        "piv" => Kind::Piv,
                        other => return Err(format!("--kind {other:?}: openpgp or piv")),
                    })
                }
                "--host" => args.host = value()?,
                "--port" => {
                    let v = value()?;
                    args.port = v.parse().map_err(|_| format!("--port {v:?}: not a port"))?;
                }
                "--state" => args.state = Some(PathBuf::from(value()?)),
                "--serial" => {
                    let v = value()?;
                    args.serial = Some(
                        v.parse()
                            .map_err(|_| format!("--serial {v:?}: not a u32"))?,
                    );
                }
                "--touch-dir" => args.touch_dir = Some(PathBuf::from(value()?)),
                "--attestation-root" => args.attestation_root = Some(PathBuf::from(value()?)),
                "--touch-timeout-ms" => args.touch_timeout = ms(value()?)?,
                "--touch-sig" => args.touch_sig = true,
                "--slot-policy" => {
                    let (slot, pin, touch) = piv::parse_slot_policy(&value()?)?;
                    args.slot_policies.insert(slot, (pin, touch));
                }
                "--version" => {
                    let v = value()?;
                    let parts: Vec<u8> = v.split('.').filter_map(|p| p.parse().ok()).collect();
                    args.version = parts
                        .try_into()
                        .map_err(|_| format!("--version {v:?}: expected X.Y.Z"))?;
                }
                "--manufacturer" => {
                    let v = value()?;
                    let m = u16::from_str_radix(&v, 16)
                        .map_err(|_| format!("--manufacturer {v:?}: 4 hex digits"))?;
                    args.manufacturer = m.to_be_bytes();
                }
                "--connect-timeout-ms" => args.connect_timeout = ms(value()?)?,
                "-h" | "--help" => {
                    print!("{USAGE}");
                    exit(0);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        args.kind = kind.ok_or("--kind is required")?;
        Ok(args)
    }

    fn serial(&self) -> u32 {
        self.serial.unwrap_or(10_000_000 + u32::from(self.port))
    }
}

// ---------------------------------------------------------------- log

struct Logger {
    /// None: info for this crate, warn for the others.
    level: Option<log::LevelFilter>,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        match self.level {
            Some(l) => m.level() <= l,
            None if m.target().starts_with("hwsign_vcard") => m.level() <= log::Level::Info,
            None => m.level() <= log::Level::Warn,
        }
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!(
                "hwsign-vcard[{}] {} {}: {}",
                std::process::id(),
                r.level(),
                r.target(),
                r.args()
            );
        }
    }

    fn flush(&self) {}
}

fn init_log() {
    let level = std::env::var("HWSIGN_VCARD_LOG")
        .ok()
        .and_then(|v| v.parse::<log::LevelFilter>().ok());
    let logger = Box::leak(Box::new(Logger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(
            level
                .unwrap_or(log::LevelFilter::Info)
                .max(log::LevelFilter::Info),
        );
    }
}

// ---------------------------------------------------------------- main

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hwsign-vcard: {e}\n\n{USAGE}");
            exit(2);
        }
    };
    init_log();
    exit(run(&args));
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn store_config(state: Option<&Path>) -> StoreConfig<'static> {
    match state {
        None => StoreConfig::ram(),
        Some(path) => StoreConfig {
            internal: StorageConfig::filesystem(path.to_path_buf()),
            external: StorageConfig::filesystem(sibling(path, ".external")),
            volatile: StorageConfig::ram(),
        },
    }
}

fn run(args: &Args) -> i32 {
    if let Some(parent) = args.state.as_deref().and_then(Path::parent) {
        if !parent.as_os_str().is_empty() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                log::error!("cannot create {}: {e}", parent.display());
                return 1;
            }
        }
    }
    let client_id = match args.kind {
        Kind::OpenPgp => "opcard",
        Kind::Piv => "piv",
    };
    let mut store = store_config(args.state.as_deref());
    store.with_store(|store| {
        let platform = VirtPlatform::new(store);
        let channel = TrussedChannel::new();
        let (requester, responder) = channel.split().expect("a fresh channel splits");
        let mut runner: Runner<'_, BackendName, DispatchContext> = Runner::new();
        runner.add_endpoint(responder, client_id, BACKENDS);
        let client: VirtClient<'_> = VirtClient::new(requester, runner.syscall(), None);
        runner.run(platform, Dispatch::new(), move || serve(args, client))
    })
}

fn serve(args: &Args, client: VirtClient<'_>) -> i32 {
    let serial = args.serial();
    let touch = Touch::new(args.touch_dir.clone(), args.touch_timeout);
    let ready = format!(
        "HWSIGN_VCARD_READY kind={} port={} serial={serial}",
        match args.kind {
            Kind::OpenPgp => "openpgp",
            Kind::Piv => "piv",
        },
        args.port
    );
    match args.kind {
        Kind::OpenPgp => {
            let mut options = opcard::Options::default();
            options.manufacturer = args.manufacturer;
            options.serial = serial.to_be_bytes();
            options.button_available = true;
            let card = opcard::Card::new(client, options);
            // opcard's historical bytes (0031F573C00160009000): chaining and extended lengths.
            let atr = atr_with_historical_bytes(&[
                0x00, 0x31, 0xF5, 0x73, 0xC0, 0x01, 0x60, 0x00, 0x90, 0x00,
            ]);
            let app = openpgp::OpenPgpApp::new(card, touch, args.touch_sig);
            serve_app(args, Adapter::new(app, atr, ready))
        }
        Kind::Piv => {
            if let Some(path) = &args.attestation_root {
                let pem = attest::pem(&attest::root_certificate());
                if let Err(e) = std::fs::write(path, pem) {
                    log::error!("--attestation-root {}: {e}", path.display());
                    return 1;
                }
            }
            let mut uuid = [0u8; 16];
            uuid[..6].copy_from_slice(b"hwsign");
            uuid[12..].copy_from_slice(&serial.to_be_bytes());
            let options = piv_authenticator::Options::new().uuid(Some(uuid));
            let app = piv_authenticator::Authenticator::new(client, options);
            let cfg = piv::PivConfig {
                version: args.version,
                serial,
                overrides: args.slot_policies.clone(),
                meta_path: args.state.as_deref().map(|p| sibling(p, ".piv-meta")),
            };
            // A YubiKey 5 NFC's ATR: OpenSC's PIV driver treats the card as a YubiKey.
            let atr = vec![
                0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0,
                0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
            ];
            serve_app(
                args,
                Adapter::new(piv::PivApp::new(app, cfg, touch), atr, ready),
            )
        }
    }
}

fn connect(args: &Args) -> io::Result<TcpStream> {
    let deadline = Instant::now() + args.connect_timeout;
    let addr = format!("{}:{}", args.host, args.port);
    loop {
        match TcpStream::connect(&addr) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                log::info!("connected to vpcd at {addr}");
                return Ok(stream);
            }
            Err(e) if Instant::now() < deadline => {
                log::debug!("vpcd at {addr}: {e}; retrying");
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

fn serve_app<A: App>(args: &Args, mut card: Adapter<A>) -> i32 {
    let conn = match connect(args) {
        Ok(c) => c,
        Err(e) => {
            log::error!(
                "cannot reach vpcd at {}:{} within {:?}: {e} (is pcscd running with a vpcd reader on this port?)",
                args.host,
                args.port,
                args.connect_timeout
            );
            return 1;
        }
    };
    match link::serve(conn, &mut card) {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            log::info!("vpcd closed the connection");
            0
        }
        Err(e) => {
            log::error!("vpcd connection: {e}");
            1
        }
    }
}
