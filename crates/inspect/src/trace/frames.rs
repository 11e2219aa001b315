//! A recorded stack, symbolized: one entry per frame, inlined frames before the frame they
//! are inlined in.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use skull_mem_core::trace::modules::UnloadedModule;
use skull_mem_symbolize::{Jit, Lookup, Process, Symbolizer};

use super::grouping::Sites;
use super::progress::{thousands, Progress};

/// What the symbolizer found for a frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Symbol {
    /// Demangled function name.
    pub function: Option<String>,
    /// Source file.
    pub file: Option<String>,
    /// 1-based source line.
    pub line: Option<u32>,
    /// The module the address belongs to.
    pub module: String,
    /// Whether this frame was inlined into the next one.
    pub inlined: bool,
    /// For JIT code: `line` (the line executing), `function_line` (where the function is
    /// defined) or `unnamed` (no JIT map names it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jit: Option<&'static str>,
}

/// One frame of a stack (field names stable in `--json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// Position in the recorded stack, innermost 0 (inlined frames share it).
    pub index: usize,
    /// The return address, `0x...`.
    pub address: String,
    /// What is known of it; absent when the process could not be read.
    #[serde(flatten)]
    pub symbol: Option<Symbol>,
    /// `function at file:line (module)`, or `?? (module+offset)`, or `?? (address)`.
    pub text: String,
}

impl Frame {
    /// Whether this frame was inlined into the next one.
    pub fn inlined(&self) -> bool {
        self.symbol.as_ref().is_some_and(|symbol| symbol.inlined)
    }
}

/// The frames of one return address, before they are numbered by their place in a stack.
fn address_frames(
    symbolizer: &mut Symbolizer,
    process: Option<&Process>,
    unloaded: &[UnloadedModule],
    address: u64,
) -> Vec<Frame> {
    // Every address of a recorded stack is a return address, the innermost included
    // (where malloc returns to).
    let resolved = match process {
        Some(process) => unloaded_frames(symbolizer, process, unloaded, address)
            .unwrap_or_else(|| symbolizer.symbolize(process, address, Lookup::ReturnAddress)),
        None => Vec::new(),
    };
    if resolved.is_empty() {
        return vec![Frame {
            index: 0,
            address: format!("{address:#x}"),
            symbol: None,
            text: format!("?? ({address:#x})"),
        }];
    }
    resolved
        .into_iter()
        .map(|frame| Frame {
            index: 0,
            address: format!("{address:#x}"),
            text: frame.to_string(),
            symbol: Some(Symbol {
                function: frame.function,
                file: frame.file,
                line: frame.line,
                module: frame.module,
                inlined: frame.inlined,
                jit: frame.jit.map(Jit::name),
            }),
        })
        .collect()
}

/// The frames of a return address in no mapping of the process any more but in an object it
/// unloaded (the most recent one there, should several have been).
fn unloaded_frames(
    symbolizer: &mut Symbolizer,
    process: &Process,
    unloaded: &[UnloadedModule],
    address: u64,
) -> Option<Vec<skull_mem_symbolize::Frame>> {
    let probe = address.checked_sub(1)?;
    if process.maps().find(probe).is_some() {
        return None;
    }
    let (module, range) = unloaded
        .iter()
        .rev()
        .find_map(|module| Some((module, module.range_of(probe)?)))?;
    let path = String::from_utf8_lossy(&module.path);
    let offset = probe - range.start + range.offset;
    Some(symbolizer.symbolize_file(&process.root(), &path, offset))
}

/// Symbolizes the stacks of one report, each distinct address once: stacks share most of
/// their frames, and a report may have 100,000 of them.
pub struct StackSymbols<'a> {
    symbolizer: &'a mut Symbolizer,
    process: Option<&'a Process>,
    unloaded: &'a [UnloadedModule],
    known: FxHashMap<u64, (Vec<Frame>, Sites)>,
}

impl<'a> StackSymbols<'a> {
    /// Symbolizes stacks of `process` (`None`: it could not be attached, so addresses only),
    /// which unloaded the objects `unloaded` (from its segment).
    pub fn new(
        symbolizer: &'a mut Symbolizer,
        process: Option<&'a Process>,
        unloaded: &'a [UnloadedModule],
    ) -> Self {
        StackSymbols {
            symbolizer,
            process,
            unloaded,
            known: FxHashMap::default(),
        }
    }

    /// The frames of return address `address`, and their sites, symbolized on first use.
    fn known(&mut self, address: u64) -> &(Vec<Frame>, Sites) {
        self.known.entry(address).or_insert_with(|| {
            let frames = address_frames(self.symbolizer, self.process, self.unloaded, address);
            let sites = Sites::of(&frames);
            (frames, sites)
        })
    }

    /// Symbolizes the distinct return addresses `addresses` not known yet, in address order
    /// (the addresses of one object are looked up together). With `progress`, says how far it
    /// is on a terminal (see `progress`).
    pub fn prepare(&mut self, addresses: &[u64], progress: bool) {
        let mut fresh: Vec<u64> = addresses
            .iter()
            .copied()
            .filter(|address| !self.known.contains_key(address))
            .collect();
        fresh.sort_unstable();
        let objects: FxHashSet<&str> = match (progress, self.process) {
            (true, Some(process)) => fresh
                .iter()
                .filter_map(|&address| process.maps().find(address.checked_sub(1)?))
                .map(|mapping| mapping.name())
                .collect(),
            _ => FxHashSet::default(),
        };
        let what = format!(
            "skull-trace: symbolizing {} addresses in {} objects",
            thousands(fresh.len()),
            thousands(objects.len())
        );
        let mut progress = Progress::new(progress, what, fresh.len());
        for (done, &address) in fresh.iter().enumerate() {
            self.known(address);
            progress.update(done);
        }
    }

    /// The sites of return address `address`, once symbolized (`prepare`, `stack`).
    pub fn sites(&self, address: u64) -> Option<&Sites> {
        self.known.get(&address).map(|(_, sites)| sites)
    }

    /// The frames of the return addresses `stack`, innermost first.
    pub fn stack(&mut self, stack: &[u64]) -> Vec<Frame> {
        let mut out = Vec::new();
        for (index, &address) in stack.iter().enumerate() {
            let (frames, _) = self.known(address);
            out.extend(frames.iter().map(|frame| Frame {
                index,
                ..frame.clone()
            }));
        }
        out
    }
}

/// Symbolizes the return addresses `stack` of `process` (`None`: it could not be attached,
/// so addresses only), which unloaded the objects `unloaded`.
pub fn symbolize_stack(
    symbolizer: &mut Symbolizer,
    process: Option<&Process>,
    unloaded: &[UnloadedModule],
    stack: &[u64],
) -> Vec<Frame> {
    StackSymbols::new(symbolizer, process, unloaded).stack(stack)
}
