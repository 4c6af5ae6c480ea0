//! `hwsign keys`: list, export, generate and attest keys.

use std::path::Path;

use super::args::{AttestKeyArgs, ExportArgs, ExportFormat, GenerateArgs, KeysAction, KeysArgs};
use crate::client::{AgentClient, Signer, output, select};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::key::KeyMeta;
use crate::proto::generate::GenerateRequest;
use crate::proto::keys::KeyEntry;
use crate::text::Escaped as E;

/// Run `hwsign keys` and its subcommands.
pub fn run(client: &mut AgentClient, _config: &Config, args: KeysArgs) -> Result<()> {
    let sock = client.path().to_path_buf();
    match args.action {
        None => list(client, args.json),
        Some(KeysAction::Export(a)) => export(client, a),
        Some(KeysAction::Generate(a)) => generate(client, a),
        Some(KeysAction::Attest(a)) => attest(client, a),
    }
    .map_err(|e| super::sign::agent_error(&sock, e))
}

fn table(keys: &[KeyMeta]) -> String {
    if keys.is_empty() {
        return "no keys (see `hwsign status`)\n".into();
    }
    // The agent's words (labels may be a remote agent's or a card's): escaped.
    let w = keys
        .iter()
        .map(|k| E::name(&k.label).to_string().chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "{:<16}  {:<w$}  {:<10}  {:<6}  {:<6}  TOKEN\n",
        "ID", "LABEL", "ALGORITHM", "TOUCH", "PIN"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<16}  {:<w$}  {:<10}  {:<6}  {:<6}  {} ({})\n",
            k.id.short(),
            E::name(&k.label),
            k.algorithm(),
            k.touch,
            k.pin,
            E::name(&k.token_label),
            k.backend
        ));
    }
    out
}

fn list(client: &mut AgentClient, json: bool) -> Result<()> {
    let keys = client.keys()?;
    if json {
        let entries: Vec<KeyEntry> = keys.iter().map(KeyEntry::from).collect();
        let text =
            serde_json::to_string_pretty(&entries).map_err(crate::format::FormatError::from)?;
        output::print(&format!("{text}\n"))
    } else {
        output::print(&table(&keys))
    }
}

fn emit(text: &str, output: Option<&Path>, force: bool) -> Result<()> {
    match output {
        Some(path) => output::write_new(path, text.as_bytes(), force),
        None => output::print(text),
    }
}

fn export(client: &mut AgentClient, mut a: ExportArgs) -> Result<()> {
    let key = select::pick(client, Some(&a.key), None)?;
    let public = key.public.clone();
    if a.install {
        if !matches!(a.format, ExportFormat::Openpgp) {
            return Err(Error::Usage(
                "--install puts an OpenPGP certificate where hwsign-gpg finds it: use it with --format openpgp".into(),
            ));
        }
        let dir = crate::gpg::certs::cert_dir();
        crate::dirs::ensure_private_dir(&dir).map_err(|e| Error::Usage(e.to_string()))?;
        a.output = Some(dir.join(format!("{}.asc", key.id.short())));
    }
    if a.revoke.is_some() && !matches!(a.format, ExportFormat::Openpgp) {
        return Err(Error::Usage(
            "--revoke makes an OpenPGP revocation: use it with --format openpgp --userid …".into(),
        ));
    }
    let text = match a.format {
        ExportFormat::Ssh => format!("{}\n", public.ssh_line(&key.label)),
        ExportFormat::Pem => public.to_pem(),
        ExportFormat::Openpgp => {
            let userid = a.userid.as_deref().ok_or_else(|| {
                Error::Usage("--format openpgp needs --userid \"Name <mail>\"".into())
            })?;
            if let Some(path) = &a.output {
                // Before the token signs the certificate: the output can be written.
                output::check_writable(std::slice::from_ref(path), a.force)?;
            }
            let revocation = a.revoke.map(|r| crate::format::openpgp::Revocation {
                reason: r.into(),
                message: a.revoke_message.clone(),
            });
            openpgp_cert(client, key, userid, a.expires, revocation.as_ref())?
        }
        ExportFormat::AllowedSigners => {
            let principal = a.principal.as_deref().ok_or_else(|| {
                Error::Usage(
                    "--format allowed-signers needs --principal (e.g. release@example.org)".into(),
                )
            })?;
            crate::format::verifier_material::allowed_signers_line(principal, &public)
        }
        ExportFormat::Minisign => crate::format::minisign::public_key_file(&public)?,
        ExportFormat::Policy => crate::format::verifier_material::policy_entry(
            a.name.as_deref().unwrap_or(&key.label),
            &public,
            &key.label,
        ),
    };
    emit(&text, a.output.as_deref(), a.force)?;
    if let Some(path) = a.output.as_deref().filter(|_| a.install) {
        eprintln!(
            "installed {}: hwsign-gpg signs as and verifies with it (`hwsign gpg --list-keys`)",
            crate::text::name(&path.display().to_string())
        );
    }
    Ok(())
}

