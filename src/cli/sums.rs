//! `hwsign sums`: a checksum file in coreutils format (`sha256sum -c` / `sha512sum -c` pass) or
//! BSD tag format, from one parallel hashing pass; `hwsign attest --sums` writes one from the
//! same pass as the attestation. Needs no agent.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::inputs;
use crate::client::output;
use crate::crypto::file_hash;
use crate::crypto::pubkey::hex;
use crate::crypto::scheme::HashAlg;
use crate::error::{Error, Result};

/// Checksum algorithms.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Algo {
    /// SHA-256 (`sha256sum -c`).
    Sha256,
    /// SHA-512 (`sha512sum -c`).
    Sha512,
}

/// `hwsign sums`.
#[derive(Debug, Args)]
pub struct SumsArgs {
    /// The checksum file to write (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The algorithm.
    #[arg(long, value_enum, default_value = "sha256")]
    pub algo: Algo,
    /// BSD tag format (`SHA256 (name) = …`, what `sha256sum --tag` writes).
    #[arg(long)]
    pub tag: bool,
    /// Names relative to DIR (run `sha256sum -c` there).
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// Replace an existing output file (and its signatures).
    #[arg(long)]
    pub force: bool,
    /// Then sign the checksum file through the agent in these formats (comma-separated:
    /// sshsig, openpgp, raw, minisign, …), as `hwsign sign --format F` would; needs -o.
    #[arg(
        long,
        value_name = "FORMAT[,…]",
        value_delimiter = ',',
        requires = "output"
    )]
    pub sign: Vec<String>,
    /// The key to sign with (with --sign).
    #[arg(long, requires = "sign")]
    pub key: Option<String>,
    /// Also take every regular file under DIR (repeatable; symbolic links skipped).
    #[arg(short = 'r', long = "recursive", value_name = "DIR")]
    pub recursive: Vec<PathBuf>,
    /// Read more files from this list, one per line (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// The --files-from list is NUL-separated.
    #[arg(short = '0', long = "null", requires = "files_from")]
    pub null: bool,
    /// Files to list (with --files-from and -r: also those).
    #[arg(required_unless_present_any = ["files_from", "recursive"])]
    pub files: Vec<PathBuf>,
}

/// One line of a checksum file, as coreutils writes it: a name with a backslash or a newline
/// is escaped and the line starts with `\`.
pub fn line(alg: HashAlg, digest: &[u8], name: &str, tag: bool) -> String {
    let escaped = name.contains(['\\', '\n', '\r']);
    let shown = if escaped {
        name.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
    } else {
        name.to_string()
    };
    let prefix = if escaped { "\\" } else { "" };
    if tag {
        let label = match alg {
            HashAlg::Sha256 => "SHA256",
            HashAlg::Sha384 => "SHA384",
            HashAlg::Sha512 => "SHA512",
        };
        format!("{prefix}{label} ({shown}) = {}\n", hex(digest))
    } else {
        format!("{prefix}{}  {shown}\n", hex(digest))
    }
}

/// The name a file has in a checksum file: relative to `base`, or as given.
pub fn name_of(path: &Path, base: Option<&Path>) -> Result<String> {
    match base {
        Some(b) => inputs::relative_name(path, b),
        None => path
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Usage(format!("{}: the name is not UTF-8", path.display()))),
    }
}

/// The names `files` have in a checksum file ([`name_of`]), all checked before anything is
/// hashed.
pub fn names_of(files: &[PathBuf], base: Option<&Path>) -> Result<Vec<String>> {
    files.iter().map(|f| name_of(f, base)).collect()
}

/// Write the checksum file `out` (or stdout): one line per name and its digest.
pub fn write(
    out: Option<&Path>,
    force: bool,
    alg: HashAlg,
    tag: bool,
    names: &[String],
    digests: &[impl AsRef<[u8]>],
) -> Result<()> {
    let mut text = String::new();
    for (name, d) in names.iter().zip(digests) {
        text.push_str(&line(alg, d.as_ref(), name, tag));
    }
    match out {
        Some(p) => output::write_new(p, text.as_bytes(), force),
        None => output::print(&text),
    }
}

/// Run it (`config`: the global --config, for --sign).
pub fn run(config: Option<&Path>, args: SumsArgs) -> Result<()> {
    // A format --sign cannot use is a command-line error before anything is hashed.
    let sign_args: Vec<super::args::SignArgs> = args
        .sign
        .iter()
        .map(|format| {
            let out = args.output.as_deref().unwrap_or(Path::new("-"));
            let mut argv: Vec<std::ffi::OsString> = vec![
                "hwsign".into(),
                "sign".into(),
                "--quiet".into(),
                "--format".into(),
            ];
            argv.push(format.into());
            if let Some(k) = &args.key {
                argv.push("--key".into());
                argv.push(k.into());
            }
            if args.force {
                argv.push("--force".into());
            }
            argv.push(out.as_os_str().to_owned());
            match <super::args::Cli as clap::Parser>::try_parse_from(argv) {
                Ok(super::args::Cli {
                    command: super::args::Command::Sign(a),
                    ..
                }) => Ok(a),
                _ => Err(Error::Usage(format!(
                    "--sign {format}: not a signature format of hwsign sign"
                ))),
            }
        })
        .collect::<Result<_>>()?;
    sums(&args)?;
    if sign_args.is_empty() {
        return Ok(());
    }
    let config = crate::config::Config::load(config).map_err(|e| Error::Usage(e.to_string()))?;
    let mut client = crate::client::AgentClient::connect_default()?;
    for a in sign_args {
        super::sign::run(&mut client, &config, a)?;
    }
    Ok(())
}

fn sums(args: &SumsArgs) -> Result<()> {
    let (mut files, skipped) = inputs::signable(
        &args.files,
        args.files_from.as_deref(),
        args.null,
        &args.recursive,
        false,
        false,
    )?;
    inputs::note_skipped(&skipped);
    // Never the checksum file itself (a second run over dist/*).
    if let Some(out) = &args.output {
        files = inputs::without(files, out);
        output::check_writable(std::slice::from_ref(out), args.force)?;
    }
    let names = names_of(&files, args.base.as_deref())?;
    let alg = match args.algo {
        Algo::Sha256 => HashAlg::Sha256,
        Algo::Sha512 => HashAlg::Sha512,
    };
    let digests: Vec<Vec<u8>> = file_hash::hash_files(&files, &[alg])?
        .into_iter()
        .map(|mut d| d.digests.remove(0))
        .collect();
    write(
        args.output.as_deref(),
        args.force,
        alg,
        args.tag,
        &names,
        &digests,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_coreutils_writes_them() {
        let d = [0xabu8; 32];
        let h = "ab".repeat(32);
        assert_eq!(
            line(HashAlg::Sha256, &d, "a b.tar", false),
            format!("{h}  a b.tar\n")
        );
        assert_eq!(
            line(HashAlg::Sha256, &d, "x\ny\\z", false),
            format!("\\{h}  x\\ny\\\\z\n")
        );
        assert_eq!(
            line(HashAlg::Sha256, &d, "a", true),
            format!("SHA256 (a) = {h}\n")
        );
    }
}
