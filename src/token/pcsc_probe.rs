//! Why a smart card cannot be used: another program holding it exclusively (gpg's scdaemon
//! without `pcsc-shared`, yubikey-agent, …), named with the fix.

/// Programs known to hold cards exclusively, and how to make them share.
const HOLDERS: [(&str, &str); 2] = [
    (
        "scdaemon",
        "add `pcsc-shared` to ~/.gnupg/scdaemon.conf, or run `gpgconf --kill scdaemon`",
    ),
    (
        "yubikey-agent",
        "stop yubikey-agent while hwsign uses the card",
    ),
];

/// Running programs that may hold a card, with their pids and the fix, in the order of
/// [`HOLDERS`] (pcscd does not say which client holds a card; a running scdaemon is the usual
/// one).
fn running_holders() -> Vec<(String, u32, &'static str)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim();
        if let Some((name, fix)) = HOLDERS.iter().find(|(n, _)| *n == comm) {
            out.push((name.to_string(), pid, *fix));
        }
    }
    out.sort_by_key(|(name, pid, _)| (HOLDERS.iter().position(|(n, _)| n == name), *pid));
    out
}

/// How long one probe of the readers answers for: both card workers ask during one listing,
/// and the readers are probed (and a held card logged) once for both.
const PROBE_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// The last probe: when, and what it found.
static LAST_PROBE: std::sync::Mutex<Option<(std::time::Instant, Option<String>)>> =
    std::sync::Mutex::new(None);

/// The problem a card worker reports when cards are held by another program (logged once per
/// probe), or `None`.
pub fn held_problem() -> Option<String> {
    let mut last = LAST_PROBE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, problem)) = last.as_ref() {
        if at.elapsed() < PROBE_REUSE {
            return problem.clone();
        }
    }
    let held = exclusive_holders();
    let problem = (!held.is_empty()).then(|| held.join("; "));
    if let Some(problem) = &problem {
        tracing::warn!(%problem, "cards held by another program");
    }
    *last = Some((std::time::Instant::now(), problem.clone()));
    problem
}

/// Readers whose card another program holds exclusively, each with a message naming the
/// program and the fix.
pub fn exclusive_holders() -> Vec<String> {
    let Ok(ctx) = pcsc::Context::establish(pcsc::Scope::User) else {
        return Vec::new();
    };
    let mut buf = [0u8; 4096];
    let Ok(readers) = ctx.list_readers(&mut buf) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // The running programs that may hold cards: looked up once, when a card is held.
    let mut holders = None;
    for reader in readers {
        match ctx.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
            Ok(card) => {
                // Leave the card as it is: no reset.
                let _ = card.disconnect(pcsc::Disposition::LeaveCard);
            }
            Err(pcsc::Error::SharingViolation) => {
                let name = reader.to_string_lossy();
                let holders = holders.get_or_insert_with(running_holders);
                let msg = match holders.first() {
                    Some((prog, pid, fix)) => format!(
                        "the card in {name} is held exclusively by another program, {prog} (pid {pid}) is running; to share it: {fix}"
                    ),
                    None => format!(
                        "the card in {name} is held exclusively by another program (scdaemon without pcsc-shared? yubikey-agent?); make it share the card or stop it"
                    ),
                };
                out.push(msg);
            }
            Err(_) => {}
        }
    }
    out
}
