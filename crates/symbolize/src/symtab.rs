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
    /// Collects the defined function symbols of `.symtab` and `.dynsym` of every file given
    /// (the module and its separate debug file); duplicates are dropped.
    pub fn from_objects(objects: &[&object::File<'_>]) -> SymbolTable {
        let mut symbols: Vec<Symbol> = objects
            .iter()
            .flat_map(|file| file.symbols().chain(file.dynamic_symbols()))
            .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
            .filter_map(|s| {
                Some(Symbol {
                    address: s.address(),
                    size: s.size(),
                    name: s.name().ok()?.to_string(),
                })
            })
            .collect();
        // Of several names at one address keep the largest, then the first by name, so the
        // pick does not depend on table order.
        symbols.sort_by(|a, b| (a.address, b.size, &a.name).cmp(&(b.address, a.size, &b.name)));
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
