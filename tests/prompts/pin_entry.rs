//! PIN entry with pinentry (Assuan), on the test token configured in config.toml without a PIN
//! file: the scripted pinentry (tests/peers/pinentry.py) gives the PIN, cancels, or gives a
//! wrong one. The dialog names the token and what is signed; a cancel is `[denied]`; a wrong
//! PIN is `[pin-wrong]` with the retries text, never retried within the request and never sent
//! to the token again; the PIN cache expires (and logs the token out), and `hwsign lock` and
//! the SSH agent protocol's lock forget it at once; the PIN never reaches a log.

use std::ffi::OsString;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use hwsign_testrig::peers::*;
use hwsign_testrig::*;
use sha2::{Digest, Sha512};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// An agent on the env's copy of the test token (config.toml, no --softhsm, no PIN file) whose
/// pinentry is the scripted one.
struct PinAgent {
    agent: Agent,
    mode: PathBuf,
    log: PathBuf,
    pin: String,
}

impl PinAgent {
    fn start(env: &TestEnv, pin_cache_ttl: &str) -> PinAgent {
        require_file(MODULE, "softhsm2");
        let conf = env.path("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                env.state.join("hwsign/softhsm/tokens").display()
            ),
        )
        .unwrap();
        let pin_file = env.state.join("hwsign/softhsm/user.pin");
        let pin = fs::read_to_string(&pin_file).unwrap();
        let pin = pin.lines().next().unwrap().to_string();
        assert!(
            pin.len() >= 8,
            "the test PIN is too short to look for in logs"
        );
        let wrapper = pinentry_wrapper(env);
        write_config(
            env,
            &format!(
                "pinentry = {}\npin_cache_ttl = \"{pin_cache_ttl}\"\n\n[[token]]\npkcs11_module = \"{MODULE}\"\ntoken_label = \"hwsign-test\"\n",
                toml_str(wrapper)
            ),
        );
        let (mode, log) = (env.path("pinentry.mode"), env.path("pinentry.log"));
        let mut envs = env.env();
        for (k, v) in [
            ("SOFTHSM2_CONF", &conf),
            ("FAKE_PINENTRY_MODE_FILE", &mode),
            ("FAKE_PINENTRY_PIN_FILE", &pin_file),
            ("FAKE_PINENTRY_LOG", &log),
        ] {
            envs.push((OsString::from(k), v.clone().into_os_string()));
        }
        // The most the agent logs: the PIN must not be in it either.
        envs.push((OsString::from("HWSIGN_LOG"), OsString::from("debug")));
        let agent = Agent::spawn(&envs, &[], &env.work, &env.path("agent.log"));
        let pa = PinAgent {
            agent,
            mode,
            log,
            pin,
        };
        pa.set("pin");
        pa
    }

    /// The pinentry's answer from now on: `pin`, `cancel` or `wrong`.
    fn set(&self, mode: &str) {
        fs::write(&self.mode, format!("{mode}\n")).unwrap();
    }

    /// One record per pinentry run.
    fn runs(&self) -> Vec<serde_json::Value> {
        jsonl(&self.log)
    }

    fn hw(&self, env: &TestEnv, args: &[&str]) -> Output {
        client(env, &self.agent.sock, args)
    }

    fn sign(&self, env: &TestEnv, file: &str) -> Output {
        self.hw(
            env,
            &[
                "sign",
                "--key",
                "release-ed25519",
                "--format",
                "sshsig",
                "--force",
                file,
            ],
        )
    }

    fn token_status(&self, env: &TestEnv) -> serde_json::Value {
        let st = status(env, &self.agent.sock);
        let t = st["tokens"][0].clone();
        assert_eq!(t["label"], "hwsign-test", "{st}");
        t
    }

    fn assert_pin_not_logged(&self, env: &TestEnv) {
        let agent_log = self.agent.log_text();
        assert!(
            !agent_log.contains(&self.pin),
            "the PIN is in the agent log"
        );
        let audit = fs::read_to_string(env.state.join("hwsign/audit.jsonl")).unwrap_or_default();
        assert!(!audit.contains(&self.pin), "the PIN is in the audit log");
        let pinentry_log = fs::read_to_string(&self.log).unwrap_or_default();
        assert!(!pinentry_log.contains(&self.pin));
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sshsig_what(data: &[u8]) -> String {
    let digest = hex(&Sha512::digest(data));
    format!(
        "an SSH signature (namespace file, sha512 {}…)",
        &digest[..12]
    )
}

/// The SSH agent protocol's lock (`ssh-add -x`): message 22 with a passphrase; the reply type.
fn ssh_lock(sock: &Path) -> u8 {
    let pass = b"any passphrase";
    let mut msg = vec![22];
    msg.extend_from_slice(&(pass.len() as u32).to_be_bytes());
    msg.extend_from_slice(pass);
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    hwsign_testrig::wire::round_trip(&mut s, &msg)[0]
}

#[test]
fn pinentry_gives_the_pin_and_the_dialog_names_the_token_and_what_is_signed() {
    let env = TestEnv::new();
    let pa = PinAgent::start(&env, "10m");
    write_file(&env.work, "a.txt", b"release\n");
    write_file(&env.work, "b.txt", b"second\n");
    let serial = env.key_by_label("release-ed25519")["token_serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!pa.token_status(&env)["logged_in"].as_bool().unwrap());

    assert_ok(&pa.sign(&env, "a.txt"));
    let allowed = env.allowed_signers_for("release-ed25519", "release@example.org");
    let v = env.ssh_verify(
        &allowed,
        "release@example.org",
        "file",
        &env.path("a.txt"),
        &env.path("a.txt.sig"),
    );
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));

    let runs = pa.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let r = &runs[0];
    assert_eq!(r["mode"], "pin");
    assert_eq!(r["title"], "hwsign");
    assert_eq!(r["prompt"], "PIN:");
    assert!(r["error"].is_null(), "{r}");
    assert_eq!(
        r["desc"],
        format!(
            "Token hwsign-test (serial {serial}) needs its PIN to sign: {}",
            sshsig_what(b"release\n")
        )
        .as_str()
    );
    assert_eq!(
        r["commands"],
        serde_json::json!(["SETTITLE", "SETDESC", "SETPROMPT", "SETTIMEOUT", "GETPIN"])
    );

    let t = pa.token_status(&env);
    assert!(t["logged_in"].as_bool().unwrap(), "{t}");
    let until = t["pin_cached_until"].as_u64().unwrap();
    assert!(until > now() + 60 && until <= now() + 600 + 5, "{t}");

    // Cached: no second dialog.
    assert_ok(&pa.sign(&env, "b.txt"));
    assert_eq!(pa.runs().len(), 1);
    pa.assert_pin_not_logged(&env);
}

