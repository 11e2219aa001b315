//! `/proc/<pid>/maps`: where each module of a process is mapped, so that an absolute address
//! can be turned into a module and an offset in its file.

use crate::error::Error;

/// What backs a mapping. Only `File` mappings can be symbolized from an ELF file; anonymous
/// executable mappings are where JIT compilers (V8) put their code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// A file on disk; `deleted` when the kernel reports ` (deleted)` (replaced after mapping).
    File { path: String, deleted: bool },
    /// No name at all: heap from `mmap`, JIT code.
    Anonymous,
    /// A kernel-named region such as `[vdso]`, `[heap]`, `[stack]` or `[anon:name]`.
    Special(String),
}

/// One line of a maps file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address of the mapping.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Whether the mapping is readable, writable, executable (the `rwx` of `r-xp`).
    pub read: bool,
    /// See `read`.
    pub write: bool,
    /// See `read`.
    pub execute: bool,
    /// Offset in the backing file of `start`.
    pub offset: u64,
    /// Device and inode of the backing file (0 for anonymous mappings): with the path, they
    /// tell two files of the same name apart.
    pub dev: String,
    /// See `dev`.
    pub inode: u64,
    /// What the mapping maps.
    pub backing: Backing,
}

impl Mapping {
    /// Whether `address` is inside this mapping.
    pub fn contains(&self, address: u64) -> bool {
        self.start <= address && address < self.end
    }

    /// A short name for reports: the file name of the path, or the special name.
    pub fn name(&self) -> &str {
        match &self.backing {
            Backing::File { path, .. } => path.rsplit('/').next().unwrap_or(path),
            Backing::Anonymous => "[anon]",
            Backing::Special(name) => name,
        }
    }
}

/// The mappings of one process, sorted by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessMaps {
    mappings: Vec<Mapping>,
}

impl ProcessMaps {
    /// Reads `/proc/<pid>/maps`.
    pub fn read(pid: u32) -> Result<Self, Error> {
        let text =
            std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| Error::Process {
                pid,
                message: e.to_string(),
            })?;
        Self::parse(&text)
    }

    /// Parses the text of a maps file; the first malformed line is the error.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut mappings = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| parse_line(line).map_err(|reason| malformed(index, line, reason)))
            .collect::<Result<Vec<_>, _>>()?;
        mappings.sort_by_key(|m| m.start);
        Ok(ProcessMaps { mappings })
    }

    /// All mappings, sorted by start address.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The executable mappings: code of modules, the vDSO and JIT code.
    pub fn executable(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.iter().filter(|m| m.execute)
    }

    /// The mapping that contains `address`, if any.
    pub fn find(&self, address: u64) -> Option<&Mapping> {
        let after = self.mappings.partition_point(|m| m.start <= address);
        let candidate = self.mappings[..after].last()?;
        candidate.contains(address).then_some(candidate)
    }
}

fn malformed(index: usize, line: &str, reason: &'static str) -> Error {
    Error::MapsLine {
        line: index + 1,
        text: line.to_string(),
        reason,
    }
}

/// Splits off the next space-separated field; the rest keeps its inner spaces (paths may have them).
fn field(rest: &str) -> (&str, &str) {
    let rest = rest.trim_start_matches(' ');
    rest.split_once(' ').unwrap_or((rest, ""))
}

fn hex(text: &str, reason: &'static str) -> Result<u64, &'static str> {
    u64::from_str_radix(text, 16).map_err(|_| reason)
}

fn parse_line(line: &str) -> Result<Mapping, &'static str> {
    let (range, rest) = field(line);
    let (perms, rest) = field(rest);
    let (offset, rest) = field(rest);
    let (dev, rest) = field(rest);
    let (inode, rest) = field(rest);
    let (start, end) = range.split_once('-').ok_or("no start-end range")?;
    let start = hex(start, "bad start address")?;
    let end = hex(end, "bad end address")?;
    if end < start {
        return Err("end before start");
    }
    let perms = perms.as_bytes();
    if perms.len() != 4 {
        return Err("permissions are not four characters");
    }
    if !dev.contains(':') {
        return Err("no major:minor device");
    }
    let inode = inode.parse().map_err(|_| "bad inode")?;
    Ok(Mapping {
        start,
        end,
        read: perms[0] == b'r',
        write: perms[1] == b'w',
        execute: perms[2] == b'x',
        offset: hex(offset, "bad offset")?,
        dev: dev.to_string(),
        inode,
        backing: backing(rest.trim()),
    })
}

fn backing(path: &str) -> Backing {
    if path.is_empty() {
        Backing::Anonymous
    } else if path.starts_with('[') {
        Backing::Special(path.to_string())
    } else if let Some(path) = path.strip_suffix(" (deleted)") {
        Backing::File {
            path: path.to_string(),
            deleted: true,
        }
    } else {
        Backing::File {
            path: path.to_string(),
            deleted: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c2a00000-55d0c2a01000 r--p 00000000 08:01 1234                       /usr/bin/my app
55d0c2a01000-55d0c2a02000 r-xp 00001000 08:01 1234                       /usr/bin/my app
7f0000000000-7f0000001000 r-xp 00002000 08:01 99 /tmp/libgone.so (deleted)
7f0000100000-7f0000200000 rwxp 00000000 00:00 0 
7ffd5e1f0000-7ffd5e1f2000 r-xp 00000000 00:00 0                          [vdso]
";

    #[test]
    fn parses_file_deleted_anonymous_and_vdso_mappings() {
        let maps = ProcessMaps::parse(MAPS).unwrap();
        assert_eq!(maps.mappings().len(), 5);
        assert_eq!(maps.executable().count(), 4);
        let app = maps.find(0x55d0c2a01800).unwrap();
        assert_eq!(app.offset, 0x1000);
        assert_eq!(app.inode, 1234);
        assert_eq!(
            app.backing,
            Backing::File {
                path: "/usr/bin/my app".into(),
                deleted: false
            }
        );
        assert_eq!(app.name(), "my app");
        let gone = maps.find(0x7f0000000010).unwrap();
        assert_eq!(
            gone.backing,
            Backing::File {
                path: "/tmp/libgone.so".into(),
                deleted: true
            }
        );
        assert_eq!(
            maps.find(0x7f0000100000).unwrap().backing,
            Backing::Anonymous
        );
        assert_eq!(maps.find(0x7ffd5e1f0001).unwrap().name(), "[vdso]");
    }

    #[test]
    fn addresses_outside_every_mapping_find_nothing() {
        let maps = ProcessMaps::parse(MAPS).unwrap();
        assert_eq!(maps.find(0), None);
        assert_eq!(maps.find(0x55d0c2a02000), None);
        assert_eq!(maps.find(u64::MAX), None);
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        for (text, reason) in [
            ("55d0c2a00000 r--p 0 08:01 1 /x", "no start-end range"),
            ("zz-55d0c2a01000 r--p 0 08:01 1 /x", "bad start address"),
            ("2000-1000 r--p 0 08:01 1 /x", "end before start"),
            (
                "1000-2000 r-p 0 08:01 1 /x",
                "permissions are not four characters",
            ),
            ("1000-2000 r--p 0 08:01", "bad inode"),
            ("1000-2000 r--p", "no major:minor device"),
        ] {
            let text = format!("1000-2000 r--p 0 08:01 1 /ok\n{text}\n");
            match ProcessMaps::parse(&text) {
                Err(Error::MapsLine {
                    line: 2, reason: r, ..
                }) => assert_eq!(r, reason),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}
