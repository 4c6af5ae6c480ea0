//! One worker thread per token: it owns the backend (PKCS#11 and PC/SC calls block, and many
//! tokens are single-threaded); async callers send jobs over a channel and await a oneshot
//! reply, so a slow token never blocks the listener or another token. Between jobs the worker
//! ticks the backend so a cached PIN expires on time. While it signs (a card may wait seconds
//! for its touch) what the token said about itself last answers `info`, so that `hwsign
//! status` shows the pending touch instead of waiting for the card.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tokio::sync::oneshot;

use super::TokenError;
use super::backend::{Backend, GenerateSpec, KeyAttestation, KeyInfo, TokenInfo};
use crate::crypto::TokenSignature;
use crate::crypto::scheme::Scheme;
use crate::key::{BackendKind, KeyId};

/// How often an idle worker ticks its backend.
const TICK: Duration = Duration::from_millis(500);

enum Job {
    Info(oneshot::Sender<TokenInfo>),
    Keys(oneshot::Sender<Result<Vec<KeyInfo>, TokenError>>),
    Lock(oneshot::Sender<()>),
    Sign {
        key_id: KeyId,
        scheme: Scheme,
        data: Vec<u8>,
        prompt: String,
        reply: oneshot::Sender<Result<TokenSignature, TokenError>>,
    },
    Generate {
        spec: GenerateSpec,
        reply: oneshot::Sender<Result<KeyInfo, TokenError>>,
    },
    Attest {
        key_id: KeyId,
        reply: oneshot::Sender<Result<KeyAttestation, TokenError>>,
    },
}

/// A cheap, clonable handle to a token's worker thread.
#[derive(Clone, Debug)]
pub struct TokenHandle {
    name: String,
    kind: BackendKind,
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    lanes: Option<LaneRoute>,
}

/// Signing beside the worker, for tokens that take several sessions at once (SoftHSM, network
/// HSMs; never cards): lane threads sign with the keys the worker said are ready, each in a
/// session of its own, and hand back to the worker whatever they cannot do (no key handle, no
/// session, any failure), so the worker's recovery, PIN handling and errors stay the only ones.
pub struct LaneSpec {
    /// How many lane threads.
    pub count: usize,
    /// Whether a key can be signed in a lane now (the worker published its handle).
    pub ready: Arc<dyn Fn(&KeyId) -> bool + Send + Sync>,
    /// Makes one lane's signer, in its thread (sessions are not shared between threads): it
    /// signs, or says `None` and the worker is asked.
    pub signer: Arc<dyn Fn() -> LaneSigner + Send + Sync>,
}

/// One lane's signer (see [`LaneSpec`]).
pub type LaneSigner = Box<dyn FnMut(&KeyId, Scheme, &[u8]) -> Option<TokenSignature>>;

#[derive(Clone)]
struct LaneRoute {
    jobs: mpsc::Sender<Job>,
    ready: Arc<dyn Fn(&KeyId) -> bool + Send + Sync>,
}

impl std::fmt::Debug for LaneRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LaneRoute")
    }
}

/// Start `spec.count` lane threads taking sign jobs from one queue; what a lane cannot sign
/// goes to `worker`.
fn start_lanes(
    name: &str,
    spec: &LaneSpec,
    worker: &mpsc::Sender<Job>,
) -> std::io::Result<LaneRoute> {
    let (jobs, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..spec.count {
        let (rx, worker, make) = (Arc::clone(&rx), worker.clone(), Arc::clone(&spec.signer));
        std::thread::Builder::new()
            .name(format!("lane {i} {name}"))
            .spawn(move || {
                let mut sign = make();
                loop {
                    // The lock is held only while waiting for a job, never while signing.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(Job::Sign {
                            key_id,
                            scheme,
                            data,
                            prompt,
                            reply,
                        }) => {
                            if reply.is_closed() {
                                continue;
                            }
                            match sign(&key_id, scheme, &data) {
                                Some(sig) => {
                                    let _ = reply.send(Ok(sig));
                                }
                                None => {
                                    let _ = worker.send(Job::Sign {
                                        key_id,
                                        scheme,
                                        data,
                                        prompt,
                                        reply,
                                    });
                                }
                            }
                        }
                        Ok(other) => {
                            let _ = worker.send(other);
                        }
                        Err(_) => return,
                    }
                }
            })?;
    }
    Ok(LaneRoute {
        jobs,
        ready: Arc::clone(&spec.ready),
    })
}

/// What the async side may read while the worker is busy.
#[derive(Debug, Default)]
struct Shared {
    /// A signature or key generation is running (it may wait for a person).
    busy: AtomicBool,
    /// The last answer to `info`.
    last_info: Mutex<Option<TokenInfo>>,
}

fn serve<B: Backend>(backend: &mut B, job: Job, shared: &Shared) {
    let slow = matches!(job, Job::Sign { .. } | Job::Generate { .. });
    if slow {
        shared.busy.store(true, Ordering::SeqCst);
    }
    serve_job(backend, job, shared);
    if slow {
        shared.busy.store(false, Ordering::SeqCst);
    }
}

