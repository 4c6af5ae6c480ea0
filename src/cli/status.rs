//! `hwsign status`: the agent's host, socket and tokens.

use super::args::StatusArgs;
use crate::client::AgentClient;
use crate::error::Result;

/// Run it.
pub fn run(client: &mut AgentClient, args: StatusArgs) -> Result<()> {
    let status = client.status()?;
    if args.json {
        let mut v = serde_json::to_value(&status).map_err(crate::format::FormatError::from)?;
        v["socket_path"] = client.path().display().to_string().into();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(crate::format::FormatError::from)?
        );
        return Ok(());
    }
    println!(
        "agent:   hwsign-agent {} on {}",
        status.agent_version, status.host
    );
    println!("socket:  {} ({})", client.path().display(), status.socket);
    if status.test_mode {
        println!("mode:    SoftHSM2 test mode (no hardware)");
    }
    if status.tokens.is_empty() {
        println!(
            "tokens:  none (configure [[token]] in config.toml, or run hwsign-agent --softhsm)"
        );
    }
    for t in &status.tokens {
        let state = if !t.present {
            "absent"
        } else if t.logged_in {
            "PIN verified"
        } else {
            "PIN not verified"
        };
        println!(
            "token:   {} ({}, serial {}): {}, {} key(s)",
            t.label, t.backend, t.serial, state, t.keys
        );
        if !t.problem.is_empty() {
            println!("         problem: {}", t.problem);
        }
    }
    Ok(())
}
