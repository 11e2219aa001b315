//! Every text skull-mem prints about a process, from one table formatter (`table`): the
//! memory table (`memory`), the diff of two snapshots (`diff`) and the `ps` list (`ps`).

pub mod diff;
pub mod memory;
pub mod ps;
pub mod table;
