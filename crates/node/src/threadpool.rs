//! Charges the libuv threadpool's own allocations to one pseudo-scope.
//!
//! Node runs zlib, fs, crypto (pbkdf2, scrypt, randomBytes) and DNS work on the libuv
//! threadpool. Those threads never run JavaScript, so the JS context hooks cannot switch their
//! scope, and which scope queued a work item is not visible to them. Left alone they would
//! count as `core`; instead each pool thread is made to charge a named scope (`threadpool`)
//! once, for the life of the process: it is then clear that the bytes were spent on behalf of
//! some JS work, not by Node's core.
//!
//! How every pool thread is reached: `threads` tasks are queued together and each blocks at a
//! gate until all of them are running, so no thread can take two of them. The gate gives up
//! after `GATE_TIMEOUT`, so a pool smaller than asked, or busy for long, is never deadlocked;
//! the cost of that case is a pool stalled for at most `GATE_TIMEOUT`, once per process.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Result, Task};
use napi_derive::napi;

use crate::abi::{Abi, SCOPE_INVALID};

/// How long a task waits for the others before giving up. A pool busy with a long job
/// reaches the gate late; its thread is still marked when its task runs, since arrivals are
/// counted for the whole process.
const GATE_TIMEOUT: Duration = Duration::from_secs(1);

/// Tasks that have arrived at the gate, process-wide (the pool is process-wide too).
static ARRIVED: Mutex<u32> = Mutex::new(0);
static ALL_ARRIVED: Condvar = Condvar::new();

/// One pool thread's share of the marking.
pub struct MarkThread {
    scope: u32,
    threads: u32,
}

impl Task for MarkThread {
    type Output = u32;
    type JsValue = u32;

    fn compute(&mut self) -> Result<u32> {
        let Some(abi) = Abi::get() else { return Ok(0) };
        // SAFETY: `skull_scope_enter` accepts any id and only switches this thread's scope;
        // the previous scope is deliberately not restored: the thread keeps charging `scope`.
        if unsafe { (abi.scope_enter)(self.scope) } == SCOPE_INVALID {
            return Ok(0);
        }
        let deadline = Instant::now() + GATE_TIMEOUT;
        let mut arrived = ARRIVED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *arrived += 1;
        ALL_ARRIVED.notify_all();
        while *arrived < self.threads {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            arrived = ALL_ARRIVED
                .wait_timeout(arrived, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        Ok(*arrived)
    }

    fn resolve(&mut self, _env: Env, arrived: u32) -> Result<u32> {
        Ok(arrived)
    }
}

/// Queues one marking task; the TypeScript API queues `threads` of them at once (the pool
/// size) and awaits them all. Resolves with how many tasks had reached the gate, which equals
/// `threads` when every pool thread now charges `scope`.
// napi-derive cannot see through `AsyncTask` to the task's `JsValue`: name the type here.
#[napi(ts_return_type = "Promise<number>")]
pub fn threadpool_mark(scope: u32, threads: u32) -> AsyncTask<MarkThread> {
    AsyncTask::new(MarkThread { scope, threads })
}
