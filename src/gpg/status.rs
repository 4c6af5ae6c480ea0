//! `--status-fd N`: gpg's machine-readable `[GNUPG:] KEYWORD args` lines, written to file
//! descriptor N (1 and 2 are standard output and error; another descriptor the caller left
//! open is reached through `/proc/self/fd/N`).

use std::fs::File;
use std::io::Write;

use crate::error::{Error, Result};

/// Where status lines go (nowhere without `--status-fd`).
pub struct Status {
    out: Option<Box<dyn Write>>,
    /// Every line written, for tests.
    pub lines: Vec<String>,
}

impl Status {
    /// Status lines to `fd`, or nowhere.
    pub fn open(fd: Option<i32>) -> Result<Status> {
        let out: Option<Box<dyn Write>> = match fd {
            None => None,
            Some(1) => Some(Box::new(std::io::stdout())),
            Some(2) => Some(Box::new(std::io::stderr())),
            Some(n) => {
                let path = format!("/proc/self/fd/{n}");
                let f = File::options()
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::Usage(format!("--status-fd {n}: {e}")))?;
                Some(Box::new(f))
            }
        };
        Ok(Status {
            out,
            lines: Vec::new(),
        })
    }

    /// Write `[GNUPG:] line`.
    pub fn line(&mut self, line: impl Into<String>) -> Result<()> {
        let line = line.into();
        if let Some(out) = self.out.as_mut() {
            out.write_all(format!("[GNUPG:] {line}\n").as_bytes())
                .and_then(|()| out.flush())
                .map_err(Error::Stdout)?;
        }
        self.lines.push(line);
        Ok(())
    }
}
