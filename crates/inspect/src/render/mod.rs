//! Every text skull-mem prints about a process, from one table formatter (`table`): the
//! memory table (`memory`), the diff of two snapshots (`diff`) and the `ps` list (`ps`); and
//! the one escaping of text from a measured process that every one of them uses (`escape`).

pub mod diff;
pub mod escape;
pub mod memory;
pub mod ps;
pub mod table;
