//! The inspect crate's escaping of text from elsewhere (`render::escape`), for what the CLIs
//! print themselves: their own error messages, and JSON.

use napi_derive::napi;
use skull_mem_inspect::render::escape;

/// `text` with every character a terminal could act on shown visibly (an escape as `\e`, a
/// bidi override as `\u{202e}`, ...), as every table and message of skull-mem shows names.
#[napi]
pub fn escape_text(text: String) -> String {
    escape::escape(&text).into_owned()
}

/// JSON text with the characters a terminal could act on written as `\u` escapes: it parses
/// to exactly the same values.
#[napi]
pub fn escape_json(json: String) -> String {
    escape::escape_json(&json).into_owned()
}
