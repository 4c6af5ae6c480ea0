//! `hwsign doctor`: why signing does not work. Each check gives OK, WARN or FAIL with the
//! command that fixes it; `--json` prints the findings; a FAIL makes the exit status non-zero.
//! Run it on the agent's machine: besides asking the agent, it looks at pcscd and the cards
//! itself (read-only: reader list, firmware version, PIV slot metadata, PIN retry counters;
//! short PC/SC transactions, no PIN, no card reset), at the configured PKCS#11 modules, the
//! udev rules, the systemd user units, the config and the audit log.

mod advisory;
mod checks;
mod openpgp;

use clap::Args;

use crate::error::{Error, Result};

/// `hwsign doctor`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  hwsign doctor\n  hwsign doctor --json | jq '.[] | select(.status != \"ok\")'"
)]
pub struct DoctorArgs {
    /// Print the findings as JSON (a list of {check, status, message, fix}).
    #[arg(long)]
    pub json: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth fixing.
    Warn,
    /// Signing will not work (or is not safe) until fixed.
    Fail,
}

/// One finding.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// Which check (`agent`, `pcscd`, `card`, `pkcs11`, `udev`, `systemd`, `config`, `audit`,
    /// `pin`, `remote`, `advisory`).
    pub check: &'static str,
    /// OK, WARN or FAIL.
    pub status: Status,
    /// What was found.
    pub message: String,
    /// The command or change that fixes it (empty when OK).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Finding {
    fn new(check: &'static str, status: Status, message: impl Into<String>) -> Self {
        Finding {
            check,
            status,
            message: crate::text::message(&message.into()),
            fix: String::new(),
        }
    }
    fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Status::Ok, message)
    }
    fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, message).fix(fix)
    }
    fn fail(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(check, Status::Fail, message).fix(fix)
    }
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = crate::text::message(&fix.into());
        self
    }
}

fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let tag = match f.status {
            Status::Ok => "OK  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!("{tag} {:<8} {}\n", f.check, f.message));
        if !f.fix.is_empty() {
            out.push_str(&format!("              fix: {}\n", f.fix));
        }
    }
    let count = |s| findings.iter().filter(|f| f.status == s).count();
    out.push_str(&format!(
        "{} OK, {} WARN, {} FAIL\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    ));
    out
}

/// Run the checks and print them.
pub fn run(config: Option<&std::path::Path>, args: DoctorArgs) -> Result<()> {
    let findings = checks::all(config);
    let text = if args.json {
        serde_json::to_string_pretty(&findings).map_err(crate::format::FormatError::from)? + "\n"
    } else {
        render(&findings)
    };
    crate::client::output::print(&text)?;
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    if failed > 0 {
        return Err(Error::Usage(format!(
            "doctor: {failed} check(s) failed (FAIL above)"
        )));
    }
    Ok(())
}
