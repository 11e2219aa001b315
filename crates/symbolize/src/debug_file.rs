//! Separate debug info: distributions strip libraries and ship their DWARF in a `-dbg` package
//! under `/usr/lib/debug`, found by build-id or by the `.gnu_debuglink` file name.

use object::Object;
use std::path::{Path, PathBuf};

/// Where the debug file of `file` (opened from `path`) may be, best first. `root` is the
/// process's root directory (`/proc/<pid>/root`) so a container's own debug files are tried
/// before the host's.
pub fn candidates(file: &object::File<'_>, path: &Path, root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.join("usr/lib/debug")];
    if root != Path::new("/") {
        dirs.push(PathBuf::from("/usr/lib/debug"));
    }
    let mut found = Vec::new();
    if let Ok(Some(id)) = file.build_id() {
        if id.len() > 1 {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            for dir in &dirs {
                found.push(dir.join(format!(".build-id/{}/{}.debug", &hex[..2], &hex[2..])));
            }
        }
    }
    if let Ok(Some((name, _crc))) = file.gnu_debuglink() {
        if let (Ok(name), Some(parent)) = (std::str::from_utf8(name), path.parent()) {
            found.push(parent.join(name));
            found.push(parent.join(".debug").join(name));
            // The debug tree mirrors the file's directory as seen inside the process's root.
            let inside = parent.strip_prefix(root).unwrap_or(parent);
            let inside = inside.strip_prefix("/").unwrap_or(inside);
            for dir in &dirs {
                found.push(dir.join(inside).join(name));
            }
        }
    }
    // A debuglink naming the file itself would only load the stripped file again.
    found.retain(|candidate| candidate != path);
    found
}
