//! Addresses to frames, with every module loaded once and kept for later reports.

use crate::error::Error;
use crate::frame::{Frame, Jit};
use crate::maps::{Backing, Mapping};
use crate::module::Module;
use crate::process::Process;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How to read a captured address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A return address from a stack: the call is the instruction before it, so `address - 1`
    /// is looked up (the return address itself may already be on the next line, or past the
    /// end of a function that ends in a call to a `noreturn` function).
    ReturnAddress,
    /// An exact instruction address, such as a function pointer or a sampled program counter.
    Exact,
}

/// The identity of a file on disk, so one library mapped by many processes, or under several
/// names, is loaded once, and a file replaced in place is loaded again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileId {
    dev: u64,
    inode: u64,
    size: u64,
    mtime: i64,
}

/// A mapping as seen in one process: enough to skip the path search on the next address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MappingKey {
    pid: Option<u32>,
    path: String,
    dev: String,
    inode: u64,
}

/// Turns addresses of processes into frames. Keep one for as long as reports are made: loading
/// a module (parsing its DWARF) costs far more than looking addresses up in it.
///
/// What it learns is kept for its lifetime: modules, the frames of every address looked up
/// (memory grows with the number of distinct addresses), and modules that failed to load
/// (not retried; make a new `Symbolizer` to retry).
#[derive(Default)]
pub struct Symbolizer {
    modules: Vec<Result<Module, Error>>,
    by_file: HashMap<FileId, usize>,
    by_mapping: HashMap<MappingKey, usize>,
    // Stacks repeat from report to report; a frame list is worked out once per module address.
    frames: HashMap<(usize, u64), Vec<Frame>>,
}

impl Symbolizer {
    /// An empty symbolizer; modules load on first use.
    pub fn new() -> Symbolizer {
        Symbolizer::default()
    }

    /// The frames at `address` of `process`, innermost first. Never empty: what is not known
    /// is a `??` frame naming the module and offset.
    pub fn symbolize(&mut self, process: &Process, address: u64, lookup: Lookup) -> Vec<Frame> {
        let probe = probe(address, lookup);
        match self.try_symbolize(process, address, lookup) {
            Ok(frames) => frames,
            Err(_) => match process.maps().find(probe) {
                Some(mapping) => vec![Frame::unknown(mapping.name(), file_offset(mapping, probe))],
                None => vec![Frame::unknown("[unmapped]", probe)],
            },
        }
    }

    /// Like [`Symbolizer::symbolize`], but says why an address cannot be symbolized at all:
    /// it is in no mapping, or its module cannot be opened or parsed.
    pub fn try_symbolize(
        &mut self,
        process: &Process,
        address: u64,
        lookup: Lookup,
    ) -> Result<Vec<Frame>, Error> {
        let probe = probe(address, lookup);
        let mapping = process.maps().find(probe);
        let jit = || process.jit_frame(probe);
        let Some(mapping) = mapping else {
            return jit().map(|f| vec![f]).ok_or(Error::Unmapped { address });
        };
        let index = match &mapping.backing {
            Backing::File { path, .. } => self.module_index(process, mapping, path),
            Backing::Special(name) if name == "[vdso]" => self.vdso_index(process, mapping),
            _ => {
                // Executable memory of no file is JIT code; without a JIT map nothing names it.
                let unnamed = mapping.execute
                    && mapping.backing == Backing::Anonymous
                    && !process.has_jit_map();
                let unknown = || Frame {
                    jit: unnamed.then_some(Jit::Unnamed),
                    ..Frame::unknown(mapping.name(), probe - mapping.start)
                };
                return Ok(vec![jit().unwrap_or_else(unknown)]);
            }
        };
        let module = self.modules[index].as_ref().map_err(Error::clone)?;
        let offset = file_offset(mapping, probe);
        let Some(svma) = module.svma(offset) else {
            return Ok(vec![Frame::unknown(module.name(), offset)]);
        };
        let frames = self
            .frames
            .entry((index, svma))
            .or_insert_with(|| module.frames(svma));
        Ok(frames.clone())
    }

