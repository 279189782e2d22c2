//! The `wetmr` binary: parse the command line, run the command, map the outcome to an exit
//! code (documented in the README).

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;

use clap::Parser;
use wetmr::cli::Cli;
use wetmr::error::exit;

fn main() -> ExitCode {
    // `WETMR_X=` in a crontab means "not set", as for most programs' variables.
    for (key, value) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("WETMR_") && value.is_empty() {
            std::env::remove_var(key);
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let result = wetmr::commands::run(cli.command);
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("wetmr: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The system allocator, except that running out of memory ends the process with a clear
/// line and exit code 5 (see `wetmr::error::exit::RESOURCES`), instead of an abort with a
/// backtrace. Outputs are staged in anonymous files (`output::atomic`), so nothing is left
/// half-written.
struct Allocator;

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

// SAFETY: every call is passed to the system allocator unchanged; a null result (which
// callers must not use) ends the process instead of being returned.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `layout` are the system allocator's.
        checked(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        checked(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator, which is the system's, with `layout`.
        checked(unsafe { System.realloc(ptr, layout, new_size) }, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[inline]
fn checked(ptr: *mut u8, size: usize) -> *mut u8 {
    if ptr.is_null() {
        out_of_memory(size);
    }
    ptr
}

/// Says so on stderr and exits, allocating nothing. Threads that run out at the same time
/// wait for the first one's exit, so the line is written once.
#[cold]
fn out_of_memory(size: usize) -> ! {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SAID.swap(true, std::sync::atomic::Ordering::SeqCst) {
        loop {
            // SAFETY: pause(2) only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    let mut line = [0u8; 128];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let n = bytes.len().min(line.len() - len);
        line[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
    };
    put(b"wetmr: error: out of resources: out of memory (allocating ");
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = size;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    put(&digits[at..]);
    put(b" bytes); no output was written\n");
    // SAFETY: write(2) and _exit(2) are async-signal-safe and allocate nothing; the buffer
    // lives across the call.
    unsafe {
        libc::write(2, line.as_ptr().cast(), len);
        libc::_exit(i32::from(wetmr::error::exit::RESOURCES))
    }
}
