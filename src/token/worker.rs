//! One worker thread per token: it owns the backend (PKCS#11 and PC/SC calls block, and many
//! tokens are single-threaded); async callers send jobs over a channel and await a oneshot
//! reply, so a slow token never blocks the listener or another token.

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::TokenError;
use super::backend::{Backend, KeyInfo, TokenInfo};
use crate::proto::scheme::Scheme;

enum Job {
    Info(oneshot::Sender<TokenInfo>),
    Keys(oneshot::Sender<Result<Vec<KeyInfo>, TokenError>>),
    Sign {
        key_id: String,
        scheme: Scheme,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, TokenError>>,
    },
    Generate {
        label: String,
        algorithm: String,
        reply: oneshot::Sender<Result<KeyInfo, TokenError>>,
    },
}

/// A cheap, clonable handle to a token's worker thread.
#[derive(Clone, Debug)]
pub struct TokenHandle {
    name: String,
    jobs: mpsc::Sender<Job>,
}

impl TokenHandle {
    /// Start a worker thread that builds its backend with `open` (backends need not be `Send`:
    /// cryptoki sessions are not) and serves jobs until every handle is dropped.
    pub fn spawn<F, B>(name: String, open: F) -> std::io::Result<TokenHandle>
    where
        F: FnOnce() -> B + Send + 'static,
        B: Backend,
    {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("token {name}"))
            .spawn(move || {
                let mut backend = open();
                for job in rx {
                    // A caller that went away drops its receiver; ignoring the send error is right.
                    match job {
                        Job::Info(reply) => {
                            let _ = reply.send(backend.info());
                        }
                        Job::Keys(reply) => {
                            let _ = reply.send(backend.keys());
                        }
                        Job::Sign {
                            key_id,
                            scheme,
                            data,
                            reply,
                        } => {
                            if reply.is_closed() {
                                continue;
                            }
                            let _ = reply.send(backend.sign(&key_id, scheme, &data));
                        }
                        Job::Generate {
                            label,
                            algorithm,
                            reply,
                        } => {
                            let _ = reply.send(backend.generate(&label, &algorithm));
                        }
                    }
                }
            })?;
        Ok(TokenHandle { name, jobs })
    }

    /// The token's name (its label).
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Job) -> Result<T, TokenError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(make(tx))
            .map_err(|_| TokenError::WorkerGone(self.name.clone()))?;
        rx.await
            .map_err(|_| TokenError::WorkerGone(self.name.clone()))
    }

    /// What the token says about itself.
    pub async fn info(&self) -> Result<TokenInfo, TokenError> {
        self.call(Job::Info).await
    }

    /// The token's keys.
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, TokenError> {
        self.call(Job::Keys).await?
    }

    /// Sign (see [`Backend::sign`] for what `data` is).
    pub async fn sign(
        &self,
        key_id: &str,
        scheme: Scheme,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, TokenError> {
        let key_id = key_id.to_string();
        self.call(|reply| Job::Sign {
            key_id,
            scheme,
            data,
            reply,
        })
        .await?
    }

    /// Make a key pair.
    pub async fn generate(&self, label: &str, algorithm: &str) -> Result<KeyInfo, TokenError> {
        let (label, algorithm) = (label.to_string(), algorithm.to_string());
        self.call(|reply| Job::Generate {
            label,
            algorithm,
            reply,
        })
        .await?
    }
}
