//! Tracing as text: the leak report (`skull-trace leaks`, the demo's ending), the report by
//! stack (`skull-trace report`, also folded for flame graphs), one event per line
//! (`skull-trace tail`) and the status (`skull-trace on`, `status`).

use super::events::TraceEvent;
use super::frames::Frame;
use super::leaks::{LeakReport, StackReport};
use super::status::TraceStatus;
use crate::render::table::fixed;

/// `off`, or `on: every allocation, stacks of up to 32 frames` and the like.
pub fn describe(status: &TraceStatus) -> String {
    if !status.enabled {
        return "off".to_owned();
    }
    let how = match status.sample_bytes {
        Some(bytes) if bytes != 0 => format!("sampling every {bytes} bytes on average"),
        _ => "every allocation".to_owned(),
    };
    let scoped = if status.scoped {
        " of the chosen scopes"
    } else {
        ""
    };
    format!(
        "on: {how}{scoped}, stacks of up to {} frames",
        status.depth.unwrap_or(0)
    )
}

/// `skull-trace status`: the state, then what was recorded, dropped and could be.
pub fn status_text(pid: u32, status: &TraceStatus) -> String {
    let c = &status.counts;
    format!(
        "tracing of process {pid} {}\n\
         {} allocations traced, {} freed, {} live; dropped (memory full): {} stacks, {} blocks\n\
         trace memory: {} of {} bytes used ({} committed); stacks {} nodes in {} bytes, \
         live blocks {} bytes\n",
        describe(status),
        c.traced_allocs,
        c.traced_frees,
        status.live_blocks,
        c.dropped_stacks,
        c.dropped_blocks,
        status.memory.used,
        status.memory.budget,
        status.memory.committed,
        status.memory.stack_nodes,
        status.memory.stack_bytes,
        status.memory.live_bytes
    )
}

fn push_frames(out: &mut Vec<String>, frames: &[Frame]) {
    for frame in frames {
        let inlined = if frame.inlined() { "(inlined) " } else { "" };
        out.push(format!("    {inlined}{}", frame.text));
    }
}

fn join(out: Vec<String>) -> String {
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The leak report: one block per stack, largest first.
pub fn leaks_text(report: &LeakReport) -> String {
    let s = &report.status;
    let tracing = if s.enabled {
        let sampling = match s.sample_bytes {
            Some(bytes) if bytes != 0 => format!("sampled every {bytes} bytes on average"),
            _ => "all allocations".to_owned(),
        };
        format!("on (depth {}, {sampling})", s.depth.unwrap_or(0))
    } else {
        "off".to_owned()
    };
    let mut out = vec![
        format!(
            "======== Skull Trace: live traced blocks of pid {} ========",
            report.pid
        ),
        format!(
            "tracing {tracing}; {} traced, {} freed, dropped: {} stacks, {} blocks",
            s.counts.traced_allocs,
            s.counts.traced_frees,
            s.counts.dropped_stacks,
            s.counts.dropped_blocks
        ),
    ];
    if report.groups.is_empty() {
        out.push("(no traced block is live)".to_owned());
    }
    for (rank, group) in report.groups.iter().enumerate() {
        out.push(String::new());
        out.push(format!(
            "#{}: {} bytes in {} block(s), scope {}, age {}-{} s",
            rank + 1,
            group.bytes,
            group.blocks,
            group.scopes.join(", "),
            fixed(group.newest_seconds, 1),
            fixed(group.oldest_seconds, 1)
        ));
        push_frames(&mut out, &group.frames);
    }
    if report.stacks > report.groups.len() {
        out.push(String::new());
        out.push(format!(
            "({} more stacks not shown)",
            report.stacks - report.groups.len()
        ));
    }
    join(out)
}

/// The report by stack, one block per stack.
pub fn stacks_text(report: &StackReport) -> String {
    let mut out = vec![format!(
        "======== Skull Trace: traced allocations of pid {} by stack ========",
        report.pid
    )];
    if report.by_stack.is_empty() {
        out.push("(nothing traced)".to_owned());
    }
    for (rank, entry) in report.by_stack.iter().enumerate() {
        out.push(String::new());
        out.push(format!(
            "#{}: {} bytes in {} allocation(s)",
            rank + 1,
            entry.bytes,
            entry.allocations
        ));
        push_frames(&mut out, &entry.frames);
    }
    join(out)
}

/// A frame's name for the folded format: its function (or the text of an unknown frame),
/// without the characters that format uses as separators.
fn folded_name(frame: &Frame) -> String {
    let name = frame
        .symbol
        .as_ref()
        .and_then(|symbol| symbol.function.as_deref())
        .unwrap_or(&frame.text);
    name.replace([';', '\n', ' '], "_")
}

/// The report in the folded-stack format flame graph tools read (`flamegraph.pl`,
/// speedscope, inferno): one line per stack, outermost frame first, `;`-separated, then
/// the bytes.
pub fn collapsed(report: &StackReport) -> String {
    report
        .by_stack
        .iter()
        .map(|entry| {
            let names: Vec<String> = entry.frames.iter().rev().map(folded_name).collect();
            format!("{} {}\n", names.join(";"), entry.bytes)
        })
        .collect()
}

/// One event as a line (no newline): `+` allocation or `-` free, size, address, scope,
/// thread, frames.
pub fn event_line(event: &TraceEvent) -> String {
    let where_: Vec<&str> = event
        .frames
        .iter()
        .map(|frame| frame.text.as_str())
        .collect();
    format!(
        "{} {} B {} scope {} thread {}  {}",
        if event.op == "alloc" { '+' } else { '-' },
        event.size,
        event.addr,
        event.scope,
        event.thread,
        where_.join(" < ")
    )
}
