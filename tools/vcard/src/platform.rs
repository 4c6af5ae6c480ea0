//! The trussed side: a virtual platform (random seed, RAM or file-backed store) and a dispatch
//! with the backends and extensions opcard and piv-authenticator need.
//!
//! * backends, tried in this order for every request: trussed-staging (chunked files, wrap key
//!   to file, HPKE), trussed-auth-backend (PINs), trussed-rsa-alloc (software RSA), core;
//! * the platform is ours rather than `trussed::virt::with_platform`'s because that one seeds its
//!   RNG with a constant: every fresh virtual card would generate the same keys, and two cards
//!   in one test would hold identical keys (one key id).

use std::fs::File;
use std::io::Read;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trussed::backend::{Backend as _, BackendId};
use trussed::serde_extensions::{ExtensionDispatch, ExtensionId, ExtensionImpl};
use trussed::service::ServiceResources;
use trussed::types::Context;
use trussed::virt::{Store, UserInterface};
use trussed_auth::AuthExtension;
use trussed_auth_backend::{AuthBackend, AuthContext, FilesystemLayout};
use trussed_chunked::ChunkedExtension;
use trussed_core::api::{reply, request, Reply, Request};
use trussed_core::types::Location;
use trussed_core::Error;
use trussed_hpke::HpkeExtension;
use trussed_rsa_alloc::SoftwareRsa;
use trussed_staging::{StagingBackend, StagingContext};
use trussed_wrap_key_to_file::WrapKeyToFileExtension;

/// The client both firmwares get: trussed's virtual client with our dispatch.
pub type VirtClient<'a> = trussed::virt::Client<'a, Dispatch>;

/// Backends for every request, in order.
pub const BACKENDS: &[BackendId<BackendName>] = &[
    BackendId::Custom(BackendName::Staging),
    BackendId::Custom(BackendName::Auth),
    BackendId::Custom(BackendName::Rsa),
    BackendId::Core,
];

#[derive(Debug, Clone, Copy)]
pub enum BackendName {
    Staging,
    Auth,
    Rsa,
}

#[derive(Debug, Clone, Copy)]
pub enum ExtensionName {
    Auth,
    Chunked,
    WrapKeyToFile,
    Hpke,
}

impl From<ExtensionName> for u8 {
    fn from(e: ExtensionName) -> u8 {
        match e {
            ExtensionName::Auth => 0,
            ExtensionName::Chunked => 1,
            ExtensionName::WrapKeyToFile => 2,
            ExtensionName::Hpke => 3,
        }
    }
}

impl TryFrom<u8> for ExtensionName {
    type Error = Error;

    fn try_from(id: u8) -> Result<Self, Error> {
        Ok(match id {
            0 => ExtensionName::Auth,
            1 => ExtensionName::Chunked,
            2 => ExtensionName::WrapKeyToFile,
            3 => ExtensionName::Hpke,
            _ => return Err(Error::InternalError),
        })
    }
}

pub struct Dispatch {
    auth: AuthBackend,
    staging: StagingBackend,
}

impl Dispatch {
    pub fn new() -> Dispatch {
        Dispatch {
            // No hardware key: the PIN-derived keys depend on the PIN and a salt in the store.
            auth: AuthBackend::new(Location::Internal, FilesystemLayout::V0),
            staging: StagingBackend::new(),
        }
    }
}

#[derive(Default)]
pub struct DispatchContext {
    auth: AuthContext,
    staging: StagingContext,
}

impl ExtensionDispatch for Dispatch {
    type BackendId = BackendName;
    type Context = DispatchContext;
    type ExtensionId = ExtensionName;

    fn core_request<P: trussed::Platform>(
        &mut self,
        backend: &BackendName,
        ctx: &mut Context<DispatchContext>,
        request: &Request,
        resources: &mut ServiceResources<P>,
    ) -> Result<Reply, Error> {
        match backend {
            BackendName::Staging => {
                self.staging
                    .request(&mut ctx.core, &mut ctx.backends.staging, request, resources)
            }
            BackendName::Auth => {
                self.auth
                    .request(&mut ctx.core, &mut ctx.backends.auth, request, resources)
            }
            BackendName::Rsa => SoftwareRsa.request(&mut ctx.core, &mut (), request, resources),
        }
    }

    fn extension_request<P: trussed::Platform>(
        &mut self,
        backend: &BackendName,
        extension: &ExtensionName,
        ctx: &mut Context<DispatchContext>,
        request: &request::SerdeExtension,
        resources: &mut ServiceResources<P>,
    ) -> Result<reply::SerdeExtension, Error> {
        match (backend, extension) {
            (BackendName::Auth, ExtensionName::Auth) => {
                <AuthBackend as ExtensionImpl<AuthExtension>>::extension_request_serialized(
                    &mut self.auth,
                    &mut ctx.core,
                    &mut ctx.backends.auth,
                    request,
                    resources,
                )
            }
            (BackendName::Staging, ExtensionName::Chunked) => {
                <StagingBackend as ExtensionImpl<ChunkedExtension>>::extension_request_serialized(
                    &mut self.staging,
                    &mut ctx.core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendName::Staging, ExtensionName::WrapKeyToFile) => <StagingBackend as ExtensionImpl<
                WrapKeyToFileExtension,
            >>::extension_request_serialized(
                &mut self.staging,
                &mut ctx.core,
                &mut ctx.backends.staging,
                request,
                resources,
            ),
            (BackendName::Staging, ExtensionName::Hpke) => {
                <StagingBackend as ExtensionImpl<HpkeExtension>>::extension_request_serialized(
                    &mut self.staging,
                    &mut ctx.core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

impl ExtensionId<AuthExtension> for Dispatch {
    type Id = ExtensionName;
    const ID: ExtensionName = ExtensionName::Auth;
}

impl ExtensionId<ChunkedExtension> for Dispatch {
    type Id = ExtensionName;
    const ID: ExtensionName = ExtensionName::Chunked;
}

impl ExtensionId<WrapKeyToFileExtension> for Dispatch {
    type Id = ExtensionName;
    const ID: ExtensionName = ExtensionName::WrapKeyToFile;
}

impl ExtensionId<HpkeExtension> for Dispatch {
    type Id = ExtensionName;
    const ID: ExtensionName = ExtensionName::Hpke;
}

/// trussed's virtual platform with an RNG seeded from the OS (see the module doc).
pub struct VirtPlatform<'a> {
    rng: ChaCha8Rng,
    store: Store<'a>,
    ui: UserInterface,
}

impl<'a> VirtPlatform<'a> {
    pub fn new(store: Store<'a>) -> VirtPlatform<'a> {
        let mut seed = [0u8; 32];
        File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .expect("read 32 bytes from /dev/urandom");
        VirtPlatform {
            rng: ChaCha8Rng::from_seed(seed),
            store,
            // User presence: trussed's virtual UI answers "present"; the runner simulates touch
            // at the APDU level instead (neither firmware asks trussed for it when signing).
            ui: UserInterface::new(),
        }
    }
}

impl<'a> trussed::Platform for VirtPlatform<'a> {
    type R = ChaCha8Rng;
    type S = Store<'a>;
    type UI = UserInterface;

    fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    fn store(&self) -> Store<'a> {
        self.store
    }

    fn user_interface(&mut self) -> &mut UserInterface {
        &mut self.ui
    }
}
