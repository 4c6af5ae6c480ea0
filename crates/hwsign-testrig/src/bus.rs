//! A private D-Bus session bus (`dbus-daemon --session` on a socket in the test's directory) and
//! a notification server on it that records every `Notify` and `CloseNotification` call, so a
//! test sees what the agent's desktop notifications said and when they were closed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::zvariant::OwnedValue;

/// One call the notification server got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Notify {
        app: String,
        summary: String,
        body: String,
        id: u32,
    },
    Close {
        id: u32,
    },
}

/// A `dbus-daemon --session`, killed on drop.
pub struct SessionBus {
    child: Child,
    /// `DBUS_SESSION_BUS_ADDRESS` for it.
    pub address: String,
}

impl SessionBus {
    pub fn start(dir: &Path) -> SessionBus {
        let socket = dir.join("bus");
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run dbus-daemon ({e}): install the dbus package (scripts/deps.sh)")
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("dbus-daemon prints its address");
        let address = line.trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon said {line:?}");
        SessionBus { child, address }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Server {
    calls: Arc<Mutex<Vec<Call>>>,
    next: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let id = if replaces_id != 0 {
            replaces_id
        } else {
            self.next += 1;
            self.next
        };
        self.calls.lock().unwrap().push(Call::Notify {
            app: app_name,
            summary,
            body,
            id,
        });
        id
    }

    fn close_notification(&mut self, id: u32) {
        self.calls.lock().unwrap().push(Call::Close { id });
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "body-markup".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "hwsign-test".into(),
            "hwsign".into(),
            "0".into(),
            "1.2".into(),
        )
    }
}

/// The recording notification server, on its own thread until dropped.
pub struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    pub fn start(bus: &SessionBus) -> Recorder {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel::<Result<(), String>>();
        let address = bus.address.clone();
        let server = Server {
            calls: calls.clone(),
            next: 0,
        };
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let built = async {
                    zbus::connection::Builder::address(address.as_str())?
                        .name("org.freedesktop.Notifications")?
                        .serve_at("/org/freedesktop/Notifications", server)?
                        .build()
                        .await
                }
                .await;
                match built {
                    Ok(conn) => {
                        let _ = ready.send(Ok(()));
                        let _ = stopped.await;
                        drop(conn);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                    }
                }
            });
        });
        is_ready
            .recv_timeout(Duration::from_secs(30))
            .expect("the notification server starts")
            .expect("the notification server owns its name");
        Recorder {
            calls,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until `ok` holds for the calls so far; panics naming `what` after 60 s.
    pub fn wait_for(&self, what: &str, mut ok: impl FnMut(&[Call]) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let calls = self.calls();
            if ok(&calls) {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} on the session bus within 60 s; calls: {calls:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The notifications shown and not closed.
    pub fn open(&self) -> Vec<Call> {
        let calls = self.calls();
        calls
            .iter()
            .filter(|c| match c {
                Call::Notify { id, .. } => !calls.contains(&Call::Close { id: *id }),
                Call::Close { .. } => false,
            })
            .cloned()
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
