//! The connection budget of one listener. Idle connections cost the agent nothing but a slot,
//! so when the budget is full a newcomer takes the slot of the connection idle the longest
//! (that client reconnects when it needs the agent again) instead of waiting behind it; only
//! when every connection is in the middle of a request is the newcomer refused. Requests
//! themselves are bounded (frame deadlines, confirm, PIN and touch timeouts), so a full budget
//! of busy connections drains by itself.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug)]
struct Slot {
    id: u64,
    /// Since when the connection has had no request in progress (None: busy).
    idle_since: Option<Instant>,
    evict: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Slots {
    next_id: u64,
    slots: Vec<Slot>,
}

/// The slots of one listener.
#[derive(Debug)]
pub struct Budget {
    max: usize,
    slots: Mutex<Slots>,
}

/// Every slot is held by a connection with a request in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// The budget.
    pub max: usize,
}

/// What admission did.
#[derive(Debug)]
pub struct Admitted {
    /// The newcomer's slot.
    pub ticket: Ticket,
    /// Whether an idle connection was closed to make room.
    pub evicted_idle: bool,
}

impl Budget {
    /// A budget of `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Budget {
            max: max.max(1),
            slots: Mutex::new(Slots::default()),
        })
    }

    /// Connections holding a slot.
    pub fn len(&self) -> usize {
        self.slots.lock().map(|s| s.slots.len()).unwrap_or(0)
    }

    /// Whether no connection holds a slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A slot for a new connection, closing the longest-idle one when the budget is full.
    pub fn admit(self: &Arc<Self>) -> Result<Admitted, Full> {
        let mut s = self.slots.lock().map_err(|_| Full { max: self.max })?;
        let mut evicted_idle = false;
        if s.slots.len() >= self.max {
            let oldest = s
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| slot.idle_since.map(|t| (t, i)))
                .min()
                .map(|(_, i)| i);
            let Some(i) = oldest else {
                return Err(Full { max: self.max });
            };
            // Its slot is free now; the connection closes when its task sees the notice.
            s.slots.swap_remove(i).evict.notify_one();
            evicted_idle = true;
        }
        let id = s.next_id;
        s.next_id += 1;
        let evict = Arc::new(Notify::new());
        s.slots.push(Slot {
            id,
            idle_since: Some(Instant::now()),
            evict: Arc::clone(&evict),
        });
        Ok(Admitted {
            ticket: Ticket {
                budget: Arc::clone(self),
                id,
                evict,
            },
            evicted_idle,
        })
    }
}

/// A connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Ticket {
    budget: Arc<Budget>,
    id: u64,
    evict: Arc<Notify>,
}

impl Ticket {
    /// Mark the connection idle (between requests) or busy (a frame or request in progress).
    pub fn set_idle(&self, idle: bool) {
        if let Ok(mut s) = self.budget.slots.lock() {
            if let Some(slot) = s.slots.iter_mut().find(|slot| slot.id == self.id) {
                slot.idle_since = if idle { Some(Instant::now()) } else { None };
            }
        }
    }

    /// Resolves when a newcomer took this connection's slot.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut s) = self.budget.slots.lock() {
            s.slots.retain(|slot| slot.id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_longest_idle_makes_room_busy_ones_never() {
        let b = Budget::new(2);
        let first = b.admit().unwrap();
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let second = b.admit().unwrap();
        assert!(!first.evicted_idle && !second.evicted_idle);
        // Full: the first (idle longest) goes.
        let third = b.admit().unwrap();
        assert!(third.evicted_idle);
        tokio::time::timeout(std::time::Duration::from_secs(1), first.ticket.evicted())
            .await
            .expect("the longest-idle connection is told to close");
        assert_eq!(b.len(), 2);
        drop(first);
        assert_eq!(b.len(), 2, "an evicted ticket's drop frees nothing twice");
        // Both busy: a newcomer is refused.
        second.ticket.set_idle(false);
        third.ticket.set_idle(false);
        assert_eq!(b.admit().unwrap_err(), Full { max: 2 });
        // One goes idle again: it makes room.
        third.ticket.set_idle(true);
        let fourth = b.admit().unwrap();
        assert!(fourth.evicted_idle);
        drop(second);
        assert_eq!(b.len(), 1);
    }
}
