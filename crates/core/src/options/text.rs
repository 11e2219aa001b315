//! A setting's default and bounds as users read them, in `--help`, the README and messages.

use core::fmt;

use super::{Setting, Value, TRACE_DEPTH, TRACE_SAMPLE_BYTES};

/// A setting's default: `32768`, `/dev/shm`, `off`.
#[derive(Clone, Copy, Debug)]
pub struct DefaultText(&'static Setting);

impl DefaultText {
    pub(super) fn of(setting: &'static Setting) -> Option<Self> {
        (!matches!(setting.value, Value::Limit { .. })).then_some(Self(setting))
    }
}

impl fmt::Display for DefaultText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.value {
            Value::Number { default, .. } => write!(f, "{default}"),
            Value::Directory { default } | Value::Choice { default, .. } => f.write_str(default),
            Value::File => f.write_str("none"),
            Value::Trace | Value::Limit { .. } => f.write_str("off"),
        }
    }
}

/// The values a setting accepts: `0 to 1048576 bytes`, `any directory`.
#[derive(Clone, Copy, Debug)]
pub struct BoundsText(&'static Setting);

impl BoundsText {
    pub(super) fn of(setting: &'static Setting) -> Self {
        Self(setting)
    }
}

/// `<min> to <max> <unit>` of a number setting.
pub(super) fn range(f: &mut fmt::Formatter<'_>, value: Value) -> fmt::Result {
    match value {
        Value::Number { min, max, unit, .. } | Value::Limit { min, max, unit } => {
            write!(f, "{min} to {max} {unit}")
        }
        Value::Directory { .. } | Value::Choice { .. } | Value::File | Value::Trace => Ok(()),
    }
}

/// The words of a choice setting, comma-separated (without allocating: start-up uses it).
pub(super) fn choices(f: &mut fmt::Formatter<'_>, value: Value) -> fmt::Result {
    if let Value::Choice { choices, .. } = value {
        for (index, choice) in choices.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            f.write_str(choice)?;
        }
    }
    Ok(())
}

impl fmt::Display for BoundsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.value {
            Value::Directory { .. } => return f.write_str("any directory"),
            Value::File => return f.write_str("any file"),
            value @ Value::Choice { .. } => return choices(f, value),
            Value::Trace => {}
            value => return range(f, value),
        }
        f.write_str("sample ")?;
        range(f, TRACE_SAMPLE_BYTES.value)?;
        f.write_str(", depth ")?;
        range(f, TRACE_DEPTH.value)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CACHE, SCOPE_NAME_BYTES, SEGMENT_DIR, TRACE};

    fn texts(setting: &'static super::Setting) -> (Option<String>, Option<String>) {
        (
            setting.default_text().map(|t| t.to_string()),
            Some(setting.bounds_text().to_string()),
        )
    }

    #[test]
    fn defaults_and_bounds_read_as_the_readme_shows_them() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(texts(&CACHE), (some("32768"), some("0 to 1048576 bytes")));
        assert_eq!(
            texts(&SEGMENT_DIR),
            (some("/dev/shm"), some("any directory"))
        );
        assert_eq!(
            texts(&TRACE),
            (
                some("off"),
                some("sample 0 to 1099511627775 bytes, depth 1 to 32 frames")
            )
        );
        assert_eq!(texts(&SCOPE_NAME_BYTES), (None, some("1 to 47 bytes")));
    }
}
