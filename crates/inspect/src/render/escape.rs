//! Text from a measured process, made safe for a terminal. Scope names, kinds, command lines
//! and frame names are chosen by whoever runs that process — maybe another user — and a raw
//! `\e]0;...\a` or `\e[2J` in them would retitle or clear the terminal of whoever reads them,
//! a newline would forge table lines, and a bidi override (U+202E) would reorder what follows.
//! Every renderer passes such text through `escape`, and so do the `Display`s of the reader's
//! and tracing's errors, which quote paths, command lines and scope names; JSON carries the
//! text exactly.
//!
//! What is escaped is what Rust's `Debug` escapes in the middle of a string (control and
//! format characters, line and paragraph separators, spaces other than ' ', unassigned and
//! private-use code points), plus the backslash, so an escaped text reads back unambiguously.
//! Everything else — letters of any script, combining marks, emoji — is left as it is.

use std::borrow::Cow;
use std::fmt::Write;
use std::path::Path;

/// `text` with every character a terminal could act on shown visibly: `\e` (escape), `\n`,
/// `\r`, `\t`, `\0`, `\\`, other C0 controls and DEL as `\x7f`, anything else as `\u{202e}`.
/// The result is one line, and only printable characters remain.
pub fn escape(text: &str) -> Cow<'_, str> {
    if text.chars().all(shown_as_is) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\x1b' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if shown_as_is(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// A path, escaped (`escape`), lossy where it is not UTF-8.
pub fn escape_path(path: &Path) -> String {
    escape(&path.to_string_lossy()).into_owned()
}

/// JSON text with every non-ASCII character `escape` would escape, and DEL, written as a `\u`
/// escape: safe on a terminal, and it parses to exactly the same values. `json` is what a
/// serializer wrote, so its control characters below 0x20 are escaped already or are the
/// line breaks of its layout.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let kept = |c: char| (c.is_ascii() && c != '\x7f') || shown_as_is(c);
    if json.chars().all(kept) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if kept(c) {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is printed as it is.
fn shown_as_is(c: char) -> bool {
    match c {
        '\\' => false,
        ' '..='~' => true,
        // C0 controls, DEL and the C1 controls (0x9b is a one-byte CSI to many terminals).
        c if (c as u32) < 0xa0 => false,
        c => {
            // `str::escape_debug` leaves a grapheme extender alone unless it starts the
            // string (documented), so after an 'a' it escapes exactly the unprintable.
            let mut buf = [0u8; 5];
            buf[0] = b'a';
            let len = 1 + c.encode_utf8(&mut buf[1..]).len();
            std::str::from_utf8(&buf[..len])
                .map(|pair| pair.escape_debug().nth(1) == Some(c))
                .unwrap_or(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in [
            "session-cache",
            "/srv/app.js:3",
            "café",
            "Grüße 日本 😀",
            "e\u{301}",
        ] {
            assert!(
                matches!(escape(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn controls_are_shown_visibly() {
        assert_eq!(escape("\x1b]0;OWNED\x07\x1b[2J"), "\\e]0;OWNED\\x07\\e[2J");
        assert_eq!(escape("a\nb\r\tc\0"), "a\\nb\\r\\tc\\0");
        assert_eq!(escape("del\x7f"), "del\\x7f");
        assert_eq!(escape("csi\u{9b}31m"), "csi\\u{9b}31m");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
    }

    #[test]
    fn format_characters_that_reorder_or_hide_text_are_shown_visibly() {
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        for c in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(escape(&c.to_string()), format!("\\u{{{:x}}}", c as u32));
        }
        // zero-width space, left-to-right mark, byte order mark, line separator, soft hyphen
        for c in [
            '\u{200b}',
            '\u{200e}',
            '\u{feff}',
            '\u{2028}',
            '\u{ad}',
            '\u{e0041}',
        ] {
            assert_eq!(escape(&c.to_string()), format!("\\u{{{:x}}}", c as u32));
        }
    }

    #[test]
    fn json_escapes_parse_back_to_the_same_text() {
        let name = "\u{1b}[2J\u{7f}\u{9b}evil\u{202e}txt\u{e0041}é\\";
        let json = serde_json::to_string(&name).unwrap();
        let escaped = escape_json(&json);
        assert_eq!(
            escaped,
            r#""\u001b[2J\u007f\u009bevil\u202etxt\udb40\udc41é\\""#
        );
        assert_eq!(serde_json::from_str::<String>(&escaped).unwrap(), name);
        assert!(matches!(
            escape_json("{\n  \"a\": \"b\"\n}"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escaped_text_holds_only_printable_characters() {
        let every: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let escaped = escape(&every);
        assert!(escaped.chars().all(|c| shown_as_is(c) || c == '\\'));
        assert!(!escaped.contains('\n'));
    }
}
