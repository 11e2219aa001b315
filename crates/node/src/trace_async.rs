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

use crate::reader::{as_tool, dir_or_default};
use crate::trace::{leak_options, release_symbolizer, with_symbolizer};
use crate::trace_types::{LeakGroup, LeakReport};

/// A leak report without its groups (`groups` is empty: `LeakPages.nextGroups` hands them
/// over), or why there is none. The failure travels as data, not as a rejection, because a
/// task's rejection cannot carry the stable string codes the TypeScript layer maps
/// (`error.rs`); src/trace.ts throws the `SkullMemError`.
#[napi(object)]
pub struct LeakOutcome {
    /// The report without its groups, when it could be made.
    pub report: Option<LeakReport>,
    /// The stable code of the failure (`NO_PROCESS`, `NOT_MEASURED`, ...).
    pub code: Option<String>,
    /// The failure's one-line message.
    pub message: Option<String>,
}

/// A leak report made off the event loop, handed to JavaScript in pieces. Converting a whole
/// report to JavaScript objects takes the event loop tens of milliseconds for a hundred
/// groups of 32 frames (measured: 48 ms for 132 groups, 4,220 frames, on the busy 2-core
/// machine); src/trace.ts takes the groups a page at a time and lets the event loop run in
/// between. The report is made as plain Rust data on the worker thread; only the conversion
/// of each page runs on the event loop.
#[napi]
pub struct LeakPages {
    outcome: Option<LeakOutcome>,
    groups: std::vec::IntoIter<LeakGroup>,
}

#[napi]
impl LeakPages {
    /// The report without its groups, or why there is none; null when already taken.
    #[napi]
    pub fn outcome(&mut self) -> Option<LeakOutcome> {
        self.outcome.take()
    }

    /// The next groups, largest first, whole: as many as hold at least `frames` frames
    /// together (at least one), or the rest; empty when every group was taken.
    #[napi]
    pub fn next_groups(&mut self, frames: u32) -> Vec<LeakGroup> {
        let mut page = Vec::new();
        let mut taken = 0usize;
        while taken < frames.max(1) as usize {
            let Some(group) = self.groups.next() else {
                break;
            };
            taken += group.frames.len().max(1);
            page.push(group);
        }
        page
    }
}

/// One leak report, made on a threadpool thread.
pub struct LeaksTask {
    pid: u32,
    dir: Option<String>,
    options: Option<LeakOptions>,
}

impl Task for LeaksTask {
    type Output = LeakPages;
    type JsValue = LeakPages;

    fn compute(&mut self) -> NapiResult<LeakPages> {
        let options = self.options.take().unwrap_or_default();
        let dir = dir_or_default(self.dir.take());
        let pid = self.pid;
        let report = || {
            as_tool(|| {
                // The binding's objects as plain Rust data, made here: the event loop only
                // converts them to JavaScript (`resolve`).
                with_symbolizer(|symbolizer| leaks(&dir, pid, &options, symbolizer))
                    .map(|report| LeakReport::from(&report))
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
            Ok(mut report) => {
                let groups = std::mem::take(&mut report.groups).into_iter();
                LeakPages {
                    outcome: Some(LeakOutcome {
                        report: Some(report),
                        code: None,
                        message: None,
                    }),
                    groups,
                }
            }
            Err(error) => LeakPages {
                outcome: Some(LeakOutcome {
                    report: None,
                    code: Some(error.code().to_owned()),
                    message: Some(format!("skull-mem: {error}")),
                }),
                groups: Vec::new().into_iter(),
            },
        })
    }

    fn resolve(&mut self, _env: Env, pages: LeakPages) -> NapiResult<LeakPages> {
        Ok(pages)
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

/// `traceLeaks` on a threadpool thread: resolves with the report of process `pid` to take in
/// pages, or the code and message of why it could not be made.
// napi-derive cannot see through `AsyncTask` to the task's `JsValue`: name the type here.
#[napi(ts_return_type = "Promise<LeakPages>")]
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