fn serve_job<B: Backend>(backend: &mut B, job: Job, shared: &Shared) {
    // A caller that went away drops its receiver; ignoring the send error is right.
    match job {
        Job::Info(reply) => {
            let info = backend.info();
            if let Ok(mut last) = shared.last_info.lock() {
                *last = Some(info.clone());
            }
            let _ = reply.send(info);
        }
        Job::Keys(reply) => {
            let _ = reply.send(backend.keys());
        }
        Job::Lock(reply) => {
            backend.lock(super::backend::LOCK_BY_USER);
            let _ = reply.send(());
        }
        Job::Sign {
            key_id,
            scheme,
            data,
            prompt,
            reply,
        } => {
            if reply.is_closed() {
                return;
            }
            let _ = reply.send(backend.sign(&key_id, scheme, &data, &prompt));
        }
        Job::Generate { spec, reply } => {
            let _ = reply.send(backend.generate(&spec));
        }
        Job::Attest { key_id, reply } => {
            let _ = reply.send(backend.attest(&key_id));
        }
    }
}

impl TokenHandle {
    /// Start a worker thread that builds its backend with `open` (backends need not be `Send`:
    /// cryptoki sessions are not) and serves jobs until every handle is dropped.
    pub fn spawn<F, B>(name: String, kind: BackendKind, open: F) -> std::io::Result<TokenHandle>
    where
        F: FnOnce() -> B + Send + 'static,
        B: Backend,
    {
        Self::spawn_with_lanes(name, kind, open, None)
    }

    /// [`TokenHandle::spawn`], with lanes that sign beside the worker (see [`LaneSpec`]).
    pub fn spawn_with_lanes<F, B>(
        name: String,
        kind: BackendKind,
        open: F,
        lanes: Option<LaneSpec>,
    ) -> std::io::Result<TokenHandle>
    where
        F: FnOnce() -> B + Send + 'static,
        B: Backend,
    {
        let (jobs, rx) = mpsc::channel::<Job>();
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name(format!("token {name}"))
            .spawn(move || {
                let mut backend = open();
                loop {
                    match rx.recv_timeout(TICK) {
                        Ok(job) => {
                            backend.tick();
                            serve(&mut backend, job, &theirs);
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => backend.tick(),
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        let lanes = match lanes.filter(|l| l.count > 0) {
            Some(spec) => Some(start_lanes(&name, &spec, &jobs)?),
            None => None,
        };
        Ok(TokenHandle {
            name,
            kind,
            jobs,
            shared,
            lanes,
        })
    }

    /// The token's name (its label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its backend.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Job) -> Result<T, TokenError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(make(tx))
            .map_err(|_| TokenError::WorkerGone(self.name.clone()))?;
        rx.await
            .map_err(|_| TokenError::WorkerGone(self.name.clone()))
    }

    /// What the token says about itself; while it signs, what it said last (or that it is
    /// busy).
    pub async fn info(&self) -> Result<TokenInfo, TokenError> {
        if self.shared.busy.load(Ordering::SeqCst) {
            let last = self.shared.last_info.lock().ok().and_then(|l| l.clone());
            return Ok(last.unwrap_or_else(|| TokenInfo {
                label: self.name.clone(),
                present: true,
                problem: Some("busy: a signature is in progress".into()),
                ..TokenInfo::new(self.kind)
            }));
        }
        self.call(Job::Info).await
    }

    /// The token's keys.
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, TokenError> {
        self.call(Job::Keys).await?
    }

    /// Forget the PIN (log out).
    pub async fn lock(&self) -> Result<(), TokenError> {
        self.call(Job::Lock).await
    }

    /// Sign (see [`Backend::sign`] for what `data` is); `prompt` describes the request for a
    /// PIN dialog.
    pub async fn sign(
        &self,
        key_id: &KeyId,
        scheme: Scheme,
        data: Vec<u8>,
        prompt: &str,
    ) -> Result<TokenSignature, TokenError> {
        let lane = self.lanes.as_ref().filter(|l| (l.ready)(key_id));
        let (key_id, prompt) = (key_id.clone(), prompt.to_string());
        let job = |reply| Job::Sign {
            key_id,
            scheme,
            data,
            prompt,
            reply,
        };
        match lane {
            Some(lane) => {
                let (tx, rx) = oneshot::channel();
                lane.jobs
                    .send(job(tx))
                    .map_err(|_| TokenError::WorkerGone(self.name.clone()))?;
                rx.await
                    .map_err(|_| TokenError::WorkerGone(self.name.clone()))?
            }
            None => self.call(job).await?,
        }
    }

    /// Make a key pair.
    pub async fn generate(&self, spec: GenerateSpec) -> Result<KeyInfo, TokenError> {
        self.call(|reply| Job::Generate { spec, reply }).await?
    }

    /// The token's attestation of a key.
    pub async fn attest(&self, key_id: KeyId) -> Result<KeyAttestation, TokenError> {
        self.call(|reply| Job::Attest { key_id, reply }).await?
    }
}
