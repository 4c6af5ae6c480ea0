//! Simulated touch. A touch-gated command holds its response until the file `DIR/touch` exists
//! (checked every 50 ms; removed when consumed) or the timeout passes. While it waits, the file
//! `DIR/waiting` exists and names the command, so a test can wait for the request before it
//! touches. A `touch` file that already exists when the wait starts counts (one touch, one
//! command).

use std::fs;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);

pub struct Touch {
    dir: Option<PathBuf>,
    timeout: Duration,
    /// When the last touch was given (for the PIV "cached" policy: 15 s).
    last: Option<Instant>,
}

impl Touch {
    pub fn new(dir: Option<PathBuf>, timeout: Duration) -> Touch {
        if let Some(d) = &dir {
            if let Err(e) = fs::create_dir_all(d) {
                log::warn!("cannot create touch directory {}: {e}", d.display());
            }
            // A leftover from an earlier run must not approve this run's first request.
            let _ = fs::remove_file(d.join("waiting"));
        }
        Touch {
            dir,
            timeout,
            last: None,
        }
    }

    /// Whether a touch was given within `window` (the cached policy).
    pub fn recent(&self, window: Duration) -> bool {
        self.last.is_some_and(|t| t.elapsed() < window)
    }

    /// Waits for a touch; true when given, false after the timeout. Without a touch directory
    /// every touch-gated command is approved at once (logged).
    pub fn wait(&mut self, what: &str) -> bool {
        let Some(dir) = self.dir.clone() else {
            log::warn!("{what}: touch required, no --touch-dir: approved");
            self.last = Some(Instant::now());
            return true;
        };
        let touch = dir.join("touch");
        let waiting = dir.join("waiting");
        if let Err(e) = fs::write(&waiting, format!("{what}\n")) {
            log::warn!("cannot write {}: {e}", waiting.display());
        }
        log::info!(
            "{what}: waiting up to {:?} for touch (create {})",
            self.timeout,
            touch.display()
        );
        let start = Instant::now();
        let given = loop {
            if touch.exists() {
                let _ = fs::remove_file(&touch);
                break true;
            }
            if start.elapsed() >= self.timeout {
                break false;
            }
            thread::sleep(POLL);
        };
        let _ = fs::remove_file(&waiting);
        if given {
            log::info!("{what}: touched after {:?}", start.elapsed());
            self.last = Some(Instant::now());
        } else {
            log::info!("{what}: no touch within {:?}: 6982", self.timeout);
        }
        given
    }
}
