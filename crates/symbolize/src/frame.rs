//! The result of symbolization: one source-level frame of a captured address.

use std::fmt;

/// One frame. An address inside inlined code gives several frames, innermost first; all but
/// the last are `inlined`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function name, or `None` when nothing is known (printed as `??`).
    pub function: Option<String>,
    /// Source file as recorded in the debug info (or the script of a JIT frame).
    pub file: Option<String>,
    /// 1-based source line.
    pub line: Option<u32>,
    /// 1-based source column, when the debug info has one.
    pub column: Option<u32>,
    /// The module the address belongs to: file name of the ELF file, `[vdso]`, or the perf map
    /// for JIT code.
    pub module: String,
    /// Where the address is in its module, for the `??` case: the link-time address (`svma`,
    /// what `addr2line -e <module>` takes) for ELF files; the file offset when the file cannot
    /// be read; the offset from the start of the code object or mapping otherwise.
    pub module_offset: u64,
    /// Whether this frame was inlined into the next one.
    pub inlined: bool,
    /// For JIT code: what its line means, or that nothing names it.
    pub jit: Option<Jit>,
}

/// What is known of a frame in JIT-compiled code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Jit {
    /// Named with the line that executes at the address, from the JIT's line table (V8's
    /// jitdump: `node --perf-prof`).
    Line,
    /// Named, but its line is where its function is defined (V8's perf map:
    /// `node --perf-basic-prof`; or code V8 wrote no line table for, such as interpreted code).
    FunctionLine,
    /// Executable memory of no file, and the process writes no JIT map that could name it.
    Unnamed,
}

impl Jit {
    /// `line`, `function_line` or `unnamed` (stable in JSON).
    pub fn name(self) -> &'static str {
        match self {
            Jit::Line => "line",
            Jit::FunctionLine => "function_line",
            Jit::Unnamed => "unnamed",
        }
    }
}

impl Frame {
    /// A frame about which nothing but the module and offset is known.
    pub fn unknown(module: &str, module_offset: u64) -> Frame {
        Frame {
            function: None,
            file: None,
            line: None,
            column: None,
            module: module.to_string(),
            module_offset,
            inlined: false,
            jit: None,
        }
    }
}

/// `leak_here at /src/app.c:42 (app)`, `malloc (libc.so.6)` or `?? (libfoo.so+0x1234)`.
impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.function {
            Some(function) => write!(f, "{function}")?,
            None => write!(f, "??")?,
        }
        if let Some(file) = &self.file {
            write!(f, " at {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        if self.function.is_none() && self.file.is_none() {
            write!(f, " ({}+{:#x})", self.module, self.module_offset)
        } else {
            write!(f, " ({})", self.module)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_function_file_line_and_module() {
        let frame = Frame {
            function: Some("leak_here".into()),
            file: Some("/src/app.c".into()),
            line: Some(42),
            column: Some(7),
            module: "app".into(),
            module_offset: 0x1139,
            inlined: false,
            jit: None,
        };
        assert_eq!(frame.to_string(), "leak_here at /src/app.c:42 (app)");
    }

    #[test]
    fn prints_unknown_frames_with_module_and_offset() {
        assert_eq!(
            Frame::unknown("libfoo.so", 0x1234).to_string(),
            "?? (libfoo.so+0x1234)"
        );
        let symbol_only = Frame {
            function: Some("malloc".into()),
            ..Frame::unknown("libc.so.6", 0x99)
        };
        assert_eq!(symbol_only.to_string(), "malloc (libc.so.6)");
    }
}
