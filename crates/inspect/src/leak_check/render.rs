//! The leak check as text, on the exiting process's stderr: totals first, then the lost
//! blocks by stack, then the still-reachable ones (by stack only with `--leak-check=full`).

use super::{LeakCheck, Tally};
use crate::trace::leaks::LeakGroup;

fn tally_text(tally: &Tally) -> String {
    format!(
        "{} bytes in {} block(s) at {} site(s)",
        tally.bytes, tally.blocks, tally.sites
    )
}

fn push_group(out: &mut Vec<String>, rank: usize, what: &str, group: &LeakGroup) {
    out.push(String::new());
    out.push(format!(
        "#{rank} {what}: {} bytes in {} block(s), scope {}",
        group.bytes,
        group.blocks,
        group.scopes.join(", ")
    ));
    for frame in &group.frames {
        let inlined = if frame.inlined() { "(inlined) " } else { "" };
        out.push(format!("    {inlined}{}", frame.text));
    }
}

/// The report: `======== skull-mem leak check: pid 42 (./app) ========`, the totals, and
/// the blocks by stack.
pub fn check_text(check: &LeakCheck) -> String {
    let mut out = vec![
        format!(
            "======== skull-mem leak check: pid {} ({}) ========",
            check.pid, check.executable
        ),
        format!("lost: {}", tally_text(&check.lost)),
        format!("still reachable: {}", tally_text(&check.reachable)),
    ];
    for suppressed in &check.suppressed {
        out.push(format!(
            "suppressed by leak:{}: {}",
            suppressed.pattern,
            tally_text(&suppressed.tally)
        ));
    }
    if check.untraced_blocks > 0 {
        out.push(format!(
            "not checked: {} block(s) the trace tables had no room for",
            check.untraced_blocks
        ));
    }
    for (rank, group) in check.lost_sites.iter().enumerate() {
        push_group(&mut out, rank + 1, "lost", group);
    }
    for (rank, group) in check.reachable_sites.iter().enumerate() {
        push_group(&mut out, rank + 1, "still reachable", group);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}
