//! The decode window of a gzip chunk, and the process-wide bound on large windows.
//!
//! A gzip chunk decodes members into a window and parses the records it holds; a record
//! must be whole in the window before it is counted, so one record of `n` bytes needs a
//! window of `n` bytes. Common Crawl's records are at most a few MB, but a small compressed
//! file can claim a record of up to [`MAX_RECORD`] and expand to fill it (a decompression
//! bomb). Each thread's window may grow to [`SMALL_WINDOW`] freely; beyond that it must hold
//! the process's one *large-window token*, and a thread that needs it waits until the
//! holder's window is small again. So, whatever the number of threads or of concurrent
//! jobs, the windows of a process hold at most
//!
//! ```text
//! threads × (SMALL_WINDOW + WHOLE_MEMBER_MAX)  +  MAX_RECORD + FILL_MIN + WHOLE_MEMBER_MAX
//! ```
//!
//! bytes. Waiting (rather than failing) keeps every outcome independent of timing: a
//! record is damage only if it is larger than [`MAX_RECORD`], never because another thread
//! held the token. The holder never waits on another thread while holding it (a chunk's
//! scan takes no other lock for long and spawns nothing), so the wait always ends.

use std::sync::{Condvar, Mutex, PoisonError};

use crate::input::gzip::WHOLE_MEMBER_MAX;

/// Largest record a gzip chunk will hold in memory. Common Crawl's WET records are a few
/// MB at most; a larger one is treated as damage.
pub const MAX_RECORD: usize = 256 << 20;
/// A window may grow this far without the large-window token.
pub const SMALL_WINDOW: usize = 8 << 20;
/// Smallest free space offered to the gzip decoder per fill.
pub const FILL_MIN: usize = 256 * 1024;

/// A thread's reusable decode buffer (see the module docs).
#[derive(Debug, Default)]
pub struct Window {
    buf: Vec<u8>,
    /// This window holds the large-window token.
    large: bool,
}

impl Window {
    /// The decoded bytes not yet dropped.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer to decode into (its spare capacity is what a fill may use).
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Makes at least [`FILL_MIN`] bytes of room for the next fill, taking the large-window
    /// token first (and waiting for it) if the window must outgrow [`SMALL_WINDOW`]. The
    /// capacity at most doubles, and never goes past what [`MAX_RECORD`] needs.
    pub fn make_room(&mut self) {
        let spare = self.buf.capacity() - self.buf.len();
        if spare >= FILL_MIN {
            return;
        }
        let want = (self.buf.len() + FILL_MIN)
            .max(self.buf.capacity() * 2)
            .min(MAX_RECORD + 2 * FILL_MIN)
            .max(self.buf.len() + FILL_MIN);
        if want > SMALL_WINDOW && !self.large {
            LARGE.acquire();
            self.large = true;
        }
        self.buf.reserve_exact(want - self.buf.len());
    }

    /// Drops the first `n` bytes (parsed). A window back under half of [`SMALL_WINDOW`]
    /// gives its memory and the large-window token back.
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        if self.large && self.buf.len() <= SMALL_WINDOW / 2 {
            self.shrink();
        }
    }

    /// Empties the window (at the start and end of a chunk, or after damage).
    pub fn clear(&mut self) {
        self.buf.clear();
        if self.large || self.buf.capacity() > SMALL_WINDOW + WHOLE_MEMBER_MAX {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        self.buf.shrink_to(SMALL_WINDOW);
        if std::mem::take(&mut self.large) {
            LARGE.release();
        }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        if self.large {
            LARGE.release();
        }
    }
}

/// The large-window token: a binary semaphore.
struct Token {
    taken: Mutex<bool>,
    freed: Condvar,
}

static LARGE: Token = Token {
    taken: Mutex::new(false),
    freed: Condvar::new(),
};

impl Token {
    fn acquire(&self) {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        while *taken {
            taken = self
                .freed
                .wait(taken)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *taken = true;
    }

    fn release(&self) {
        *self.taken.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_window_holds_the_token_until_it_is_small_again() {
        let mut a = Window::default();
        while a.len() < SMALL_WINDOW + 1 {
            a.make_room();
            let full = a.buf().capacity();
            a.buf().resize(full, b'x');
        }
        assert!(a.large);
        assert!(a.buf.capacity() <= MAX_RECORD + 2 * FILL_MIN);
        // Another window that needs to grow large waits for the token.
        let waited = std::thread::scope(|s| {
            let other = s.spawn(|| {
                let mut b = Window::default();
                let started = std::time::Instant::now();
                b.buf().resize(SMALL_WINDOW, 0);
                b.make_room();
                assert!(b.large);
                started.elapsed()
            });
            std::thread::sleep(std::time::Duration::from_millis(100));
            a.consume(a.len() - 10);
            assert!(!a.large, "a small window keeps the token");
            assert!(a.buf.capacity() <= SMALL_WINDOW);
            other.join().unwrap()
        });
        assert!(waited >= std::time::Duration::from_millis(90), "{waited:?}");
    }

    #[test]
    fn growth_stops_at_what_the_largest_record_needs() {
        let mut w = Window::default();
        for _ in 0..64 {
            w.make_room();
            let len = w.len();
            let upto = w.buf().capacity().min(MAX_RECORD + 2 * FILL_MIN);
            if upto == len {
                break;
            }
            w.buf().resize(upto, 0);
        }
        assert!(
            w.buf.capacity() <= MAX_RECORD + 3 * FILL_MIN,
            "{}",
            w.buf.capacity()
        );
        w.clear();
        assert!(!w.large);
    }
}
