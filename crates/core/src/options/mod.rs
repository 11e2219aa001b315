//! The one table of skull-mem's settings and limits: every `SKULL_MEM_*` environment
//! variable and every bound a caller can run into, with its default, bounds, unit and meaning.
//!
//! Start-up reads the environment through it (`startup`), the binding exports it, the CLIs
//! check their options and write their `--help` from it, and a test holds the README's
//! Environment table to it. Values are parsed in one place (`parse`), so a value is refused
//! with the same message whether it comes from the environment, a CLI option or the API.

mod parse;
mod startup;
mod text;

use core::ffi::CStr;

use crate::scopes::{KIND_MAX, NAME_MAX};
use crate::trace::control::{MAX_DEPTH, MAX_SAMPLE_BYTES};
use crate::trace::tables::SPACE_BYTES;

pub use text::{BoundsText, DefaultText};

pub use parse::{parse_choice, parse_number, parse_trace, SettingError};
pub use startup::number_or_default;
pub(crate) use startup::{ignored_in_secure_mode, trace_word};

/// What values a setting takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// A whole number of `unit`s from `min` to `max`; `default` when not given.
    Number {
        /// The value when not given.
        default: u64,
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
        /// What the number counts: bytes, entries, frames.
        unit: &'static str,
    },
    /// A fixed bound on what a caller passes: nothing to set, so no default.
    Limit {
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
        /// What the number counts.
        unit: &'static str,
    },
    /// A directory; `default` when unset or empty.
    Directory {
        /// Where it is when not given, in words or as a path.
        default: &'static str,
    },
    /// One word of a fixed list; `default` when unset.
    Choice {
        /// The value when not given.
        default: &'static str,
        /// Every word accepted.
        choices: &'static [&'static str],
    },
    /// A file; none when unset or empty.
    File,
    /// How tracing starts: `all` or a sample size (`TRACE_SAMPLE_BYTES`), optionally followed
    /// by `:` and a depth (`TRACE_DEPTH`); off when unset.
    Trace,
}

impl Value {
    /// The default of a number setting.
    pub const fn default_number(&self) -> Option<u64> {
        match *self {
            Value::Number { default, .. } => Some(default),
            _ => None,
        }
    }
}

/// One setting or limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The stable name the binding and the CLIs ask for (`cache`, `trace-depth`).
    pub name: &'static str,
    /// What the value is, in a few words, as messages name it: `cache size`.
    pub title: &'static str,
    /// The environment variable that sets it; `None` for a limit or part of another setting.
    pub env: Option<&'static CStr>,
    /// What it takes, and its default and bounds.
    pub value: Value,
    /// What it does, as the README's Environment table says it.
    pub meaning: &'static str,
}

impl Setting {
    /// The environment variable's name, when the setting has one.
    pub const fn env_name(&self) -> Option<&'static str> {
        match self.env {
            Some(name) => match name.to_str() {
                Ok(name) => Some(name),
                Err(_) => None,
            },
            None => None,
        }
    }

    /// The default as shown to users (`32768`, `/dev/shm`, `off`); `None` for a limit.
    pub fn default_text(&'static self) -> Option<text::DefaultText> {
        text::DefaultText::of(self)
    }

    /// The accepted values as shown to users (`0 to 1048576 bytes`, `any directory`).
    pub fn bounds_text(&'static self) -> text::BoundsText {
        text::BoundsText::of(self)
    }
}

/// `SKULL_MEM_DIR`: where a process puts its segment, and where readers look for it.
pub const SEGMENT_DIR: Setting = Setting {
    name: "dir",
    title: "segment directory",
    env: Some(c"SKULL_MEM_DIR"),
    value: Value::Directory {
        default: crate::segment::DEFAULT_DIR,
    },
    meaning: "directory for segments (`skull-mem run --dir`, `memory --dir`)",
};

/// `SKULL_MEM_TRACE`: tracing from start-up.
pub const TRACE: Setting = Setting {
    name: "trace",
    title: "trace setting",
    env: Some(c"SKULL_MEM_TRACE"),
    value: Value::Trace,
    meaning: "trace from start-up: `all`, or a sample mean in bytes, optionally `:depth` \
              (`skull-mem run --trace`)",
};

