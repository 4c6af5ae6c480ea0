//! `sd_notify`: tell systemd (`$NOTIFY_SOCKET`, a path or an abstract `@name`) that the agent
//! is ready or reloading. Silent when not run by systemd.

use std::os::unix::net::UnixDatagram;

/// Send `state` (e.g. `READY=1`) to `$NOTIFY_SOCKET`, if set.
pub fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = UnixDatagram::unbound().and_then(|sock| {
        let bytes = target.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), &target)
        }
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