/// A certificate for `key`, self-signed by the token through the agent.
fn openpgp_cert(
    client: &mut AgentClient,
    key: KeyMeta,
    userid: &str,
    expires: Option<std::time::Duration>,
    revocation: Option<&crate::format::openpgp::Revocation>,
) -> Result<String> {
    use crate::format::openpgp;
    let created = openpgp::creation_time(key.created);
    let mut signer = Signer::new(client, key)?;
    let public = signer.public().clone();
    let primary = openpgp::primary_key(&public, created)?;
    let hash = openpgp::hash_for(public.algorithm());
    let mut names = vec![format!("certificate for {userid}")];
    if let Some(r) = revocation {
        let reason = format!("{:?}", r.reason).to_ascii_lowercase();
        names.push(if r.message.is_empty() {
            format!("REVOCATION of this key ({reason})")
        } else {
            format!("REVOCATION of this key ({reason}): {}", r.message)
        });
    }
    signer.with_openpgp(primary.role_into_unspecified(), &names, |pgp| {
        openpgp::certificate(pgp, userid, hash, expires, revocation)
    })
}

fn generate(client: &mut AgentClient, a: GenerateArgs) -> Result<()> {
    let request = if a.piv {
        let mut options = vec![format!("slot={}", a.slot)];
        options.extend(a.serial.map(|s| format!("serial={s}")));
        options.extend(a.pin_policy.map(|p| format!("pin-policy={p}")));
        options.extend(a.touch_policy.map(|t| format!("touch-policy={t}")));
        GenerateRequest {
            token: "piv".into(),
            label: String::new(),
            algorithm: a.alg,
            options,
        }
    } else if a.openpgp_card {
        GenerateRequest {
            token: "openpgp-card".into(),
            label: String::new(),
            algorithm: a.alg,
            options: a
                .ident
                .map(|i| vec![format!("ident={i}")])
                .unwrap_or_default(),
        }
    } else {
        GenerateRequest {
            token: a.token.unwrap_or_default(),
            label: a.label.unwrap_or_default(),
            algorithm: a.alg,
            options: Vec::new(),
        }
    };
    let reply = client.generate(&request)?;
    let k = reply.key;
    output::print(&format!(
        "generated {} ({}) on {}\nid:  {}\nuri: {}\n{}\n",
        E::name(&k.label),
        k.algorithm(),
        E::name(&k.token_label),
        k.id,
        E::new(k.pkcs11_uri.as_deref().unwrap_or_default(), 1000),
        E::new(&k.ssh_line(), 20_000)
    ))
}

/// The key's attestation as PEM: the certificate for the key, then the token's attestation
/// certificate (what a trust policy's `attestation_file` names).
pub(super) fn attestation_pem(client: &mut AgentClient, key: &KeyMeta) -> Result<String> {
    let reply = client.attest_key(&key.id.to_string())?;
    // Nothing is written that attests another key than the one asked for (a slot changed
    // since the listing, a token answering for the wrong slot).
    let attested = crate::verify::attestation::Cert::from_der(
        reply.certificate.clone(),
        "the token's attestation certificate",
    )
    .and_then(|c| c.public_key())
    .map_err(|e| Error::Protocol(crate::text::message(&e.to_string())))?;
    if crate::key::KeyId::of(&attested) != key.id {
        return Err(Error::Protocol(format!(
            "the token's attestation is for key {}, not key {} ({}); nothing was written\n  hint: run `hwsign keys` (was the key replaced on its token?) and ask again",
            crate::key::KeyId::of(&attested),
            key.id,
            crate::text::name(&key.label)
        )));
    }
    Ok(crate::format::verifier_material::certificates_pem(&[
        &reply.certificate,
        &reply.intermediate,
    ]))
}

fn attest(client: &mut AgentClient, a: AttestKeyArgs) -> Result<()> {
    let key = select::pick(client, Some(&a.key), None)?;
    let text = attestation_pem(client, &key)?;
    emit(&text, a.output.as_deref(), a.force)
}
