//! Suppressions in LeakSanitizer's format: one `leak:<pattern>` a line, `#` comments and
//! blank lines ignored. A lost block is suppressed when a frame of its stack has a function,
//! source file or module (library) that the pattern matches: `*` matches any text, and the
//! pattern may match anywhere in the name unless anchored with `^` (start) or `$` (end).

use std::fmt;

use crate::trace::frames::Frame;

/// A line of a suppressions file that is not a suppression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionError {
    /// The 1-based line number.
    pub line: usize,
    /// The line as written.
    pub text: String,
}

impl fmt::Display for SuppressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: expected \"leak:<function or library pattern>\" (got \"{}\")",
            self.line, self.text
        )
    }
}

impl std::error::Error for SuppressionError {}

/// The patterns of a suppressions file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suppressions {
    /// The patterns, in file order.
    pub patterns: Vec<String>,
}

impl Suppressions {
    /// Parses the text of a suppressions file.
    pub fn parse(text: &str) -> Result<Suppressions, SuppressionError> {
        let mut patterns = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.strip_prefix("leak:").map(str::trim) {
                Some(pattern) if !pattern.is_empty() => patterns.push(pattern.to_owned()),
                _ => {
                    return Err(SuppressionError {
                        line: index + 1,
                        text: line.to_owned(),
                    })
                }
            }
        }
        Ok(Suppressions { patterns })
    }

    /// The first pattern that matches a frame of `frames`.
    pub fn matching(&self, frames: &[Frame]) -> Option<&str> {
        self.patterns
            .iter()
            .find(|pattern| {
                frames.iter().any(|frame| {
                    frame.symbol.as_ref().is_some_and(|symbol| {
                        let names = [
                            symbol.function.as_deref(),
                            symbol.file.as_deref(),
                            Some(symbol.module.as_str()),
                        ];
                        names
                            .into_iter()
                            .flatten()
                            .any(|name| matches(pattern, name))
                    })
                })
            })
            .map(String::as_str)
    }
}

/// Whether `pattern` (`*` wildcards, `^`/`$` anchors) matches `name`: an unanchored end is a
/// `*` there, then a plain wildcard match.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let (start, pattern) = match pattern.strip_prefix('^') {
        Some(rest) => ("", rest),
        None => ("*", pattern),
    };
    let (pattern, end) = match pattern.strip_suffix('$') {
        Some(rest) => (rest, ""),
        None => (pattern, "*"),
    };
    let glob: Vec<u8> = [start, pattern, end].concat().into_bytes();
    wildcard(&glob, name.as_bytes())
}

/// `*` matches any bytes, everything else itself; backtracks to the last `*` only, so linear
/// in practice.
fn wildcard(glob: &[u8], text: &[u8]) -> bool {
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if g < glob.len() && glob[g] == b'*' {
            star = Some((g, t));
            g += 1;
        } else if g < glob.len() && glob[g] == text[t] {
            g += 1;
            t += 1;
        } else if let Some((star_g, star_t)) = star {
            g = star_g + 1;
            t = star_t + 1;
            star = Some((star_g, star_t + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&byte| byte == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_leak_sanitizer_s() {
        assert!(matches("keep", "keep_forever"));
        assert!(matches("^keep", "keep_forever"));
        assert!(!matches("^forever", "keep_forever"));
        assert!(matches("forever$", "keep_forever"));
        assert!(!matches("keep$", "keep_forever"));
        assert!(matches("libfoo*.so", "/usr/lib/libfoo-1.2.so.3"));
        assert!(matches("^keep_forever$", "keep_forever"));
        assert!(!matches("^keep$", "keep_forever"));
    }

    #[test]
    fn a_file_is_leak_lines_comments_and_blanks() {
        let parsed = Suppressions::parse("# ours\n\nleak:lose_*\n  leak: libz.so \n").unwrap();
        assert_eq!(parsed.patterns, vec!["lose_*", "libz.so"]);
        assert_eq!(
            Suppressions::parse("leak:a\nrace:b\n"),
            Err(SuppressionError {
                line: 2,
                text: "race:b".to_owned()
            })
        );
    }
}
