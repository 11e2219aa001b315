//! The options table for JavaScript: the settings and limits of `skull_mem_core::options`
//! and their parser, so that the CLIs and the API check values, and write `--help`, from
//! the table start-up reads, and refuse a value with the message start-up gives.

use napi::{Error, Result};
use napi_derive::napi;
use skull_mem_core::options::{self, Setting, SettingError, Value};

/// The `code` of the errors thrown here.
pub enum SettingCode {
    /// The value is refused by its setting (`BAD_SETTING`).
    BadSetting,
    /// No number setting has that name (`UNKNOWN_SETTING`).
    UnknownSetting,
}

impl AsRef<str> for SettingCode {
    fn as_ref(&self) -> &str {
        match self {
            SettingCode::BadSetting => "BAD_SETTING",
            SettingCode::UnknownSetting => "UNKNOWN_SETTING",
        }
    }
}

fn refused(error: SettingError<'_>) -> Error<SettingCode> {
    Error::new(SettingCode::BadSetting, error.to_string())
}

/// What values a setting takes.
#[napi(string_enum = "lowercase")]
pub enum SettingKind {
    /// A whole number from `min` to `max`, with a default.
    Number,
    /// A fixed bound on what a caller passes: `min` to `max`, nothing to set.
    Limit,
    /// A directory.
    Directory,
    /// `all` or a sample size in bytes, optionally `:<depth>`.
    Trace,
    /// One word of a fixed list (`bounds` lists them).
    Choice,
    /// A file.
    File,
}

/// One setting or limit of the table.
#[napi(object)]
pub struct SettingInfo {
    /// The stable name to pass to `checkSetting` (`cache`, `trace-depth`).
    pub name: String,
    /// What the value is, as messages name it (`cache size`).
    pub title: String,
    /// The environment variable that sets it, if any (`SKULL_MEM_CACHE`).
    pub env: Option<String>,
    /// What values it takes.
    pub kind: SettingKind,
    /// The default as shown to users (`32768`, `/dev/shm`, `off`); absent for a limit.
    pub default_value: Option<String>,
    /// The smallest number accepted (number settings and limits).
    pub min: Option<f64>,
    /// The largest number accepted (number settings and limits).
    pub max: Option<f64>,
    /// What the number counts: bytes, entries, frames.
    pub unit: Option<String>,
    /// The accepted values as shown to users (`0 to 1048576 bytes`, `any directory`).
    pub bounds: String,
    /// What it does, as the README's Environment table says it.
    pub meaning: String,
}

impl From<&'static Setting> for SettingInfo {
    fn from(setting: &'static Setting) -> Self {
        let (kind, range) = match setting.value {
            Value::Number { min, max, unit, .. } => (SettingKind::Number, Some((min, max, unit))),
            Value::Limit { min, max, unit } => (SettingKind::Limit, Some((min, max, unit))),
            Value::Directory { .. } => (SettingKind::Directory, None),
            Value::Trace => (SettingKind::Trace, None),
            Value::Choice { .. } => (SettingKind::Choice, None),
            Value::File => (SettingKind::File, None),
        };
        Self {
            name: setting.name.to_owned(),
            title: setting.title.to_owned(),
            env: setting.env_name().map(str::to_owned),
            kind,
            default_value: setting.default_text().map(|text| text.to_string()),
            min: range.map(|(min, _, _)| min as f64),
            max: range.map(|(_, max, _)| max as f64),
            unit: range.map(|(_, _, unit)| unit.to_owned()),
            bounds: setting.bounds_text().to_string(),
            meaning: setting.meaning.to_owned(),
        }
    }
}

/// Every setting and limit, in the table's order.
#[napi]
pub fn settings() -> Vec<SettingInfo> {
    options::SETTINGS
        .iter()
        .copied()
        .map(SettingInfo::from)
        .collect()
}

/// `text` as a value of the number setting or limit `name`.
///
/// Throws `BAD_SETTING` with the table's message when refused, `UNKNOWN_SETTING` when `name`
/// is no number setting.
#[napi]
pub fn check_setting(name: String, text: String) -> Result<f64, SettingCode> {
    let setting = options::find(&name)
        .filter(|setting| matches!(setting.value, Value::Number { .. } | Value::Limit { .. }))
        .ok_or_else(|| {
            Error::new(
                SettingCode::UnknownSetting,
                format!("skull-mem has no number setting named {name:?}"),
            )
        })?;
    options::parse_number(setting, text.as_bytes())
        .map(|value| value as f64)
        .map_err(refused)
}

/// How a `SKULL_MEM_TRACE` value traces.
#[napi(object)]
pub struct TraceSetting {
    /// Mean bytes between traced allocations; 0 traces every allocation.
    pub sample_bytes: f64,
    /// Frames recorded per stack.
    pub depth: u32,
}

/// Parses a `SKULL_MEM_TRACE` value (`all` or a sample size in bytes, optionally `:<depth>`)
/// as start-up does. Throws `BAD_SETTING` with start-up's message when refused.
#[napi]
pub fn parse_trace_setting(text: String) -> Result<TraceSetting, SettingCode> {
    let config = options::parse_trace(text.as_bytes()).map_err(refused)?;
    Ok(TraceSetting {
        sample_bytes: config.sample_bytes as f64,
        depth: config.depth as u32,
    })
}