/// Mean bytes between traced allocations (0: every allocation): part of `SKULL_MEM_TRACE`,
/// and `skull-trace on --sample-bytes`. Bounded by the control word's sample field.
pub const TRACE_SAMPLE_BYTES: Setting = Setting {
    name: "trace-sample-bytes",
    title: "trace sample size",
    env: None,
    value: Value::Number {
        default: 0,
        min: 0,
        max: MAX_SAMPLE_BYTES,
        unit: "bytes",
    },
    meaning: "on average one traced allocation per this many bytes allocated; 0 traces every \
              allocation",
};

/// Frames recorded per traced stack: part of `SKULL_MEM_TRACE`, and `skull-trace on --depth`.
pub const TRACE_DEPTH: Setting = Setting {
    name: "trace-depth",
    title: "trace depth",
    env: None,
    value: Value::Number {
        default: MAX_DEPTH as u64,
        min: 1,
        max: MAX_DEPTH as u64,
        unit: "frames",
    },
    meaning: "frames recorded per traced stack",
};

/// `SKULL_MEM_TRACE_MEMORY`: the memory tracing's tables may take (stacks and live blocks),
/// and `skull-trace on --memory`. Past it tracing drops and counts.
pub const TRACE_MEMORY: Setting = Setting {
    name: "trace-memory",
    title: "trace memory",
    env: Some(c"SKULL_MEM_TRACE_MEMORY"),
    value: Value::Number {
        default: DEFAULT_TRACE_MEMORY,
        min: 1 << 20,
        max: SPACE_BYTES as u64,
        unit: "bytes",
    },
    meaning: "bytes the trace tables (unique stacks, live traced blocks) may take, backed as \
              they grow; past it tracing drops and counts (`skull-trace on --memory`)",
};

/// The trace memory budget unless `SKULL_MEM_TRACE_MEMORY` says otherwise: what the largest
/// acceptance workload (2,000,000 live blocks and 200,000 unique stacks) takes, with room.
pub const DEFAULT_TRACE_MEMORY: u64 = 256 << 20;

/// `SKULL_MEM_CACHE`: the per-thread cache of freed small blocks.
pub const CACHE: Setting = Setting {
    name: "cache",
    title: "cache size",
    env: Some(c"SKULL_MEM_CACHE"),
    value: Value::Number {
        default: crate::cache::DEFAULT_BUDGET,
        min: 0,
        max: crate::cache::MAX_BUDGET,
        unit: "bytes",
    },
    meaning: "bytes of freed small blocks each thread may keep for reuse (`0` turns the cache \
              off) (`skull-mem run --cache`)",
};

/// `SKULL_MEM_BINARY_DIR`: read by the JavaScript loader, which finds the addon (and so this
/// table) through it; listed here so that it is documented with the rest.
pub const BINARY_DIR: Setting = Setting {
    name: "binary-dir",
    title: "binary directory",
    env: Some(c"SKULL_MEM_BINARY_DIR"),
    value: Value::Directory {
        default: "the platform package",
    },
    meaning: "a directory holding `libskull_mem.so` and the addon, overriding the platform \
              package (read by the JavaScript loader)",
};

/// `SKULL_MEM_LEAK_CHECK`: the leak check at exit (`skull-mem run --leak-check`).
pub const LEAK_CHECK: Setting = Setting {
    name: "leak-check",
    title: "leak check",
    env: Some(c"SKULL_MEM_LEAK_CHECK"),
    value: Value::Choice {
        default: "off",
        choices: &["off", "summary", "full"],
    },
    meaning: "at exit, report the traced blocks no pointer reaches (lost) and those still \
              reachable (`full`: with their stacks) (`skull-mem run --leak-check`)",
};

