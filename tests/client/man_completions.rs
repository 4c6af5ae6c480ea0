//! Man pages and shell completions generated from the clap definitions (`hwsign man`,
//! `hwsign completions`), for hwsign and hwsign-agent, and the help texts: both about lines
//! name OpenPGP, `sign` names its three formats, `verify --signature` names `.asc`, `--config`
//! is not offered where it does nothing, and the help pages give examples and the environment.

use std::fs;

use hwsign_testrig::*;

fn ok(env: &TestEnv, args: &[&str]) -> String {
    let out = run(env.command(client_bin()).args(args));
    assert!(
        out.status.success(),
        "{}",
        describe(&format!("hwsign {args:?}"), &out)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn completions_for_bash_zsh_and_fish_know_the_commands() {
    let env = TestEnv::new();
    let bash = ok(&env, &["completions", "bash"]);
    assert!(bash.contains("complete -F _hwsign"), "{bash}");
    for cmd in [
        "keys",
        "sign",
        "attest",
        "verify",
        "doctor",
        "init",
        "man",
        "completions",
    ] {
        assert!(bash.contains(cmd), "bash completion misses {cmd}");
    }
    assert!(bash.contains("--emit-verifier-material"));
    let zsh = ok(&env, &["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef hwsign"), "{zsh}");
    let fish = ok(&env, &["completions", "fish"]);
    assert!(fish.contains("complete -c hwsign"), "{fish}");
    assert!(
        fish.contains("sshsig") && fish.contains("openpgp"),
        "formats: {fish}"
    );
    let agent = ok(&env, &["completions", "bash", "--program", "hwsign-agent"]);
    assert!(
        agent.contains("--softhsm") && agent.contains("hwsign-agent"),
        "{agent}"
    );
    // A shell bash can load.
    let path = env.path("hwsign.bash");
    fs::write(&path, &bash).unwrap();
    let out = run(env.command("bash").arg("-n").arg(&path));
    assert!(out.status.success(), "{}", describe("bash -n", &out));
}

#[test]
fn man_pages_for_both_programs_and_every_subcommand() {
    let env = TestEnv::new();
    let page = ok(&env, &["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH hwsign 1"),
        "{page}"
    );
    assert!(
        page.contains("HWSIGN_AUTH_SOCK") && page.contains("HWSIGN_LOG"),
        "{page}"
    );
    let agent = ok(&env, &["man", "--program", "hwsign-agent"]);
    assert!(agent.contains(".TH hwsign-agent 1"), "{agent}");
    assert!(agent.contains("OpenPGP"), "{agent}");

    let dir = env.path("man/man1");
    let out = run(env.command(client_bin()).args(["man", "-o"]).arg(&dir));
    assert!(out.status.success(), "{}", describe("hwsign man -o", &out));
    for page in [
        "hwsign.1",
        "hwsign-sign.1",
        "hwsign-attest.1",
        "hwsign-keys-export.1",
        "hwsign-verify.1",
        "hwsign-doctor.1",
        "hwsign-agent.1",
    ] {
        let text = fs::read_to_string(dir.join(page))
            .unwrap_or_else(|e| panic!("{page} not written: {e}"));
        assert!(text.contains(".TH"), "{page}: {text}");
    }
    // man(1) renders them, when it is installed.
    if which("man").is_some() {
        let out = run(env
            .command("man")
            .arg("-l")
            .arg(dir.join("hwsign-sign.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"));
        assert!(out.status.success(), "{}", describe("man -l", &out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("--format"));
    }
}

#[test]
fn help_texts_name_openpgp_examples_and_environment() {
    let env = TestEnv::new();
    let help = ok(&env, &["--help"]);
    assert!(help.contains("OpenPGP"), "{help}");
    assert!(help.contains("Examples:"), "{help}");
    assert!(
        help.contains("HWSIGN_AUTH_SOCK") && help.contains("HWSIGN_LOG"),
        "{help}"
    );
    assert!(
        help.contains("Sign files: SSHSIG (FILE.sig), OpenPGP (FILE.asc) or raw (FILE.rawsig)"),
        "{help}"
    );
    let agent = run(env.command(agent_bin()).arg("--help"));
    let agent = String::from_utf8_lossy(&agent.stdout);
    assert!(
        agent.contains("OpenPGP") && agent.contains("HWSIGN_LOG"),
        "{agent}"
    );

    let verify = ok(&env, &["verify", "--help"]);
    assert!(verify.contains("FILE.asc"), "{verify}");
    assert!(
        !verify.contains("--config"),
        "verify offers --config: {verify}"
    );
    let audit = ok(&env, &["audit", "--help"]);
    assert!(
        !audit.contains("--config"),
        "audit offers --config: {audit}"
    );
    // Still given before the command.
    assert!(help.contains("--config"), "{help}");
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}
