//! One allocator setting: how many heaps (arenas) glibc's malloc may make.
//!
//! glibc gives each new thread a heap of its own, up to 8 per core. The counting threads
//! need theirs (they allocate as their tables grow); a download thread (see
//! `engine::stream`) would get one too, and what it grows and shrinks there (its windows)
//! stays resident: measured on a 200 MB gz file counted over HTTP, 15-24 MiB of peak RSS
//! above the same file from disk, for one download. Capping the heaps at one per counting
//! thread and one for the rest makes download threads share existing heaps, which they
//! use little after their first buffers: the same job then peaks at the RSS of the file
//! from disk, at the same speed (`tools/bench.sh`; README "Benchmarks").

/// Lets malloc make at most `threads + 1` heaps. Call it before starting threads.
pub fn share_heaps(threads: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc tunable.
    unsafe {
        libc::mallopt(
            libc::M_ARENA_MAX,
            (threads + 1).min(i32::MAX as usize) as i32,
        );
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = threads;
}
