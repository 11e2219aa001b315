//! What makes two recorded stacks one leak: the same return addresses (`stack`), the same
//! symbolized call sites (`line`, the default: function and file:line of every frame), or the
//! same functions (`function`). By line, one leak is not split by the different return
//! addresses a line can have (a loop unrolled, two calls on one line) or by the tier V8
//! compiled a JavaScript function to.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use super::frames::Frame;

/// How `leaks` groups live blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupBy {
    /// By recorded return addresses.
    Stack,
    /// By function and file:line of each symbolized frame.
    #[default]
    Line,
    /// By function of each symbolized frame.
    Function,
}

impl GroupBy {
    /// Every choice, as `--group-by` names them.
    pub const NAMES: [&'static str; 3] = ["stack", "line", "function"];

    /// The name of this choice (`stack`, `line`, `function`).
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Stack => "stack",
            GroupBy::Line => "line",
            GroupBy::Function => "function",
        }
    }

    /// Adds to a stack's key what identifies the frame at return address `address`, whose
    /// symbolized frames have the sites `sites`.
    pub fn extend_key(self, key: &mut Vec<u64>, address: u64, sites: &Sites) {
        match self {
            GroupBy::Stack => key.push(address),
            GroupBy::Line => key.extend_from_slice(&sites.lines),
            GroupBy::Function => key.extend_from_slice(&sites.functions),
        }
    }
}

/// What identifies the frames of one return address (inlined frames first): hashes of
/// function and file:line, and of function alone. Worked out once per address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sites {
    /// By function and file:line.
    pub lines: Vec<u64>,
    /// By function.
    pub functions: Vec<u64>,
}

impl Sites {
    /// The sites of the frames of one return address.
    pub fn of(frames: &[Frame]) -> Sites {
        Sites {
            lines: frames.iter().map(|frame| site(frame, true)).collect(),
            functions: frames.iter().map(|frame| site(frame, false)).collect(),
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GroupBy {
    type Err = String;

    fn from_str(text: &str) -> Result<GroupBy, String> {
        match text {
            "stack" => Ok(GroupBy::Stack),
            "line" => Ok(GroupBy::Line),
            "function" => Ok(GroupBy::Function),
            _ => Err(format!(
                "group-by must be one of {} (got \"{text}\")",
                GroupBy::NAMES.join(", ")
            )),
        }
    }
}

/// V8 marks the tier a JavaScript function was compiled to in its perf-map name
/// (`JS:~f` interpreted, `JS:^f` baseline, `JS:+f` Maglev, `JS:*f` TurboFan): one function.
fn without_tier(function: &str) -> (&str, &str) {
    match function.split_at_checked(3) {
        // Node 24 marks code specialized to one context with a `'` after the tier.
        Some(("JS:", rest)) => match rest.strip_prefix(['~', '^', '+', '*']) {
            Some(name) => ("JS:", name.strip_prefix('\'').unwrap_or(name)),
            None => ("JS:", rest),
        },
        _ => ("", function),
    }
}

/// A hash of what identifies a frame's call site: function (and, with `lines`, file:line);
/// a frame nothing is known of is its text (module and offset, or its address).
fn site(frame: &Frame, lines: bool) -> u64 {
    let mut hasher = DefaultHasher::new();
    match frame
        .symbol
        .as_ref()
        .filter(|s| s.function.is_some() || s.file.is_some())
    {
        Some(symbol) => {
            symbol
                .function
                .as_deref()
                .map(without_tier)
                .hash(&mut hasher);
            if lines {
                symbol.file.hash(&mut hasher);
                symbol.line.hash(&mut hasher);
            }
            symbol.inlined.hash(&mut hasher);
        }
        None => frame.text.hash(&mut hasher),
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::frames::Symbol;

    fn frame(address: &str, function: &str, line: u32) -> Frame {
        Frame {
            index: 0,
            address: address.into(),
            symbol: Some(Symbol {
                function: Some(function.into()),
                file: Some("/srv/app.js".into()),
                line: Some(line),
                module: "perf-1.map".into(),
                inlined: false,
                jit: Some("function_line"),
            }),
            text: format!("{function} at /srv/app.js:{line} (perf-1.map)"),
        }
    }

    #[test]
    fn tiers_of_one_js_function_and_addresses_of_one_line_are_one_site() {
        let interpreted = [frame("0x10", "JS:~leak", 3)];
        let optimized = [frame("0x99", "JS:*leak", 3)];
        let other_line = [frame("0x99", "JS:*leak", 4)];
        let key = |by: GroupBy, frames: &[Frame]| {
            let mut key = Vec::new();
            by.extend_key(&mut key, 0x10, &Sites::of(frames));
            key
        };
        assert_eq!(
            key(GroupBy::Line, &interpreted),
            key(GroupBy::Line, &optimized)
        );
        assert_ne!(
            key(GroupBy::Line, &optimized),
            key(GroupBy::Line, &other_line)
        );
        assert_eq!(
            key(GroupBy::Function, &optimized),
            key(GroupBy::Function, &other_line)
        );
        assert_eq!(key(GroupBy::Stack, &optimized), vec![0x10]);
        assert_eq!(without_tier("JS:leak"), ("JS:", "leak"));
        assert_eq!(without_tier("JS:*'leak"), ("JS:", "leak"));
        assert_eq!(without_tier("main"), ("", "main"));
        assert_eq!("function".parse::<GroupBy>(), Ok(GroupBy::Function));
        assert!("lines".parse::<GroupBy>().is_err());
    }
}