/// `SKULL_MEM_LEAK_FAIL_ABOVE`: lost bytes the leak check tolerates.
pub const LEAK_FAIL_ABOVE: Setting = Setting {
    name: "leak-fail-above",
    title: "leak threshold",
    env: Some(c"SKULL_MEM_LEAK_FAIL_ABOVE"),
    value: Value::Number {
        default: 0,
        min: 0,
        max: (1 << 53) - 1,
        unit: "bytes",
    },
    meaning: "the leak check fails the process when more bytes than this are lost \
              (`skull-mem run --fail-above`)",
};

/// `SKULL_MEM_LEAK_EXIT_CODE`: the exit status of a process the leak check fails.
pub const LEAK_EXIT_CODE: Setting = Setting {
    name: "leak-exit-code",
    title: "leak exit code",
    env: Some(c"SKULL_MEM_LEAK_EXIT_CODE"),
    value: Value::Number {
        default: 23,
        min: 1,
        max: 255,
        unit: "(exit status)",
    },
    meaning: "exit status of a process the leak check fails, LeakSanitizer's by default \
              (`skull-mem run --leak-exit-code`)",
};

/// `SKULL_MEM_LEAK_SUPPRESSIONS`: LeakSanitizer-style suppressions.
pub const LEAK_SUPPRESSIONS: Setting = Setting {
    name: "leak-suppressions",
    title: "leak suppressions file",
    env: Some(c"SKULL_MEM_LEAK_SUPPRESSIONS"),
    value: Value::File,
    meaning: "`leak:<pattern>` lines: lost blocks whose stack has a function, file or library \
              matching a pattern (`*` any text) are not counted (`skull-mem run --suppressions`)",
};

/// `SKULL_MEM_LEAK_JSON`: where each process appends its leak check as a JSON line.
pub const LEAK_JSON: Setting = Setting {
    name: "leak-json",
    title: "leak report file",
    env: Some(c"SKULL_MEM_LEAK_JSON"),
    value: Value::File,
    meaning: "each checked process appends its leak report to this file as one JSON line \
              (`skull-mem run --json`)",
};

/// Bytes of a scope name (without the NUL the scope table stores).
pub const SCOPE_NAME_BYTES: Setting = Setting {
    name: "scope-name-bytes",
    title: "scope name",
    env: None,
    value: Value::Limit {
        min: 1,
        max: NAME_MAX as u64 - 1,
        unit: "bytes",
    },
    meaning: "length of a scope's name, in bytes of UTF-8",
};

/// Bytes of a scope kind (without the NUL).
pub const SCOPE_KIND_BYTES: Setting = Setting {
    name: "scope-kind-bytes",
    title: "scope kind",
    env: None,
    value: Value::Limit {
        min: 1,
        max: KIND_MAX as u64 - 1,
        unit: "bytes",
    },
    meaning: "length of a scope's kind, in bytes of UTF-8",
};

/// Every setting and limit; the README lists those with a variable, in this order.
pub const SETTINGS: [&Setting; 14] = [
    &SEGMENT_DIR,
    &TRACE,
    &TRACE_SAMPLE_BYTES,
    &TRACE_DEPTH,
    &CACHE,
    &TRACE_MEMORY,
    &BINARY_DIR,
    &LEAK_CHECK,
    &LEAK_FAIL_ABOVE,
    &LEAK_EXIT_CODE,
    &LEAK_SUPPRESSIONS,
    &LEAK_JSON,
    &SCOPE_NAME_BYTES,
    &SCOPE_KIND_BYTES,
];

/// The setting or limit called `name`.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .copied()
        .find(|setting| setting.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_variables_are_unique_and_variables_are_skull_mem_s() {
        for (i, a) in SETTINGS.iter().enumerate() {
            for b in &SETTINGS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert!(a.env.is_none() || a.env != b.env, "{}", a.name);
            }
            if let Some(env) = a.env_name() {
                assert!(env.starts_with("SKULL_MEM_"), "{env}");
            }
            assert_eq!(find(a.name), Some(*a));
        }
        assert_eq!(find("nothing"), None);
    }

    #[test]
    fn defaults_lie_within_the_bounds() {
        for setting in SETTINGS {
            if let Value::Number {
                default, min, max, ..
            } = setting.value
            {
                assert!(min <= default && default <= max, "{}", setting.name);
            }
        }
    }
}
