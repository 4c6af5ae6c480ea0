//! `hwsign init`: a commented config naming the cards it finds (the virtual YubiKey here), the
//! systemd user units in a unit directory it makes, with `ExecStart=` at the installed agent;
//! idempotent (a second run changes nothing), never overwriting a changed file without
//! `--force`, `--dry-run` writing nothing; the ssh and git snippets printed, not written.

use std::fs;

use hwsign_testrig::cards::*;
use hwsign_testrig::*;

fn init(rig: &Rig, args: &[&str]) -> String {
    let mut cmd = rig.env.command(client_bin());
    cmd.arg("init").args(args).envs(rig.pcscd.env());
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", describe("hwsign init", &out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn init_sets_up_once_and_keeps_what_the_user_changed() {
    let rig = Rig::new(&[CardKind::Piv]);
    let card = rig.pcscd.start_card(0);
    let env = &rig.env;
    let config = env.config.join("hwsign/config.toml");
    let units = env.config.join("systemd/user");
    assert!(!units.exists());

    let dry = init(&rig, &["--dry-run"]);
    assert!(
        dry.contains(&format!("would write {}", config.display())),
        "{dry}"
    );
    assert!(
        dry.contains("would write") && dry.contains("hwsign-agent.service"),
        "{dry}"
    );
    assert!(
        !config.exists() && !units.exists(),
        "--dry-run wrote something"
    );

    let first = init(&rig, &[]);
    assert!(
        first.contains(&format!("wrote {}", config.display())),
        "{first}"
    );
    let text = fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&format!("# serial = {}", card.serial)),
        "the YubiKey is not named:\n{text}"
    );
    assert!(text.contains("firmware 5.4.3"), "{text}");
    // The agent takes the config as written.
    let agent = rig.start_agent();
    drop(agent);

    let service = fs::read_to_string(units.join("hwsign-agent.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    assert_eq!(
        fs::canonicalize(exec).unwrap(),
        fs::canonicalize(agent_bin()).unwrap(),
        "ExecStart is not the hwsign-agent next to hwsign"
    );
    for unit in ["hwsign-agent.socket", "hwsign-agent-extra.socket"] {
        let text = fs::read_to_string(units.join(unit)).unwrap();
        assert!(text.contains("FileDescriptorName="), "{unit}: {text}");
    }
    // Printed, not written: the ssh and git snippets.
    assert!(
        first.contains("IdentityAgent ${XDG_RUNTIME_DIR}/hwsign/agent.sock"),
        "{first}"
    );
    assert!(
        first.contains("git config --global gpg.format ssh"),
        "{first}"
    );
    assert!(!env.dir.path().join(".ssh").exists());

    // Again: nothing to do.
    let again = init(&rig, &[]);
    assert_eq!(again.matches("up to date: ").count(), 4, "{again}");
    assert!(!again.contains("wrote "), "{again}");

    // A config the user edited is kept, unless --force.
    fs::write(&config, "pin_cache_ttl = \"1m\"\n").unwrap();
    let kept = init(&rig, &[]);
    assert!(
        kept.contains(&format!(
            "kept {} (it differs; --force replaces it)",
            config.display()
        )),
        "{kept}"
    );
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        "pin_cache_ttl = \"1m\"\n"
    );
    let forced = init(&rig, &["--force"]);
    assert!(
        forced.contains(&format!("wrote {}", config.display())),
        "{forced}"
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), text);

    // The doctor finds the units (not enabled: no user manager in the tests).
    let out = run(env.command(client_bin()).args(["doctor", "--json"]));
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        findings.iter().any(|f| f["check"] == "systemd"
            && f["status"] == "ok"
            && f["message"].as_str().unwrap().contains("units installed")),
        "{findings:#?}"
    );
}
