//! `hwsign verify`: check a release against a trust policy, with an envelope (DSSE or Sigstore
//! bundle) or signature files (SSHSIG, raw). Needs no agent and no token. Prints one verdict
//! per artifact (or JSON); the caller exits 0 only when every artifact is verified.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::verify::engine::{self, VerifyInput};
use crate::verify::{Policy, report};

/// `hwsign verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The trust policy (TOML): signers, their keys, and rules per artifact name.
    #[arg(long)]
    pub policy: PathBuf,
    /// A DSSE envelope or Sigstore bundle with a subject for each file.
    /// Without --envelope and --signature, the signature files among the files (recognised by
    /// content) are the signatures to check.
    #[arg(long, conflicts_with = "signature")]
    pub envelope: Option<PathBuf>,
    /// A signature file, SSHSIG (FILE.sig), OpenPGP (FILE.asc, or a binary .sig) or raw
    /// (FILE.rawsig); repeat for several files or signers.
    #[arg(long)]
    pub signature: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Match files to an envelope's subjects by their paths relative to DIR (as `hwsign attest
    /// --base DIR` names them) instead of their file names.
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// Read more files to verify from this list, one per line (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// The --files-from list is NUL-separated.
    #[arg(short = '0', long = "null", requires = "files_from")]
    pub null: bool,
    /// Also verify every regular file under DIR (repeatable; signature files among them are
    /// the signatures). With one DIR and an envelope, subjects are matched by their paths
    /// relative to DIR unless --base says otherwise, as `hwsign attest -r DIR` names them.
    #[arg(short = 'r', long = "recursive", value_name = "DIR")]
    pub recursive: Vec<PathBuf>,
    /// The files to verify.
    #[arg(required_unless_present_any = ["files_from", "recursive"])]
    pub files: Vec<PathBuf>,
}

/// Run it: true when every file is verified.
pub fn run(args: VerifyArgs) -> Result<bool> {
    let policy = Policy::load(&args.policy).map_err(|e| Error::Usage(e.to_string()))?;
    let given = super::inputs::gather_all(
        &args.files,
        args.files_from.as_deref(),
        args.null,
        &args.recursive,
        false,
    )?;
    // `hwsign verify dist/*`: hwsign's outputs among the files are not artifacts; signatures
    // are checked as signatures (unless some were named with --signature or --envelope).
    let (files, own) = crate::client::own::split(given);
    let mut signatures = args.signature;
    let take_signatures = args.envelope.is_none() && signatures.is_empty();
    let mut taken = 0;
    for (path, kind) in &own {
        if take_signatures && kind.is_signature() {
            signatures.push(path.clone());
            taken += 1;
        }
    }
    if !own.is_empty() {
        eprintln!(
            "note: {} of the files are hwsign outputs, not artifacts{}",
            own.len(),
            if taken > 0 {
                format!("; {taken} signature file(s) among them are checked as signatures")
            } else {
                String::new()
            }
        );
    }
    if files.is_empty() {
        return Err(Error::Usage(
            "no artifacts to verify: every file given is a signature, envelope or key".into(),
        ));
    }
    let input = match args.envelope {
        Some(e) => VerifyInput::Envelope(e),
        None if signatures.is_empty() => {
            return Err(Error::Usage(
                "nothing to verify with\n  hint: give --envelope E, --signature FILE.sig, or the signature files among the files".into(),
            ));
        }
        None => {
            // Pairing mistakes are the command line's: say so before reading anything.
            engine::pair_signatures(&signatures, &files)
                .map_err(|e| Error::Usage(format!("{e}\n  hint: pass the signature of each file as --signature FILE.sig (or FILE.rawsig)")))?;
            VerifyInput::Signatures(signatures)
        }
    };
    // `attest -r DIR` alone names subjects relative to DIR: so does `verify -r DIR` alone.
    let base = args.base.clone().or_else(|| {
        (args.files.is_empty() && args.files_from.is_none() && args.recursive.len() == 1)
            .then(|| args.recursive[0].clone())
    });
    let verdicts = engine::verify_in(
        &policy,
        input,
        &files,
        base.as_deref(),
        crate::time::now_secs(),
    );
    if args.json {
        let mut json = report::to_json(&verdicts);
        let attested = report::attestations_json(&policy.signers);
        if attested.as_array().is_some_and(|a| !a.is_empty()) {
            json["attestations"] = attested;
        }
        let json = serde_json::to_string_pretty(&json).map_err(crate::format::FormatError::from)?;
        outln!("{json}");
    } else {
        print!(
            "{}{}",
            report::render_attestations(&policy.signers),
            report::render_human(&verdicts)
        );
    }
    Ok(report::all_verified(&verdicts))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::verify::testutil::{TestKey, files};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: VerifyArgs,
    }

    #[test]
    fn envelope_or_signatures() {
        let parse =
            |a: &[&str]| Cli::try_parse_from([&["t", "--policy", "p.toml"][..], a].concat());
        let ok = parse(&["--envelope", "e.json", "a", "b"]).unwrap().args;
        assert_eq!(ok.envelope, Some(PathBuf::from("e.json")));
        assert_eq!(ok.files.len(), 2);
        let ok = parse(&["--signature", "a.sig", "--signature", "b.sig", "a", "b"]).unwrap();
        assert_eq!(ok.args.signature.len(), 2);
        // Neither: the signatures among the files are used (checked when run).
        assert!(parse(&["a"]).is_ok());
        assert!(parse(&["--envelope", "e", "--signature", "s", "a"]).is_err());
        assert!(parse(&["--envelope", "e"]).is_err());
    }

    #[test]
    fn verifies_without_an_agent() {
        let key = TestKey::ed25519("alice", 1);
        let (dir, paths) = files(&[("a.txt", b"hello")]);
        let policy = dir.path().join("policy.toml");
        let text = format!(
            "{}[[rule]]\nartifacts = [\"*.txt\"]\nsigners = [\"alice\"]\n",
            key.signer_toml()
        );
        std::fs::write(&policy, text).unwrap();
        let sig = dir.path().join("a.txt.sig");
        std::fs::write(&sig, key.sshsig("file", b"hello")).unwrap();
        let args = |signature: Vec<PathBuf>| VerifyArgs {
            policy: policy.clone(),
            envelope: None,
            signature,
            json: true,
            files_from: None,
            null: false,
            base: None,
            recursive: Vec::new(),
            files: paths.clone(),
        };
        assert!(run(args(vec![sig.clone()])).unwrap());
        std::fs::write(&paths[0], b"changed").unwrap();
        assert!(!run(args(vec![sig.clone()])).unwrap());
        let e = run(args(vec![dir.path().join("b.txt.sig"), sig])).unwrap_err();
        assert!(e.to_string().contains("b.txt, which is not among"), "{e}");
    }
}
