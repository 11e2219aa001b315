//! Symbol names as people read them: C++ (Itanium ABI) and Rust (legacy and v0) demangling.

use gimli::DwLang;
use std::borrow::Cow;

/// Demangles `name` for `language` (from DWARF), or guesses the scheme from the name when the
/// language is unknown (symbol tables carry none). Names that are not mangled come back as is.
pub fn demangle(name: &str, language: Option<DwLang>) -> String {
    // Rust legacy names look like C++ (`_ZN...E`): with a language the scheme is certain; without
    // one, Rust is tried first, which rejects C++ names it cannot read.
    match addr2line::demangle_auto(Cow::Borrowed(name), language) {
        Cow::Borrowed(same) => same.to_string(),
        Cow::Owned(demangled) => demangled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demangles_cpp_rust_legacy_and_rust_v0() {
        assert_eq!(demangle("_Z4leaki", None), "leak(int)");
        assert_eq!(demangle("_Znwm", None), "operator new(unsigned long)");
        assert_eq!(
            demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE", None),
            "core::ptr::drop_in_place"
        );
        assert_eq!(demangle("_RNvCs1234_7mycrate4leak", None), "mycrate::leak");
        assert_eq!(demangle("leak_here", None), "leak_here");
        assert_eq!(demangle("_Zgarbage", None), "_Zgarbage");
    }
}
