//! The in-process leak report off the event loop: `traceLeaksAsync` reads, groups and
//! symbolizes on a thread of its own, started and joined by a libuv threadpool task, and
//! resolves a Promise, so a service asking for its own leaks is not blocked while the
//! symbolizer reads debug info (measured: 576 ms blocked with the synchronous call). That
//! thread runs at the lowest CPU priority (nice 19): on a machine with fewer free cores than
//! runnable threads, the service's own threads, the event loop first, go before it. The work
//! runs in skull-mem's own scope, like every tool call (`as_tool`), so the symbolizer's memory
//! is charged to `skull-mem`, never to `core` or the pool's scope; `releaseSymbols` gives it
//! back.

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Result as NapiResult, Task};
use napi_derive::napi;
use skull_mem_inspect::trace::leaks::{leaks, LeakOptions};

use crate::error::CORRUPT;
use crate::reader::{as_tool, dir_or_default};
use crate::trace::{leak_options, release_symbolizer, with_symbolizer};

/// A leak report or why there is none. The report travels as JSON (the `--json` output of
/// `skull-trace leaks`, the same fields as `traceLeaks`' object): made on the worker thread,
/// it costs the event loop one `JSON.parse`, where building the objects through Node-API
/// costs it 20-30 ms for a report of 80 stacks (measured on a busy 2-core machine). The
/// failure travels as data, not as a rejection, because a task's rejection cannot carry the
/// stable string codes the TypeScript layer maps (`error.rs`); src/trace.ts throws the
/// `SkullMemError`.
#[napi(object)]
pub struct LeakOutcome {
    /// The report as JSON, when it could be made.
    pub json: Option<String>,
    /// The stable code of the failure (`NO_PROCESS`, `NOT_MEASURED`, ...).
    pub code: Option<String>,
    /// The failure's one-line message.
    pub message: Option<String>,
}

/// One leak report, made on a threadpool thread.
pub struct LeaksTask {
    pid: u32,
    dir: Option<String>,
    options: Option<LeakOptions>,
}

impl Task for LeaksTask {
    type Output = LeakOutcome;
    type JsValue = LeakOutcome;

    fn compute(&mut self) -> NapiResult<LeakOutcome> {
        let options = self.options.take().unwrap_or_default();
        let dir = dir_or_default(self.dir.take());
        let pid = self.pid;
        let report = || {
            as_tool(|| {
                with_symbolizer(|symbolizer| leaks(&dir, pid, &options, symbolizer))
                    .map(|report| serde_json::to_string(&report))
            })
        };
        let made = as_tool(|| {
            std::thread::scope(|threads| {
                let spawned = std::thread::Builder::new()
                    .name("skull-mem-leaks".to_owned())
                    .spawn_scoped(threads, || {
                        lowest_priority();
                        report()
                    });
                match spawned {
                    Ok(thread) => thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    // No thread to be had: the pool thread does the work at its own priority.
                    Err(_) => report(),
                }
            })
        });
        Ok(match made {
            Ok(Ok(json)) => LeakOutcome {
                json: Some(json),
                code: None,
                message: None,
            },
            Ok(Err(error)) => LeakOutcome {
                json: None,
                code: Some(CORRUPT.to_owned()),
                message: Some(format!("skull-mem: cannot write the leak report: {error}")),
            },
            Err(error) => LeakOutcome {
                json: None,
                code: Some(error.code().to_owned()),
                message: Some(format!("skull-mem: {error}")),
            },
        })
    }

    fn resolve(&mut self, _env: Env, outcome: LeakOutcome) -> NapiResult<LeakOutcome> {
        Ok(outcome)
    }
}

/// Puts the calling thread at nice 19. Failure leaves it at the process's priority, which
/// only costs the service some CPU time.
fn lowest_priority() {
    // SAFETY: SYS_gettid takes no arguments and cannot fail (the system call, not glibc's
    // gettid(), which only glibc 2.30 and later have); `setpriority` on this thread's own id
    // changes only its scheduling priority.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
}

/// `traceLeaks` on a threadpool thread: resolves with the report of process `pid`, or the
/// code and message of why it could not be made.
// napi-derive cannot see through `AsyncTask` to the task's `JsValue`: name the type here.
#[napi(ts_return_type = "Promise<LeakOutcome>")]
pub fn trace_leaks_async(
    pid: u32,
    dir: Option<String>,
    min_age: f64,
    scope: Option<String>,
    top: u32,
    #[napi(ts_arg_type = "'stack' | 'line' | 'function'")] group_by: Option<String>,
) -> crate::error::Result<AsyncTask<LeaksTask>> {
    Ok(AsyncTask::new(LeaksTask {
        pid,
        dir,
        options: Some(leak_options(min_age, scope, top, group_by)?),
    }))
}

/// Drops the symbolizer and everything it cached (modules' debug info, symbolized frames);
/// the next report builds a new one. Returns whether there was one to drop.
#[napi]
pub fn release_symbols() -> bool {
    as_tool(release_symbolizer)
}