    /// The frames at `file_offset` of the ELF file at `path` in the file system under `root`
    /// (a process's `/proc/<pid>/root`): for code no longer mapped, such as a library the
    /// process has unloaded. Never empty, as [`Symbolizer::symbolize`].
    pub fn symbolize_file(&mut self, root: &Path, path: &str, file_offset: u64) -> Vec<Frame> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let index = self.file_index(root, path, name);
        let Ok(module) = &self.modules[index] else {
            return vec![Frame::unknown(name, file_offset)];
        };
        let Some(svma) = module.svma(file_offset) else {
            return vec![Frame::unknown(module.name(), file_offset)];
        };
        self.frames
            .entry((index, svma))
            .or_insert_with(|| module.frames(svma))
            .clone()
    }

    /// The module of the file at `path` under `root` (or, failing that, as seen from here),
    /// loaded on first use.
    fn file_index(&mut self, root: &Path, path: &str, name: &str) -> usize {
        let inside = root.join(path.trim_start_matches('/'));
        let opened = [inside, PathBuf::from(path)]
            .into_iter()
            .find_map(|candidate| Some((candidate.metadata().ok()?, candidate)));
        let Some((meta, file)) = opened else {
            return self.push(Err(Error::Io {
                path: PathBuf::from(path),
                message: "no readable file at this path (in the process's root or ours)".into(),
            }));
        };
        let id = FileId {
            dev: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
        };
        if let Some(&index) = self.by_file.get(&id) {
            return index;
        }
        let index = self.push(Module::load(&file, name, root));
        self.by_file.insert(id, index);
        index
    }

    /// The module behind a file mapping, loaded on first use.
    pub fn module(&mut self, process: &Process, mapping: &Mapping) -> Result<&Module, Error> {
        let Backing::File { path, .. } = &mapping.backing else {
            return Err(Error::Io {
                path: PathBuf::from(mapping.name()),
                message: "not a file mapping".into(),
            });
        };
        let index = self.module_index(process, mapping, path);
        self.modules[index].as_ref().map_err(Error::clone)
    }

    /// Number of distinct module files loaded (or failed), for reports on the cache.
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    /// Number of distinct addresses whose frames are remembered.
    pub fn cached_addresses(&self) -> usize {
        self.frames.len()
    }

    fn module_index(&mut self, process: &Process, mapping: &Mapping, path: &str) -> usize {
        let key = MappingKey {
            pid: process.pid(),
            path: path.to_string(),
            dev: mapping.dev.clone(),
            inode: mapping.inode,
        };
        match self.by_mapping.get(&key) {
            Some(&index) => index,
            None => {
                let index = self.load(process, mapping, path);
                self.by_mapping.insert(key, index);
                index
            }
        }
    }

    fn vdso_index(&mut self, process: &Process, mapping: &Mapping) -> usize {
        let key = MappingKey {
            pid: process.pid(),
            path: "[vdso]".into(),
            dev: mapping.dev.clone(),
            inode: mapping.inode,
        };
        if let Some(&index) = self.by_mapping.get(&key) {
            return index;
        }
        let path = PathBuf::from("[vdso]");
        let module = process
            .vdso_image(mapping)
            .and_then(|image| Module::from_bytes(&image, &path, "[vdso]", &process.root()));
        let index = self.push(module);
        self.by_mapping.insert(key, index);
        index
    }

    fn load(&mut self, process: &Process, mapping: &Mapping, mapped_path: &str) -> usize {
        let candidates = process.file_candidates(mapping);
        let opened = candidates
            .iter()
            .find_map(|path| Some((path, path.metadata().ok()?)));
        let Some((path, meta)) = opened else {
            let path = candidates
                .into_iter()
                .next()
                .unwrap_or_else(|| PathBuf::from(mapped_path));
            return self.push(Err(Error::Io {
                path,
                message: "no readable file at this path (in the process's root or ours)".into(),
            }));
        };
        let id = FileId {
            dev: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
        };
        if let Some(&index) = self.by_file.get(&id) {
            return index;
        }
        let index = self.push(Module::load(path, mapping.name(), &process.root()));
        self.by_file.insert(id, index);
        index
    }

    fn push(&mut self, module: Result<Module, Error>) -> usize {
        self.modules.push(module);
        self.modules.len() - 1
    }
}

fn probe(address: u64, lookup: Lookup) -> u64 {
    match lookup {
        Lookup::ReturnAddress => address.saturating_sub(1),
        Lookup::Exact => address,
    }
}

fn file_offset(mapping: &Mapping, address: u64) -> u64 {
    // Wrapping: the offset comes from maps text, which may be garbage.
    (address - mapping.start).wrapping_add(mapping.offset)
}
