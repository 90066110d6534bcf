//! The net under every request: a panic is logged once with its backtrace, counted in
//! `tidewatch_panics_total`, and — inside a request — answered 500 with the JSON error
//! shape and the request id, instead of a dropped connection (the middleware that does
//! that is `http::middleware::catch_request_panics`). The causes are fixed where
//! they are found; this only keeps one bad request from hurting the others.
//!
//! Code that *expects* a library to panic on some input (the PromQL parser on
//! out-of-range numbers) runs it under [`quietly`]: the panic becomes an `Err` and is
//! neither logged as a fault nor counted.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static PANICS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Panics since start that were not expected ([`quietly`] ones are not counted).
pub fn panics_total() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Installs the process-wide panic hook (once; later calls do nothing).
pub fn install_hook() {
    INSTALL.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                return;
            }
            // Before logging is set up (or in unit tests) the message still reaches stderr.
            if !tracing::dispatcher::has_been_set() {
                PANICS.fetch_add(1, Ordering::Relaxed);
                default_hook(info);
                return;
            }
            PANICS.fetch_add(1, Ordering::Relaxed);
            let backtrace = std::backtrace::Backtrace::force_capture();
            let thread = std::thread::current();
            tracing::error!(
                thread = thread.name().unwrap_or("unnamed"),
                panic = %info,
                %backtrace,
                "panic"
            );
        }));
    });
}

/// Runs `f`, turning a panic into `Err(message)` without logging or counting it.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let was = QUIET.with(|q| q.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    outcome.map_err(|payload| panic_message(payload.as_ref()))
}

/// The text a panic was raised with.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quietly_turns_a_panic_into_its_message_and_does_not_count_it() {
        install_hook();
        let before = panics_total();
        let outcome: Result<(), String> = quietly(|| panic!("out of range: {}", 7));
        assert_eq!(outcome, Err("out of range: 7".to_owned()));
        assert_eq!(quietly(|| 41 + 1), Ok(42));
        assert_eq!(panics_total(), before);
    }
}
