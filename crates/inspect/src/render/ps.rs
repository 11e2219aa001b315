//! The `skull-mem ps` table: every live measured process the caller may read.

use std::path::Path;

use serde::Serialize;
use skull_mem_core::snapshot::{live_blocks, used_bytes};

use super::escape::{escape, escape_path};
use super::table::{human_bytes, Column, Table};
use crate::reader::{self, ReadError, Reading};

/// One process of `skull-mem ps` (field names stable in `--json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PsRow {
    /// The process.
    pub pid: u32,
    /// Its command line, from the segment header.
    pub command: String,
    /// Bytes allocated and not yet freed, over all scopes.
    pub used_bytes: u64,
    /// Blocks allocated and not yet freed.
    pub live_blocks: u64,
    /// Registered scopes.
    pub scopes: usize,
    /// Threads holding a counter block.
    pub threads: Option<usize>,
    /// Whether tracing is on.
    pub tracing: bool,
    /// The library version in the process.
    pub library_version: String,
    /// The segment file.
    pub segment: String,
}

impl PsRow {
    /// The row of one reading.
    pub fn of(reading: &Reading) -> PsRow {
        let totals = reading.snapshot.totals();
        PsRow {
            pid: reading.info.pid,
            command: reading.info.command_line.clone(),
            used_bytes: used_bytes(&totals),
            live_blocks: live_blocks(&totals),
            scopes: reading.snapshot.scopes.len(),
            threads: reading.snapshot.threads,
            tracing: reading.info.control != 0,
            library_version: reading.info.library_version.clone(),
            segment: reading.info.path.to_string_lossy().into_owned(),
        }
    }
}

/// A segment `ps` could not read, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// `ReadError::code`.
    pub code: &'static str,
    /// `ReadError`'s one-line message.
    pub message: String,
}

/// What `skull-mem ps` lists (`--json` prints it as is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PsListing {
    /// The segment directory.
    pub dir: String,
    /// Live measured processes the caller may read, by pid.
    pub processes: Vec<PsRow>,
    /// Segments of ended processes removed.
    pub removed: Vec<String>,
    /// Segments that could not be read.
    pub unreadable: Vec<Unreadable>,
}

impl PsListing {
    /// The table, or a line saying how to start a process with skull-mem when there is none.
    pub fn table(&self) -> String {
        ps_table(&self.processes, Path::new(&self.dir))
    }
}

/// Lists the measured processes in `dir`, removing the segments of processes that have
/// ended (see `reader::scan`).
pub fn ps(dir: &Path) -> Result<PsListing, ReadError> {
    let scan = reader::scan(dir, true)?;
    Ok(PsListing {
        dir: dir.to_string_lossy().into_owned(),
        processes: scan.live.iter().map(PsRow::of).collect(),
        removed: scan
            .removed
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect(),
        unreadable: scan
            .unreadable
            .iter()
            .map(|error| Unreadable {
                code: error.code(),
                message: error.to_string(),
            })
            .collect(),
    })
}

/// The table of `rows`, or a line saying how to start a process with skull-mem when there
/// is none in `dir`.
pub fn ps_table(rows: &[PsRow], dir: &Path) -> String {
    let mut table = Table::new(vec![
        Column::right("PID", 8),
        Column::right("USED", 12),
        Column::right("SCOPES", 6),
        Column::right("TRACE", 5),
        Column::left("COMMAND", 0).after("  "),
    ]);
    for row in rows {
        table.row(vec![
            row.pid.to_string(),
            human_bytes(row.used_bytes as i64),
            row.scopes.to_string(),
            if row.tracing { "on" } else { "off" }.to_owned(),
            escape(&row.command).into_owned(),
        ]);
    }
    let mut lines = table.lines(false);
    if rows.is_empty() {
        lines.push(format!(
            "(no process runs with skull-mem in {}; start one with `skull-mem run -- <command>`)",
            escape_path(dir)
        ));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_says_how_to_start_a_process() {
        assert_eq!(
            ps_table(&[], Path::new("/dev/shm")),
            "     PID         USED SCOPES TRACE  COMMAND\n\
             (no process runs with skull-mem in /dev/shm; start one with `skull-mem run -- <command>`)\n"
        );
    }
}
