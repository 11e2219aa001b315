//! One ELF file (executable or shared library), loaded once: its `PT_LOAD` segments to turn file
//! offsets into link-time addresses, its DWARF for file:line and inline frames, and its symbol
//! tables for names when there is no DWARF.

use crate::debug_file;
use crate::demangle::demangle;
use crate::error::Error;
use crate::frame::Frame;
use crate::symtab::SymbolTable;
use gimli::{EndianArcSlice, RunTimeEndian};
use object::{Object, ObjectSection, ObjectSegment};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Reader = EndianArcSlice<RunTimeEndian>;

/// A `PT_LOAD` segment: file bytes `[offset, offset + file_size)` are linked at `vaddr`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    offset: u64,
    file_size: u64,
    vaddr: u64,
}

/// A loaded ELF module.
pub struct Module {
    name: String,
    segments: Vec<Segment>,
    symbols: SymbolTable,
    dwarf: Option<addr2line::Context<Reader>>,
    dwarf_error: Option<String>,
    debug_path: Option<PathBuf>,
    demangled: RefCell<HashMap<String, String>>,
}

impl Module {
    /// Loads the ELF file at `path`, shown in frames as `name`. `root` is where the process's
    /// separate debug files are looked for first.
    pub fn load(path: &Path, name: &str, root: &Path) -> Result<Module, Error> {
        Module::from_bytes(&map_file(path)?, path, name, root)
    }

    /// Loads an ELF image already in memory, such as the vDSO copied out of a process; `path`
    /// names it in errors and is where its debug link is resolved.
    pub fn from_bytes(data: &[u8], path: &Path, name: &str, root: &Path) -> Result<Module, Error> {
        let file = parse(path, data)?;
        let segments: Vec<Segment> = file
            .segments()
            .map(|s| {
                let (offset, file_size) = s.file_range();
                Segment {
                    offset,
                    file_size,
                    vaddr: s.address(),
                }
            })
            .collect();
        if segments.is_empty() {
            return Err(Error::Elf {
                path: path.to_path_buf(),
                message: "no PT_LOAD segment".into(),
            });
        }
        let (debug_map, debug_path) = if has_dwarf(&file) {
            (None, None)
        } else {
            debug_file::candidates(&file, path, root)
                .into_iter()
                .find_map(|candidate| {
                    let map = map_file(&candidate).ok()?;
                    let debug = parse(&candidate, &map).ok()?;
                    // A debug file of another build would give wrong lines, not none.
                    if let (Ok(Some(ours)), Ok(Some(its))) = (file.build_id(), debug.build_id()) {
                        if ours != its {
                            return None;
                        }
                    }
                    Some((Some(map), Some(candidate)))
                })
                .unwrap_or((None, None))
        };
        let debug = match (&debug_map, &debug_path) {
            (Some(map), Some(debug_path)) => Some(parse(debug_path, map)?),
            _ => None,
        };
        let dwarf_file = debug.as_ref().unwrap_or(&file);
        // Corrupt DWARF loses file:line, not the names the symbol tables still give.
        let (dwarf, dwarf_error) = match has_dwarf(dwarf_file).then(|| load_dwarf(dwarf_file)) {
            Some(Ok(dwarf)) => (Some(dwarf), None),
            Some(Err(e)) => (None, Some(format!("bad DWARF: {e}"))),
            None => (None, None),
        };
        let mut objects = vec![&file];
        objects.extend(debug.as_ref());
        Ok(Module {
            name: name.to_string(),
            segments,
            symbols: SymbolTable::from_objects(&objects),
            dwarf,
            dwarf_error,
            debug_path,
            demangled: RefCell::default(),
        })
    }

    /// The name shown in frames.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The separate debug file in use, if the DWARF came from one.
    pub fn debug_path(&self) -> Option<&Path> {
        self.debug_path.as_deref()
    }

    /// Whether the module has DWARF line information (its own or a debug file's).
    pub fn has_dwarf(&self) -> bool {
        self.dwarf.is_some()
    }

    /// The link-time address (`svma`) of the byte at `file_offset`, from the `PT_LOAD` segment
    /// that holds it: the same for PIE, non-PIE and shared libraries.
    pub fn svma(&self, file_offset: u64) -> Option<u64> {
        let holds = |s: &&Segment| s.offset <= file_offset && file_offset - s.offset < s.file_size;
        // Mappings cover whole pages, so the bytes of the pages around a segment's unaligned
        // ends are mapped with it; they belong to that segment's mapping.
        let page = |s: &&Segment| {
            let end = s.offset.saturating_add(s.file_size).saturating_add(0xfff) & !0xfff;
            s.offset & !0xfff <= file_offset && file_offset < end
        };
        let segment = self
            .segments
            .iter()
            .find(holds)
            .or_else(|| self.segments.iter().find(page))?;
        Some(
            segment
                .vaddr
                .wrapping_add(file_offset.wrapping_sub(segment.offset)),
        )
    }

