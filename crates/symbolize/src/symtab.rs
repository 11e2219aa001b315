//! Function names from the ELF symbol tables (`.symtab`, `.dynsym`): the answer when a module
//! has no DWARF, as for a stripped libc without its debug package.

use object::{Object, ObjectSymbol, SymbolKind};

/// One function symbol.
#[derive(Debug, Clone)]
struct Symbol {
    address: u64,
    size: u64,
    name: String,
}

/// Function symbols sorted by address.
#[derive(Debug, Default)]
pub struct SymbolTable {
    symbols: Vec<Symbol>,
}

impl SymbolTable {
    /// Collects the defined function symbols of the `.symtab` of every file given (the module
    /// and its separate debug file), then of their `.dynsym`.
    pub fn from_objects(objects: &[&object::File<'_>]) -> SymbolTable {
        let tables = objects.iter().map(|file| file.symbols());
        let dynamic = objects.iter().map(|file| file.dynamic_symbols());
        let mut symbols: Vec<Symbol> = tables
            .flatten()
            .chain(dynamic.flatten())
            // Not `is_definition()`: object does not count GNU ifuncs (memcpy, strlen...) as such.
            .filter(|s| s.kind() == SymbolKind::Text && !s.is_undefined() && s.address() != 0)
            .filter_map(|s| {
                Some(Symbol {
                    address: s.address(),
                    size: s.size(),
                    name: s.name().ok()?.to_string(),
                })
            })
            .collect();
        // Of several names at one address keep the largest, then the first in table order, as
        // binutils does (`__GI_xdr_uint32_t` over `xdr_uint32_t` in libc): the stable sort
        // keeps table order among equals.
        symbols.sort_by_key(|s| (s.address, std::cmp::Reverse(s.size)));
        symbols.dedup_by(|later, first| later.address == first.address);
        SymbolTable { symbols }
    }

    /// The function containing `svma`: the nearest symbol at or below it, if its size covers the
    /// address (or it has no size, as hand-written assembly often has not).
    pub fn lookup(&self, svma: u64) -> Option<(&str, u64)> {
        let after = self.symbols.partition_point(|s| s.address <= svma);
        let symbol = self.symbols[..after].last()?;
        let covers = symbol.size == 0 || svma < symbol.address.saturating_add(symbol.size);
        covers.then_some((symbol.name.as_str(), symbol.address))
    }

    /// Number of function symbols.
    pub fn count(&self) -> usize {
        self.symbols.len()
    }
}
