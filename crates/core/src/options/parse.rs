//! The one parser of setting values: whole numbers within a setting's bounds, and
//! `SKULL_MEM_TRACE`. Allocation-free and panic-free, since start-up runs it inside the first
//! malloc; the CLIs and the API reach the same code through the binding.

use core::fmt;

use super::{text, Setting, Value, TRACE, TRACE_DEPTH, TRACE_SAMPLE_BYTES};
use crate::trace::control::TraceConfig;

/// A value its setting refuses. Its `Display` is the one message every front end shows, so
/// it names neither a variable nor an option: `trace sample size must be a whole number from
/// 0 to 1099511627775 bytes (got "2000000000000")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingError<'a> {
    /// The setting that refuses the value; for a trace setting, the part at fault (sample
    /// size or depth), or the whole setting when its form is wrong.
    pub setting: &'static Setting,
    /// The text refused.
    pub got: &'a [u8],
}

impl fmt::Display for SettingError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = self.setting.title;
        match self.setting.value {
            Value::Number { .. } | Value::Limit { .. } => {
                write!(f, "{title} must be a whole number from ")?;
                text::range(f, self.setting.value)?;
            }
            Value::Trace => write!(
                f,
                "{title} must be \"all\" or a sample size in bytes, optionally followed by \
                 \":<depth>\""
            )?,
            Value::Directory { .. } => write!(f, "{title} is a directory, not a number")?,
            Value::File => write!(f, "{title} is a file, not a number")?,
            Value::Choice { .. } => {
                write!(f, "{title} must be one of ")?;
                text::choices(f, self.setting.value)?;
            }
        }
        write!(f, " (got \"{}\")", self.got.escape_ascii())
    }
}

impl std::error::Error for SettingError<'_> {}

/// `text` as a value of the number setting `setting`: decimal digits only, within its bounds.
pub fn parse_number<'a>(
    setting: &'static Setting,
    text: &'a [u8],
) -> Result<u64, SettingError<'a>> {
    let refused = SettingError { setting, got: text };
    let (Value::Number { min, max, .. } | Value::Limit { min, max, .. }) = setting.value else {
        return Err(refused);
    };
    if text.is_empty() {
        return Err(refused);
    }
    let mut value: u64 = 0;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return Err(refused);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(byte - b'0')))
            .ok_or(refused)?;
    }
    if value < min || value > max {
        return Err(refused);
    }
    Ok(value)
}

/// `text` as a word of the choice setting `setting`.
pub fn parse_choice<'a>(
    setting: &'static Setting,
    text: &'a [u8],
) -> Result<&'static str, SettingError<'a>> {
    let refused = SettingError { setting, got: text };
    let Value::Choice { choices, .. } = setting.value else {
        return Err(refused);
    };
    choices
        .iter()
        .copied()
        .find(|choice| choice.as_bytes() == text)
        .ok_or(refused)
}

/// A `SKULL_MEM_TRACE` value: `all` or a sample size in bytes (`TRACE_SAMPLE_BYTES`), then
/// optionally `:` and a depth (`TRACE_DEPTH`, by default its maximum).
pub fn parse_trace(text: &[u8]) -> Result<TraceConfig, SettingError<'_>> {
    let form = SettingError {
        setting: &TRACE,
        got: text,
    };
    let (mode, depth) = match text.iter().position(|&b| b == b':') {
        Some(colon) => (&text[..colon], Some(&text[colon + 1..])),
        None => (text, None),
    };
    let digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    let sample_bytes = match mode {
        b"all" => 0,
        mode if digits(mode) => parse_number(&TRACE_SAMPLE_BYTES, mode)?,
        _ => return Err(form),
    };
    let depth = match depth {
        None => TRACE_DEPTH.value.default_number().unwrap_or(1),
        Some(depth) if digits(depth) => parse_number(&TRACE_DEPTH, depth)?,
        Some(_) => return Err(form),
    };
    Ok(TraceConfig {
        depth: depth as usize,
        sample_bytes,
        scoped: false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{CACHE, SEGMENT_DIR};
    use super::*;
    use crate::trace::control::{MAX_DEPTH, MAX_SAMPLE_BYTES};

    fn config(sample_bytes: u64, depth: usize) -> TraceConfig {
        TraceConfig {
            depth,
            sample_bytes,
            scoped: false,
        }
    }

    #[test]
    fn numbers_within_bounds_parse_and_others_are_refused() {
        assert_eq!(parse_number(&CACHE, b"0"), Ok(0));
        assert_eq!(parse_number(&CACHE, b"1048576"), Ok(1048576));
        assert_eq!(parse_number(&CACHE, b"000176"), Ok(176));
        for bad in [
            &b""[..],
            b"1048577",
            b"-1",
            b"+1",
            b" 1",
            b"1k",
            b"99999999999999999999999",
        ] {
            assert_eq!(
                parse_number(&CACHE, bad),
                Err(SettingError {
                    setting: &CACHE,
                    got: bad
                })
            );
        }
        assert!(parse_number(&SEGMENT_DIR, b"1").is_err());
    }

    #[test]
    fn trace_settings_take_all_or_a_sample_size_and_a_depth() {
        assert_eq!(parse_trace(b"all"), Ok(config(0, MAX_DEPTH)));
        assert_eq!(parse_trace(b"all:1"), Ok(config(0, 1)));
        assert_eq!(parse_trace(b"524288:8"), Ok(config(524288, 8)));
        assert_eq!(parse_trace(b"0"), Ok(config(0, MAX_DEPTH)));
        assert_eq!(
            parse_trace(b"1099511627775:32"),
            Ok(config(MAX_SAMPLE_BYTES, 32))
        );
    }

    #[test]
    fn a_sample_size_past_the_control_word_is_refused_not_truncated() {
        let error = parse_trace(b"2000000000000").unwrap_err();
        assert_eq!(error.setting, &TRACE_SAMPLE_BYTES);
        assert_eq!(
            error.to_string(),
            "trace sample size must be a whole number from 0 to 1099511627775 bytes \
             (got \"2000000000000\")"
        );
        assert_eq!(
            parse_trace(b"1099511627776").unwrap_err().setting,
            &TRACE_SAMPLE_BYTES
        );
    }

    #[test]
    fn depths_out_of_bounds_are_refused() {
        for bad in [&b"all:0"[..], b"all:33", b"4096:99999999999999999999999"] {
            let error = parse_trace(bad).unwrap_err();
            assert_eq!(error.setting, &TRACE_DEPTH, "{}", bad.escape_ascii());
        }
        assert_eq!(
            parse_trace(b"all:0").unwrap_err().to_string(),
            "trace depth must be a whole number from 1 to 32 frames (got \"0\")"
        );
    }

    #[test]
    fn garbage_is_refused_as_a_whole() {
        for bad in [
            &b""[..],
            b"some",
            b"ALL",
            b"12x",
            b"1:",
            b":8",
            b"all:8:8",
            b"all:x",
            b"-5",
        ] {
            let error = parse_trace(bad).unwrap_err();
            assert_eq!(
                error,
                SettingError {
                    setting: &TRACE,
                    got: bad
                }
            );
        }
        assert_eq!(
            parse_trace(b"al\x01l").unwrap_err().to_string(),
            "trace setting must be \"all\" or a sample size in bytes, optionally followed by \
             \":<depth>\" (got \"al\\x01l\")"
        );
    }
}
