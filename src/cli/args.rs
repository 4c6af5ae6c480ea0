//! The clap definitions of `hwsign` and `hwsign-agent` (they also feed help and man pages).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Examples and environment, at the end of `hwsign --help` and in hwsign(1).
const HWSIGN_AFTER_HELP: &str = "\
Examples:
  hwsign keys                                       list the agent's keys
  hwsign sign --format sshsig --key release-p256 dist/app.tar.gz
  hwsign sign --format openpgp --key release-p256 dist/app.tar.gz     # dist/app.tar.gz.asc
  hwsign attest --purl pkg:generic/app@1.0.0 -o release.intoto.json dist/*
  hwsign verify --policy trust.toml --envelope release.intoto.json dist/*
  hwsign doctor                                     why signing does not work
  hwsign init --dry-run                             what setting up would do

Environment:
  HWSIGN_AUTH_SOCK   the agent's socket (else $XDG_RUNTIME_DIR/hwsign/agent.sock, else
                     SSH_AUTH_SOCK, e.g. a forwarded agent.extra.sock)
  HWSIGN_LOG         log filter for hwsign and hwsign-agent (e.g. info, debug)
  XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_RUNTIME_DIR   where config, audit log and sockets live";

/// Examples and environment of `hwsign-agent --help` and hwsign-agent(1).
const AGENT_AFTER_HELP: &str = "\
Examples:
  hwsign-agent                       serve the configured tokens and cards
  hwsign-agent --softhsm             test mode: a SoftHSM2 token with three keys, no hardware
  systemctl --user enable --now hwsign-agent.socket   (hwsign init installs the units)

Environment:
  HWSIGN_LOG         log filter (default info; debug for more)
  XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_RUNTIME_DIR   config, audit log and state, sockets
  DBUS_SESSION_BUS_ADDRESS   the desktop's bus for touch notifications";

/// hwsign: sign releases and commits with keys on hardware tokens (YubiKey PIV, OpenPGP cards,
/// PKCS#11) through hwsign-agent: DSSE/in-toto attestations, SSHSIG, OpenPGP and raw
/// signatures, and verify them against a trust policy.
#[derive(Debug, Parser)]
#[command(name = "hwsign", version, after_help = HWSIGN_AFTER_HELP)]
pub struct Cli {
    /// Config file for the commands that read one (keys, sign, attest, doctor, init, gpg)
    /// (default: $XDG_CONFIG_HOME/hwsign/config.toml). Give it before the command.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `hwsign` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the agent's keys, export or generate one.
    Keys(KeysArgs),
    /// Sign files: SSHSIG (FILE.sig), OpenPGP (FILE.asc) or raw (FILE.rawsig).
    Sign(SignArgs),
    /// Attest a release: one DSSE envelope with an in-toto statement over every file.
    Attest(AttestArgs),
    /// Show the agent's tokens and state.
    Status(StatusArgs),
    /// Verify files against a trust policy (no agent needed).
    Verify(super::verify::VerifyArgs),
    /// Write a checksum file (sha256sum -c format, or BSD tags) in one hashing pass (no agent).
    Sums(super::sums::SumsArgs),
    /// The agent's audit log (on the agent's machine).
    Audit(super::audit::AuditArgs),
    /// Give the simulated touch of a test-mode key (on the agent's machine).
    Touch(TouchArgs),
    /// Forget every cached PIN now (log the tokens out).
    Lock,
    /// Explain why signing does not work: agent, pcscd, cards, modules, units, config, log.
    Doctor(super::doctor::DoctorArgs),
    /// Set up: a commented config, the systemd user units, ssh and git snippets.
    Init(super::init::InitArgs),
    /// Print the man page, or write every page into a directory.
    Man(super::man::ManArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(super::man::CompletionsArgs),
    /// gpg's command line for release tools, signing through the agent (as `hwsign-gpg`).
    #[command(disable_help_flag = true)]
    Gpg(GpgCliArgs),
}

/// `hwsign gpg`: everything after it is gpg's command line (`hwsign gpg --help`).
#[derive(Debug, Args)]
pub struct GpgCliArgs {
    /// gpg options and files.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<std::ffi::OsString>,
}

/// `hwsign keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Export, generate or attest.
    #[command(subcommand)]
    pub action: Option<KeysAction>,
}

/// `hwsign keys …` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Print a key's public half for verifiers.
    Export(ExportArgs),
    /// Make a key on a token.
    Generate(GenerateArgs),
    /// Write the token's attestation of a key (YubiKey PIV: the slot's attestation certificate,
    /// then the device's slot f9 certificate, PEM), for `attestation = "yubico-piv"` in a trust
    /// policy.
    Attest(AttestKeyArgs),
}

/// `hwsign keys attest`.
#[derive(Debug, Args)]
pub struct AttestKeyArgs {
    /// The key: id:<prefix>, label:<label>, or a bare id prefix or label.
    pub key: String,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// OpenSSH public key line.
    Ssh,
    /// PEM SubjectPublicKeyInfo.
    Pem,
    /// OpenPGP v4 certificate (armored), self-signed by the token; needs --userid.
    Openpgp,
    /// A line for ssh-keygen's allowed_signers file; needs --principal.
    AllowedSigners,
    /// A [[signer]] entry for hwsign's trust policy (--name, default the key's label).
    Policy,
    /// A minisign public key file (Ed25519 keys), for `minisign -V -p`.
    Minisign,
}

/// Why a key is revoked (`keys export --format openpgp --revoke`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RevokeReason {
    /// The key leaked: no signature of it is trusted, earlier ones included.
    Compromised,
    /// A new key replaces it: signatures made before the revocation stay valid.
    Superseded,
    /// It is no longer used: signatures made before the revocation stay valid.
    Retired,
    /// No reason given: treated as compromised.
    Unspecified,
}

impl From<RevokeReason> for crate::format::openpgp::RevocationReason {
    fn from(r: RevokeReason) -> Self {
        use crate::format::openpgp::RevocationReason as R;
        match r {
            RevokeReason::Compromised => R::Compromised,
            RevokeReason::Superseded => R::Superseded,
            RevokeReason::Retired => R::Retired,
            RevokeReason::Unspecified => R::Unspecified,
        }
    }
}

/// `hwsign keys export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The key: id:<prefix>, label:<label>, pkcs11:…, or a bare id prefix or label.
    pub key: String,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// User ID for --format openpgp, e.g. "Jane Doe <jane@example.org>".
    #[arg(long, required_if_eq("format", "openpgp"))]
    pub userid: Option<String>,
    /// allowed-signers: the principal (e.g. release@example.org).
    #[arg(long, required_if_eq("format", "allowed-signers"))]
    pub principal: Option<String>,
    /// policy: the signer's name (default: the key's label).
    #[arg(long)]
    pub name: Option<String>,
    /// OpenPGP: the certificate expires this long after the key's creation (e.g. 2y, 90d, 12h).
    #[arg(long, value_parser = parse_duration)]
    pub expires: Option<std::time::Duration>,
    /// OpenPGP: add a revocation of the key, made now by the token. `compromised` (and
    /// `unspecified`) make verifiers distrust every signature of the key; `superseded` and
    /// `retired` only the ones made after now. Publish the result where the certificate is.
    #[arg(long, value_enum, requires = "userid")]
    pub revoke: Option<RevokeReason>,
    /// OpenPGP: with --revoke, a message for people (e.g. "moved to key 0x…").
    #[arg(long, requires = "revoke", default_value = "")]
    pub revoke_message: String,
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// OpenPGP: put the certificate where hwsign-gpg finds it without configuration
    /// ($XDG_CONFIG_HOME/hwsign/openpgp/<key id>.asc).
    #[arg(long, conflicts_with = "output")]
    pub install: bool,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// `hwsign keys generate`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("where").required(true).args(["pkcs11", "openpgp_card", "piv"])))]
pub struct GenerateArgs {
    /// Generate on a PKCS#11 token (needs --label).
    #[arg(long, requires = "label")]
    pub pkcs11: bool,
    /// Generate the signature key of an OpenPGP card (admin PIN from the card's
    /// admin_pin_file, else pinentry).
    #[arg(long)]
    pub openpgp_card: bool,
    /// Generate in a YubiKey PIV slot, with a self-signed certificate (management key from the
    /// card's management_key_file, else the factory key; the PIN certifies the key).
    #[arg(long)]
    pub piv: bool,
    /// The YubiKey's serial (default: the only YubiKey).
    #[arg(long)]
    pub serial: Option<u32>,
    /// PIV slot.
    #[arg(long, default_value = "9c")]
    pub slot: String,
    /// PIV PIN policy.
    #[arg(long, value_parser = ["never", "once", "always"])]
    pub pin_policy: Option<String>,
    /// PIV touch policy.
    #[arg(long, value_parser = ["never", "always", "cached"])]
    pub touch_policy: Option<String>,
    /// The PKCS#11 token's label (default: the agent's only PKCS#11 token).
    #[arg(long)]
    pub token: Option<String>,
    /// The OpenPGP card's ident (default: the only card).
    #[arg(long)]
    pub ident: Option<String>,
    /// The new key's label (PKCS#11).
    #[arg(long)]
    pub label: Option<String>,
    /// Algorithm.
    #[arg(long, value_parser = ["p256", "p384", "ed25519", "rsa2048", "rsa3072", "rsa4096"])]
    pub alg: String,
}

/// Signature formats of `hwsign sign`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SignFormat {
    /// OpenSSH SSHSIG, verifiable with `ssh-keygen -Y verify` (FILE.sig).
    Sshsig,
    /// Base64 signature (FILE.rawsig): ECDSA DER / RSA over SHA-256, Ed25519 over the file.
    Raw,
    /// OpenPGP detached signature, armored (FILE.asc), verifiable by gpg and sqv.
    Openpgp,
    /// OpenPGP cleartext-signed copy (FILE.asc), as Debian's InRelease (gpg --clearsign).
    OpenpgpClearsign,
    /// OpenPGP detached signature, binary (FILE.sig), as rpm's (gpg -b without armor).
    OpenpgpBinary,
    /// minisign (FILE.minisig), Ed25519 keys: prehashed (BLAKE2b-512) with a trusted comment.
    Minisign,
    /// minisign's legacy signature over the file itself (small files only).
    MinisignLegacy,
}

/// Which files `sign` and `attest` take besides those named: lists and directories; and
/// whether hwsign's own outputs among them are taken too.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Read more files from this list, one per line (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// The --files-from list is NUL-separated (find -print0, git ls-files -z).
    #[arg(short = '0', long = "null", requires = "files_from")]
    pub null: bool,
    /// Also take every regular file under DIR (repeatable), in a deterministic order;
    /// symbolic links are skipped unless --follow-symlinks.
    #[arg(short = 'r', long = "recursive", value_name = "DIR")]
    pub recursive: Vec<PathBuf>,
    /// With -r: follow symbolic links.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Also take inputs that are hwsign's own outputs (signatures, envelopes, bundles,
    /// verifier material), which are skipped by default.
    #[arg(long)]
    pub include_signatures: bool,
}

impl InputArgs {
    /// `named` and the files these options add, without hwsign's own outputs unless asked
    /// for; and what was skipped.
    pub fn signable(
        &self,
        named: &[PathBuf],
    ) -> crate::error::Result<(Vec<PathBuf>, super::inputs::Skipped)> {
        super::inputs::signable(
            named,
            self.files_from.as_deref(),
            self.null,
            &self.recursive,
            self.follow_symlinks,
            self.include_signatures,
        )
    }
}

/// How much `sign` and `attest` print.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print a line per file written (default: one summary line).
    #[arg(short, long, conflicts_with_all = ["quiet", "json"])]
    pub verbose: bool,
    /// Print nothing but errors.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// Print one JSON document with the outputs, the key and the skipped files on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `hwsign sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The key (default: the config's default_key or the agent's only key).
    #[arg(long)]
    pub key: Option<String>,
    /// Signature format.
    #[arg(long, value_enum)]
    pub format: SignFormat,
    /// SSHSIG namespace.
    #[arg(long, default_value = "file")]
    pub namespace: String,
    /// RSA keys: sign raw signatures with PSS instead of PKCS#1 v1.5.
    #[arg(long)]
    pub rsa_pss: bool,
    /// Also write the verifier material (public key, allowed_signers line, trust-policy entry)
    /// next to the signatures.
    #[arg(long)]
    pub emit_verifier_material: bool,
    /// OpenPGP: sign as this existing certificate (its primary key or signing subkey must be a
    /// key of the agent); default: the certificate `keys export --format openpgp` makes.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Replace existing signature files.
    #[arg(long)]
    pub force: bool,
    /// How much it prints.
    #[command(flatten)]
    pub report: ReportArgs,
    /// The files besides those named.
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Write the signatures into this directory (DIR/NAME.sig) instead of beside each file.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Files to sign.
    #[arg(required_unless_present_any = ["files_from", "recursive"])]
    pub files: Vec<PathBuf>,
}

/// `hwsign attest`.
#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The key (default: the config's default_key or the agent's only key).
    #[arg(long)]
    pub key: Option<String>,
    /// The envelope to write (default release.intoto.json; with --append: ENVELOPE itself).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Co-sign: add a signature by --key to this existing envelope.
    #[arg(long, value_name = "ENVELOPE", conflicts_with_all = ["purl", "predicate_type", "predicate", "files", "files_from", "recursive", "follow_symlinks", "include_signatures", "base", "sums", "output_dir", "json", "bundle"])]
    pub append: Option<PathBuf>,
    /// Also write a Sigstore bundle v0.3 (public-key form) beside the envelope
    /// (release.intoto.json → release.intoto.sigstore.json).
    #[arg(long)]
    pub bundle: bool,
    /// Also write the verifier material (public key, allowed_signers line, trust-policy entry)
    /// next to the envelope.
    #[arg(long)]
    pub emit_verifier_material: bool,
    /// Package URL with version for the in-toto Release predicate (pkg:pypi/name@1.2.3).
    #[arg(long, conflicts_with_all = ["predicate_type", "predicate"])]
    pub purl: Option<String>,
    /// Predicate type URI of a custom predicate.
    #[arg(long, requires = "predicate")]
    pub predicate_type: Option<String>,
    /// JSON file with the custom predicate.
    #[arg(long, requires = "predicate_type")]
    pub predicate: Option<PathBuf>,
    /// RSA keys: sign with PSS instead of PKCS#1 v1.5.
    #[arg(long)]
    pub rsa_pss: bool,
    /// Replace an existing envelope.
    #[arg(long)]
    pub force: bool,
    /// How much it prints.
    #[command(flatten)]
    pub report: ReportArgs,
    /// The files besides those named.
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Subject names are paths relative to DIR (with `/`), so dist/linux/tool and
    /// dist/mac/tool can be in one release (default: base names; with only -r DIR: relative
    /// to DIR).
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// Also write a coreutils checksum file (SHA-256, names as given or relative to --base)
    /// from the same hashing pass.
    #[arg(long, value_name = "FILE")]
    pub sums: Option<PathBuf>,
    /// Write the envelope (default name release.intoto.json) into this directory.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub output_dir: Option<PathBuf>,
    /// The release's files (one subject each).
    #[arg(required_unless_present_any = ["append", "files_from", "recursive"])]
    pub files: Vec<PathBuf>,
}

/// `hwsign touch`.
#[derive(Debug, Args)]
pub struct TouchArgs {
    /// Wait this long for a signature to need a touch (e.g. 30s).
    #[arg(long, value_parser = parse_duration, default_value = "0")]
    pub wait: std::time::Duration,
}

/// `hwsign status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// hwsign-agent: serve keys on hardware tokens (YubiKey PIV, OpenPGP cards, PKCS#11) over the
/// SSH agent protocol, for ssh, git, ssh-keygen and hwsign (DSSE, SSHSIG, OpenPGP, raw).
#[derive(Debug, Parser)]
#[command(name = "hwsign-agent", version, after_help = AGENT_AFTER_HELP)]
pub struct AgentCli {
    /// Test mode: provision (once) and use a SoftHSM2 token under $XDG_STATE_HOME/hwsign/softhsm.
    #[arg(long)]
    pub softhsm: bool,
    /// Config file (default: $XDG_CONFIG_HOME/hwsign/config.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for the sockets (default: $XDG_RUNTIME_DIR/hwsign).
    #[arg(long)]
    pub socket_dir: Option<PathBuf>,
    /// Stay in the foreground (the default: hwsign-agent never forks; use the systemd units).
    #[arg(long)]
    pub foreground: bool,
}

/// A duration like `90d`, `12h`, `2y`, `30m`, `45s` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d").unwrap().as_secs(), 90 * 86_400);
        assert_eq!(parse_duration("5").unwrap().as_secs(), 5);
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("d").is_err());
    }
}
