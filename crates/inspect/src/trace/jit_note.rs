//! What a report says once about its JavaScript frames: that their lines are where functions
//! are defined (V8 gave no line table: `node --perf-basic-prof`, or code still interpreted), or,
//! when JIT code is unnamed because the process writes no JIT map, which node flags name it.

use serde::Serialize;
use std::str::FromStr;

use super::frames::Frame;

/// The note about a report's JIT frames (`jit_note` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JitNote {
    /// Some frames show the line where their JavaScript function is defined.
    FunctionLines,
    /// Some frames are in JIT code that no map names.
    Unnamed,
}

impl JitNote {
    /// The note for a report showing `frames`, if one is due. A process writes a JIT map or
    /// not, so both are never due at once.
    pub fn of<'a>(frames: impl IntoIterator<Item = &'a Frame>) -> Option<JitNote> {
        frames
            .into_iter()
            .filter_map(|frame| match frame.symbol.as_ref()?.jit? {
                "function_line" => Some(JitNote::FunctionLines),
                "unnamed" => Some(JitNote::Unnamed),
                _ => None,
            })
            .min_by_key(|note| *note as u8)
    }

    /// `function_lines` or `unnamed` (stable in JSON).
    pub fn name(self) -> &'static str {
        match self {
            JitNote::FunctionLines => "function_lines",
            JitNote::Unnamed => "unnamed",
        }
    }

    /// The line a text report prints.
    pub fn text(self) -> &'static str {
        match self {
            JitNote::FunctionLines => {
                "note: JavaScript frames without a V8 line table (from node --perf-basic-prof's \
                 /tmp/perf-<pid>.map, or interpreted and baseline code) show the line where \
                 their function is defined, not the line that allocated; node --perf-prof \
                 --interpreted-frames-native-stack names the allocating line of optimized code"
            }
            JitNote::Unnamed => {
                "hint: frames in JIT code are unnamed: the process writes no JIT map; run node \
                 with --perf-prof --interpreted-frames-native-stack (functions and the lines \
                 that allocated) or --perf-basic-prof (functions)"
            }
        }
    }
}

impl FromStr for JitNote {
    type Err = String;

    fn from_str(text: &str) -> Result<JitNote, String> {
        match text {
            "function_lines" => Ok(JitNote::FunctionLines),
            "unnamed" => Ok(JitNote::Unnamed),
            _ => Err(format!("unknown JIT note {text:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::frames::Symbol;

    fn frame(jit: Option<&'static str>) -> Frame {
        Frame {
            index: 0,
            address: "0x10".into(),
            symbol: Some(Symbol {
                function: Some("JS:*leak".into()),
                file: Some("/srv/app.js".into()),
                line: Some(7),
                module: "jit-1.dump".into(),
                inlined: false,
                jit,
            }),
            text: "JS:*leak at /srv/app.js:7 (jit-1.dump)".into(),
        }
    }

    #[test]
    fn one_note_for_the_frames_whose_line_is_their_function_s_or_that_nothing_names() {
        let lines = [frame(Some("line")), frame(None)];
        assert_eq!(JitNote::of(&lines), None);
        let mixed = [
            frame(Some("line")),
            frame(Some("function_line")),
            frame(None),
        ];
        assert_eq!(JitNote::of(&mixed), Some(JitNote::FunctionLines));
        assert_eq!(
            JitNote::of(&[frame(Some("unnamed"))]),
            Some(JitNote::Unnamed)
        );
        for note in [JitNote::FunctionLines, JitNote::Unnamed] {
            assert_eq!(note.name().parse(), Ok(note));
        }
        assert!("lines".parse::<JitNote>().is_err());
    }
}