#[test]
fn a_cancelled_dialog_is_denied() {
    let env = TestEnv::new();
    let pa = PinAgent::start(&env, "10m");
    write_file(&env.work, "a.txt", b"release\n");
    pa.set("cancel");
    let err = assert_err(&pa.sign(&env, "a.txt"));
    assert!(
        err.contains("[denied]") && err.contains("cancelled"),
        "{err}"
    );
    assert!(!env.work.join("a.txt.sig").exists());
    assert_eq!(pa.runs().len(), 1);
    assert!(!pa.token_status(&env)["logged_in"].as_bool().unwrap());

    // A cancel is not a rejected PIN: the next request asks and works.
    pa.set("pin");
    assert_ok(&pa.sign(&env, "a.txt"));
    assert_eq!(pa.runs().len(), 2);
    assert!(pa.runs()[1]["error"].is_null());
}

#[test]
fn a_wrong_pin_is_reported_and_never_retried() {
    let env = TestEnv::new();
    let pa = PinAgent::start(&env, "10m");
    write_file(&env.work, "a.txt", b"release\n");
    let rejected = || {
        pa.agent
            .log_text()
            .matches("the token rejected the PIN")
            .count()
    };

    pa.set("wrong");
    let err = assert_err(&pa.sign(&env, "a.txt"));
    assert!(
        err.contains("[pin-wrong]") && err.contains("rejected the PIN"),
        "{err}"
    );
    // SoftHSM keeps no retry counter; it flags "count low" after a failure.
    assert!(
        err.contains("(few tries left)") || err.contains("(tries left: the token does not say)"),
        "no retries text: {err}"
    );
    assert_eq!(pa.runs().len(), 1, "asked again within the failed request");
    assert_eq!(rejected(), 1);
    assert!(!env.work.join("a.txt.sig").exists());

    // The same wrong PIN typed again: refused without reaching the token.
    let err = assert_err(&pa.sign(&env, "a.txt"));
    assert!(
        err.contains("[pin-wrong]") && err.contains("rejected before"),
        "{err}"
    );
    assert_eq!(pa.runs().len(), 2);
    assert_eq!(
        rejected(),
        1,
        "the rejected PIN was sent to the token again"
    );

    // The right PIN: the dialog says the previous one was wrong.
    pa.set("pin");
    assert_ok(&pa.sign(&env, "a.txt"));
    let runs = pa.runs();
    assert_eq!(runs.len(), 3);
    let error = runs[2]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("The previous PIN was wrong (") && error.contains("tries left"),
        "{:?}",
        runs[2]
    );
    // Accepted: the next dialog (after a lock) has no error line.
    assert_ok(&pa.hw(&env, &["lock"]));
    assert_ok(&pa.sign(&env, "a.txt"));
    assert_eq!(pa.runs().len(), 4);
    assert!(pa.runs()[3]["error"].is_null());
    pa.assert_pin_not_logged(&env);
}

