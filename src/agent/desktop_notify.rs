//! Desktop notifications over D-Bus (`org.freedesktop.Notifications` on the session bus named
//! by `DBUS_SESSION_BUS_ADDRESS`): a touch notice is shown when a token waits for a touch and
//! closed when the signature is over, however it ends. Nothing here may delay a signature: the
//! notification lives in its own task, every bus call is bounded, and a missing bus or
//! notification service is logged once and otherwise ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, oneshot};
use zbus::Connection;
use zbus::zvariant::Value;

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
/// How long one bus call may take (a hung notification daemon must not pile up tasks).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the notification server keeps it if the agent never closes it (it crashed).
const EXPIRE_MS: i32 = 120_000;

/// The session bus connection, made on first use and dropped after an error.
static BUS: Mutex<Option<Connection>> = Mutex::const_new(None);
/// Whether a failure was logged already (a desktop without a notification service is normal).
static WARNED: AtomicBool = AtomicBool::new(false);

fn warn_once(what: &str, e: &dyn std::fmt::Display) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(error = %crate::text::message(&e.to_string()), "{what} (desktop notifications are skipped)");
    } else {
        tracing::debug!(error = %crate::text::message(&e.to_string()), "{what}");
    }
}

async fn connection() -> Option<Connection> {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS")?;
    let mut bus = BUS.lock().await;
    if let Some(c) = bus.as_ref() {
        return Some(c.clone());
    }
    match tokio::time::timeout(CALL_TIMEOUT, Connection::session()).await {
        Ok(Ok(c)) => {
            *bus = Some(c.clone());
            Some(c)
        }
        Ok(Err(e)) => {
            warn_once("cannot reach the session bus", &e);
            None
        }
        Err(_) => {
            warn_once("cannot reach the session bus", &"timed out");
            None
        }
    }
}

async fn forget(conn: &Connection) {
    let mut bus = BUS.lock().await;
    if bus
        .as_ref()
        .is_some_and(|c| c.unique_name() == conn.unique_name())
    {
        *bus = None;
    }
}

/// `Notify`: returns the notification's id.
async fn show(summary: &str, body: &str) -> Option<u32> {
    let conn = connection().await?;
    let actions: Vec<&str> = Vec::new();
    let mut hints: HashMap<&str, Value<'_>> = HashMap::new();
    // Normal urgency: the notice is closed by the agent, not by the user.
    hints.insert("urgency", Value::U8(1));
    hints.insert("category", Value::from("device"));
    let args = (
        "hwsign",
        0u32,
        "security-high",
        summary,
        body,
        actions,
        hints,
        EXPIRE_MS,
    );
    let call = conn.call_method(Some(SERVICE), PATH, Some(SERVICE), "Notify", &args);
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(reply)) => match reply.body().deserialize::<u32>() {
            Ok(id) => Some(id),
            Err(e) => {
                warn_once("the notification service answered Notify oddly", &e);
                None
            }
        },
        Ok(Err(e)) => {
            if matches!(e, zbus::Error::InputOutput(_)) {
                forget(&conn).await;
            }
            warn_once("the desktop notification failed", &e);
            None
        }
        Err(_) => {
            warn_once("the desktop notification failed", &"timed out");
            None
        }
    }
}

/// `CloseNotification`.
async fn close(id: u32) {
    let Some(conn) = connection().await else {
        return;
    };
    let args = (id,);
    let call = conn.call_method(
        Some(SERVICE),
        PATH,
        Some(SERVICE),
        "CloseNotification",
        &args,
    );
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %crate::text::message(&e.to_string()), id, "cannot close the desktop notification")
        }
        Err(_) => tracing::debug!(id, "closing the desktop notification timed out"),
    }
}

/// A desktop notification that is closed when this is dropped.
#[derive(Debug)]
pub struct Shown {
    _done: Option<oneshot::Sender<()>>,
}

/// Show `summary` and `body` (plain text: escaped here for the notification markup, with any
/// control or format character made visible) until the returned value is dropped. Without a
/// session bus (or outside a tokio runtime) nothing is shown.
pub fn notify(summary: &str, body: &str) -> Shown {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        || tokio::runtime::Handle::try_current().is_err()
    {
        return Shown { _done: None };
    }
    let summary = crate::text::composed_for_markup(summary);
    let body = crate::text::composed_for_markup(body);
    let (done, ended) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let id = show(&summary, &body).await;
        // The sender is dropped when the signature is over.
        let _ = ended.await;
        if let Some(id) = id {
            close(id).await;
        }
    });
    Shown { _done: Some(done) }
}

/// Nothing shown (desktop notifications turned off).
pub fn notify_none() -> Shown {
    Shown { _done: None }
}
