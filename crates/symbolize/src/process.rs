//! What the symbolizer needs to know about one target process: its mappings, its root
//! directory (containers see other files at the same paths) and its JIT maps (jitdump, perf map).

use crate::error::Error;
use crate::frame::Frame;
use crate::jitdump::JitDump;
use crate::maps::{Backing, Mapping, ProcessMaps};
use crate::perf_map::PerfMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;

/// A target process, as seen from outside it.
#[derive(Debug, Clone)]
pub struct Process {
    pid: Option<u32>,
    maps: ProcessMaps,
    perf_map: Option<PerfMap>,
    jitdump: Option<JitDump>,
}

impl Process {
    /// Reads the maps of `pid` and the JIT maps it writes (jitdump, perf map).
    pub fn attach(pid: u32) -> Result<Process, Error> {
        let mut process = Process {
            pid: Some(pid),
            maps: ProcessMaps::read(pid)?,
            perf_map: PerfMap::read(pid)?,
            jitdump: None,
        };
        process.jitdump = JitDump::find(&process);
        Ok(process)
    }

    /// A process known only by its maps (parsed from text in tests, or captured earlier):
    /// files are opened at their plain paths.
    pub fn from_maps(maps: ProcessMaps) -> Process {
        Process {
            pid: None,
            maps,
            perf_map: None,
            jitdump: None,
        }
    }

    /// Adds the JIT perf map to use for anonymous executable code.
    pub fn with_perf_map(mut self, perf_map: PerfMap) -> Process {
        self.perf_map = Some(perf_map);
        self
    }

    /// Adds the jitdump to use for anonymous executable code (before the perf map).
    pub fn with_jitdump(mut self, jitdump: JitDump) -> Process {
        self.jitdump = Some(jitdump);
        self
    }

    /// Re-reads maps and JIT maps of an attached process: libraries opened and code compiled
    /// since `attach` become known. Loaded modules stay cached in the `Symbolizer`.
    pub fn refresh(&mut self) -> Result<(), Error> {
        if let Some(pid) = self.pid {
            *self = Process::attach(pid)?;
        }
        Ok(())
    }

    /// The process id, when attached to a live process.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The mappings.
    pub fn maps(&self) -> &ProcessMaps {
        &self.maps
    }

    /// The perf map, if there is one.
    pub fn perf_map(&self) -> Option<&PerfMap> {
        self.perf_map.as_ref()
    }

    /// The jitdump, if there is one.
    pub fn jitdump(&self) -> Option<&JitDump> {
        self.jitdump.as_ref()
    }

    /// The frame of JIT code at `address`: from the jitdump, which has lines, else from the
    /// perf map.
    pub fn jit_frame(&self, address: u64) -> Option<Frame> {
        let dump = self.jitdump.as_ref().and_then(|dump| dump.lookup(address));
        dump.or_else(|| self.perf_map.as_ref()?.lookup(address))
    }

    /// Whether the process writes a JIT map (jitdump or perf map).
    pub fn has_jit_map(&self) -> bool {
        self.jitdump.is_some() || self.perf_map.is_some()
    }

    /// The process's root directory as a path for us: `/proc/<pid>/root` when we may read it.
    pub fn root(&self) -> PathBuf {
        match self.pid {
            Some(pid) => {
                let root = PathBuf::from(format!("/proc/{pid}/root"));
                if root.join(".").metadata().is_ok() {
                    root
                } else {
                    PathBuf::from("/")
                }
            }
            None => PathBuf::from("/"),
        }
    }

    /// The bytes of the vDSO, the kernel's ELF image mapped into every process: the target's
    /// own through `/proc/<pid>/mem` when we may read it (ptrace access), else ours, which the
    /// same kernel made from the same image.
    pub fn vdso_image(&self, mapping: &Mapping) -> Result<Vec<u8>, Error> {
        let size = mapping.end - mapping.start;
        // A vDSO is a few pages; a garbage maps line must not make us allocate its size.
        if size > 1 << 20 {
            return Err(Error::Io {
                path: PathBuf::from("[vdso]"),
                message: format!("a {size}-byte vDSO is not plausible"),
            });
        }
        let theirs = self
            .pid
            .map(|pid| (format!("/proc/{pid}/mem"), mapping.start));
        let ours = ProcessMaps::read(std::process::id())
            .ok()
            .and_then(|maps| {
                let vdso = maps.mappings().iter().find(|m| m.name() == "[vdso]")?;
                (vdso.end - vdso.start == size).then_some(vdso.start)
            })
            .map(|start| ("/proc/self/mem".to_string(), start));
        let mut last_error = Error::Io {
            path: PathBuf::from("[vdso]"),
            message: "no vDSO of this size to read".into(),
        };
        for (path, start) in theirs.into_iter().chain(ours) {
            let mut image = vec![0; size as usize];
            let read = std::fs::File::open(&path).and_then(|f| f.read_exact_at(&mut image, start));
            match read {
                Ok(()) => return Ok(image),
                Err(e) => {
                    last_error = Error::Io {
                        path: PathBuf::from(path),
                        message: e.to_string(),
                    }
                }
            }
        }
        Err(last_error)
    }

    /// Paths at which the file behind `mapping` may be opened, best first: the one whose
    /// inode is the mapped one, trying the process's root, its `map_files` entry (the only
    /// way to reach a deleted file) and the plain path.
    pub fn file_candidates(&self, mapping: &Mapping) -> Vec<PathBuf> {
        let Backing::File { path, deleted } = &mapping.backing else {
            return Vec::new();
        };
        let mut paths = Vec::new();
        if let Some(pid) = self.pid {
            paths.push(PathBuf::from(format!("/proc/{pid}/root{path}")));
            if *deleted {
                let range = format!("{:x}-{:x}", mapping.start, mapping.end);
                paths.push(PathBuf::from(format!("/proc/{pid}/map_files/{range}")));
            }
        }
        // A deleted file's path now names another file (an upgraded library) or nothing.
        if !deleted {
            paths.push(PathBuf::from(path));
        }
        // Overlay filesystems may report other inodes than maps does, so a path whose inode
        // differs is kept, after the matching ones.
        let matches = |p: &PathBuf| p.metadata().is_ok_and(|m| m.ino() == mapping.inode);
        let (mut best, rest): (Vec<_>, Vec<_>) = paths.into_iter().partition(matches);
        best.extend(rest);
        best
    }
}