#[test]
fn an_expired_pin_cache_logs_out_and_asks_again() {
    let env = TestEnv::new();
    let pa = PinAgent::start(&env, "1s");
    write_file(&env.work, "a.txt", b"release\n");
    assert_ok(&pa.sign(&env, "a.txt"));
    assert_eq!(pa.runs().len(), 1);
    wait_until("the PIN cache to expire (agent log)", || {
        pa.agent
            .log_text()
            .contains("logged out; the PIN is no longer cached")
    });
    let t = pa.token_status(&env);
    assert!(!t["logged_in"].as_bool().unwrap(), "{t}");
    assert_eq!(t["pin_cached_until"], 0, "{t}");
    assert_ok(&pa.sign(&env, "a.txt"));
    assert_eq!(pa.runs().len(), 2, "the expired PIN was not asked again");
    pa.assert_pin_not_logged(&env);
}

#[test]
fn hwsign_lock_and_the_ssh_agent_lock_forget_the_pin() {
    let env = TestEnv::new();
    let pa = PinAgent::start(&env, "10m");
    for (f, data) in [
        ("a.txt", "alpha\n"),
        ("b.txt", "beta\n"),
        ("c.txt", "gamma\n"),
    ] {
        write_file(&env.work, f, data.as_bytes());
    }
    assert_ok(&pa.sign(&env, "a.txt"));
    assert_eq!(pa.runs().len(), 1);
    assert!(pa.token_status(&env)["logged_in"].as_bool().unwrap());

    let out = pa.hw(&env, &["lock"]);
    assert_ok(&out);
    assert_eq!(
        stdout_of(&out),
        "locked: every cached PIN is forgotten and the tokens are logged out\n"
    );
    let t = pa.token_status(&env);
    assert!(!t["logged_in"].as_bool().unwrap(), "{t}");
    assert_eq!(t["pin_cached_until"], 0, "{t}");
    assert!(
        pa.agent
            .log_text()
            .contains("logged out; the PIN is no longer cached")
    );

    // Asked again, and the dialog says what this request signs.
    let attest = [
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "-o",
        "rel.json",
        "a.txt",
        "b.txt",
        "c.txt",
    ];
    assert_ok(&pa.hw(&env, &attest));
    let runs = pa.runs();
    assert_eq!(runs.len(), 2);
    let desc = runs[1]["desc"].as_str().unwrap();
    assert!(
        desc.starts_with("Token hwsign-test (serial ")
            && desc.ends_with("to sign: an attestation of 3 file(s) (a.txt, b.txt, c.txt)"),
        "{desc}"
    );

    // The SSH agent protocol's lock (ssh-add -x) does the same.
    assert!(pa.token_status(&env)["logged_in"].as_bool().unwrap());
    assert_eq!(ssh_lock(&pa.agent.sock), 6, "expected SSH_AGENT_SUCCESS");
    let t = pa.token_status(&env);
    assert!(!t["logged_in"].as_bool().unwrap(), "{t}");
    assert_ok(&pa.sign(&env, "b.txt"));
    assert_eq!(pa.runs().len(), 3);

    // Neither lock is available through the forwarded socket.
    let extra = extra_sock(&env);
    let err = assert_err(&client(&env, &extra, &["lock"]));
    assert!(err.contains("[policy-refused]"), "{err}");
    assert_eq!(ssh_lock(&extra), 5, "expected SSH_AGENT_FAILURE");
    assert!(pa.token_status(&env)["logged_in"].as_bool().unwrap());
    pa.assert_pin_not_logged(&env);
}
