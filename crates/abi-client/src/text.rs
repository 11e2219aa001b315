//! Strings out of the fixed C arrays of `struct skull_scope_stats`.

/// The NUL-terminated text in `raw` (a scope's `name` or `kind`); a missing NUL takes the
/// whole array, and bytes that are not UTF-8 are replaced, since they come from another
/// library's memory.
pub fn c_text(raw: &[u8]) -> String {
    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::c_text;

    #[test]
    fn text_ends_at_the_first_nul_or_at_the_end_of_the_array() {
        assert_eq!(c_text(b"parser\0\0junk"), "parser");
        assert_eq!(c_text(b"module"), "module");
        assert_eq!(c_text(b"\0module"), "");
    }
}
