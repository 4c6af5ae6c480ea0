//! The SoftHSM2 test mode: a private SoftHSM2 config and token under the agent's state dir,
//! provisioned once with three release keys and reused on later starts.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cryptoki::context::Pkcs11;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;

use super::TokenError;
use super::pin_source::{PinSource, getrandom_fill};
use super::pkcs11::list_tokens;
use super::pkcs11_objects::{generation_templates, today};
use crate::secret::Pin;

/// The label of the test token.
pub const TOKEN_LABEL: &str = "hwsign-test";
/// The keys the test token holds: (label, algorithm).
pub const TEST_KEYS: [(&str, &str); 3] = [
    ("release-p256", "p256"),
    ("release-ed25519", "ed25519"),
    ("release-rsa3072", "rsa3072"),
];
/// Debian's SoftHSM2 module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The files of the test token.
#[derive(Debug, Clone)]
pub struct TestToken {
    /// `$XDG_STATE_HOME/hwsign/softhsm`.
    pub dir: PathBuf,
    /// The SoftHSM2 config to point `SOFTHSM2_CONF` at.
    pub conf: PathBuf,
    /// The SoftHSM2 PKCS#11 module to load.
    pub module: PathBuf,
    /// The user PIN file.
    pub pin_file: PathBuf,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> TokenError {
    TokenError::Other(format!("{what} {}: {e}", path.display()))
}

fn random_pin() -> Result<String, TokenError> {
    let mut b = [0u8; 8];
    getrandom_fill(&mut b).map_err(|e| TokenError::Other(format!("no randomness: {e}")))?;
    Ok(crate::crypto::pubkey::hex(&b))
}

fn write_private(path: &Path, text: &str) -> Result<(), TokenError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err("cannot create", path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| io_err("cannot write", path, e))
}

/// Prepare the test token's directory and config (written on every start, so the directory
/// can be copied). Call before loading the module; the caller points `SOFTHSM2_CONF` at
/// [`TestToken::conf`] before any thread starts.
pub fn prepare(state_dir: &Path) -> Result<TestToken, TokenError> {
    let module = std::env::var_os("HWSIGN_SOFTHSM_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE));
    if !module.exists() {
        return Err(TokenError::Module {
            path: module.display().to_string(),
            detail: "not found; install Debian's `softhsm2` package (apt-get install softhsm2) or set HWSIGN_SOFTHSM_MODULE".into(),
        });
    }
    let dir = state_dir.join("softhsm");
    crate::dirs::ensure_private_dir(&dir).map_err(|e| TokenError::Other(e.to_string()))?;
    let tokens = dir.join("tokens");
    crate::dirs::ensure_private_dir(&tokens).map_err(|e| TokenError::Other(e.to_string()))?;
    let conf = dir.join("softhsm2.conf");
    let text = format!(
        "# written by hwsign-agent --softhsm on every start\ndirectories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
        tokens.display()
    );
    std::fs::write(&conf, text).map_err(|e| io_err("cannot write", &conf, e))?;
    let pin_file = dir.join("user.pin");
    Ok(TestToken {
        dir,
        conf,
        module,
        pin_file,
    })
}

/// Make sure the test token exists and holds the three test keys (creating what is missing).
/// Returns the PIN source for the token.
pub fn provision(ctx: &Pkcs11, tt: &TestToken) -> Result<PinSource, TokenError> {
    let pin_source = PinSource::File(tt.pin_file.clone());
    let existing = list_tokens(ctx)?
        .into_iter()
        .find(|(_, label, _)| label == TOKEN_LABEL);
    let slot = match existing {
        Some((slot, _, _)) => slot,
        None => {
            tracing::info!(dir = %tt.dir.display(), "creating the SoftHSM2 test token");
            let so_pin = random_pin()?;
            let user_pin = random_pin()?;
            let _ = std::fs::remove_file(&tt.pin_file);
            let so_file = tt.dir.join("so.pin");
            let _ = std::fs::remove_file(&so_file);
            write_private(&so_file, &format!("{so_pin}\n"))?;
            write_private(&tt.pin_file, &format!("{user_pin}\n"))?;
            let free = ctx
                .get_slots_with_token()
                .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?
                .into_iter()
                .find(|s| ctx.get_token_info(*s).is_ok_and(|i| !i.token_initialized()))
                .ok_or_else(|| TokenError::Other("SoftHSM2 offers no free slot".into()))?;
            let so = Pin::new(so_pin);
            ctx.init_token(free, &so.as_auth_pin(), TOKEN_LABEL)
                .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
            // SoftHSM renumbers slots after C_InitToken: find the token by label again.
            let slot = list_tokens(ctx)?
                .into_iter()
                .find(|(_, label, _)| label == TOKEN_LABEL)
                .map(|(slot, _, _)| slot)
                .ok_or_else(|| TokenError::Other("the new SoftHSM2 token vanished".into()))?;
            let session = ctx
                .open_rw_session(slot)
                .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
            session
                .login(UserType::So, Some(&so.as_auth_pin()))
                .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
            session
                .init_pin(&Pin::new(user_pin).as_auth_pin())
                .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
            session
                .logout()
                .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
            slot
        }
    };
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
    // Public keys are visible without a login: when every test key's is there, the token is
    // as provisioned and the start needs no login (the worker logs in for the first
    // signature; a login is a key derivation from the PIN in SoftHSM).
    let mut provisioned = true;
    for (label, _) in TEST_KEYS {
        let public = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
        provisioned &= !public.is_empty();
    }
    if provisioned {
        return Ok(pin_source);
    }
    let pin = pin_source.read(TOKEN_LABEL, "", None)?;
    session
        .login(UserType::User, Some(&pin.as_auth_pin()))
        .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
    for (label, alg) in TEST_KEYS {
        let present = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
        if !present.is_empty() {
            continue;
        }
        tracing::info!(label, alg, "generating a test key");
        let mut id = [0u8; 16];
        getrandom_fill(&mut id).map_err(|e| TokenError::Other(format!("no randomness: {e}")))?;
        let (mech, public, private) = generation_templates(alg, label, &id, today())
            .ok_or_else(|| TokenError::Other(format!("bad test key {alg}")))?;
        session
            .generate_key_pair(&mech, &public, &private)
            .map_err(|e| TokenError::pkcs11(TOKEN_LABEL, &e))?;
    }
    // Closing the session here logs it out (it was the only one); the worker logs in again.
    drop(session);
    Ok(pin_source)
}
