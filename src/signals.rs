//! Signal handling for recordings: SIGINT/SIGTERM stop, SIGUSR2 snapshots.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT and SIGTERM.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR2.
pub static SNAPSHOT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

extern "C" fn on_snapshot(_: libc::c_int) {
    SNAPSHOT.store(true, Ordering::Relaxed);
}

/// Installs the handlers. Handlers are reset to the default by exec, so a
/// workload started afterwards sees the usual signal behaviour.
pub fn install() {
    let handlers: [(libc::c_int, extern "C" fn(libc::c_int)); 3] = [
        (libc::SIGINT, on_stop),
        (libc::SIGTERM, on_stop),
        (libc::SIGUSR2, on_snapshot),
    ];
    for (signal, handler) in handlers {
        // SAFETY: the handlers only store to atomics, which is async-signal-safe;
        // sigaction is given a fully initialised struct.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}