    /// The frames at `svma`, innermost first; never empty.
    pub fn frames(&self, svma: u64) -> Vec<Frame> {
        let (mut frames, unqualified) = self.dwarf_frames(svma);
        let symbol = || {
            self.symbols
                .lookup(svma)
                .map(|(name, _)| demangle(name, None))
        };
        match frames.last_mut() {
            Some(outer) if outer.function.is_none() => outer.function = symbol(),
            // A C++ function with no linkage name in DWARF (a lambda's `operator()`, a static
            // function, a `.constprop`/`.isra` clone) is named by its symbol, qualified and
            // with its clone suffix, as binutils and llvm-symbolizer name it.
            Some(outer) if unqualified => {
                if let Some(name) = symbol() {
                    outer.function = Some(name);
                }
            }
            Some(_) => {}
            None => frames.push(Frame {
                function: symbol(),
                ..Frame::unknown(&self.name, svma)
            }),
        }
        frames
    }

    /// Inlined helpers recur in most stacks of a Rust or C++ program, and demangling was a third
    /// of the lookup time of a new address, so each mangled name is demangled once.
    fn demangled(&self, raw: &str, language: Option<gimli::DwLang>) -> String {
        let mut names = self.demangled.borrow_mut();
        if let Some(name) = names.get(raw) {
            return name.clone();
        }
        let name = demangle(raw, language);
        names.insert(raw.to_string(), name.clone());
        name
    }

    /// The DWARF frames at `svma`, innermost first, and whether the outermost is a C++
    /// function DWARF gives only an unqualified name (`DW_AT_name`, no linkage name).
    fn dwarf_frames(&self, svma: u64) -> (Vec<Frame>, bool) {
        let Some(dwarf) = &self.dwarf else {
            return (Vec::new(), false);
        };
        let Ok(mut iter) = dwarf.find_frames(svma).skip_all_loads() else {
            return (Vec::new(), false);
        };
        let mut frames = Vec::new();
        let mut unqualified = false;
        while let Ok(Some(found)) = iter.next() {
            let raw = found.function.as_ref().and_then(|f| {
                let raw = f.raw_name().ok()?;
                Some((raw, f.language))
            });
            unqualified = raw
                .as_ref()
                .is_some_and(|(raw, language)| is_cpp(*language) && !raw.starts_with("_Z"));
            let function = raw.map(|(raw, language)| self.demangled(&raw, language));
            let location = found.location.as_ref();
            frames.push(Frame {
                function,
                file: location.and_then(|l| l.file).map(str::to_string),
                line: location.and_then(|l| l.line),
                column: location.and_then(|l| l.column),
                inlined: true,
                ..Frame::unknown(&self.name, svma)
            });
        }
        if let Some(outer) = frames.last_mut() {
            outer.inlined = false;
        }
        (frames, unqualified)
    }

    /// Why the module's DWARF could not be used, when it has some that is corrupt.
    pub fn dwarf_error(&self) -> Option<&str> {
        self.dwarf_error.as_deref()
    }

    /// Number of function symbols known from the symbol tables.
    pub fn symbol_count(&self) -> usize {
        self.symbols.count()
    }
}

fn map_file(path: &Path) -> Result<memmap2::Mmap, Error> {
    let io = |e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: the map is only read, and only while the module loads (`from_bytes` copies out
    // everything it keeps). A file truncated by another process meanwhile could fault, the risk every
    // mmap-based debugger accepts; binaries in use are replaced, not rewritten in place.
    unsafe { memmap2::Mmap::map(&file) }.map_err(io)
}

fn parse<'a>(path: &Path, data: &'a [u8]) -> Result<object::File<'a>, Error> {
    let file = object::File::parse(data).map_err(|e| Error::Elf {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(Error::Elf {
            path: path.to_path_buf(),
            message: "not ELF".into(),
        });
    }
    Ok(file)
}

fn has_dwarf(file: &object::File<'_>) -> bool {
    file.section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0)
}

/// Copies the DWARF sections into shared buffers so the context outlives the file map.
fn load_dwarf(file: &object::File<'_>) -> Result<addr2line::Context<Reader>, gimli::Error> {
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or_default();
        Ok(Reader::new(Arc::from(&*data), endian))
    })?;
    addr2line::Context::from_dwarf(dwarf)
}

/// Whether `language` is a dialect of C++ (whose linkage names are mangled).
fn is_cpp(language: Option<gimli::DwLang>) -> bool {
    matches!(
        language,
        Some(
            gimli::DW_LANG_C_plus_plus
                | gimli::DW_LANG_C_plus_plus_03
                | gimli::DW_LANG_C_plus_plus_11
                | gimli::DW_LANG_C_plus_plus_14
                | gimli::DW_LANG_C_plus_plus_17
                | gimli::DW_LANG_C_plus_plus_20
        )
    )
}
