//! Tracing as text: the leak report (`skull-trace leaks`, the demo's ending), the report by
//! stack (`skull-trace report`, also folded for flame graphs), one event per line
//! (`skull-trace tail`) and the status (`skull-trace on`, `status`).

use super::estimate::Estimate;
use super::events::TraceEvent;
use super::frames::Frame;
use super::leaks::{LeakReport, StackReport};
use super::status::TraceStatus;
use super::untraced::Untraced;
use crate::render::escape::escape;
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
         live blocks {} bytes, running totals {} bytes\n",
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
        status.memory.live_bytes,
        status.memory.totals_bytes
    )
}

/// The frames of a stack, then a mark when it was cut at the recording depth.
fn push_frames(out: &mut Vec<String>, frames: &[Frame], truncated: bool) {
    for frame in frames {
        let inlined = if frame.inlined() { "(inlined) " } else { "" };
        out.push(format!("    {inlined}{}", escape(&frame.text)));
    }
    if truncated {
        out.push("    ... (truncated: the stack is deeper than --depth)".to_owned());
    }
}

/// `100000 bytes in 100 block(s)`, or for a sample
/// `~100000 bytes in ~1000 block(s) (estimated from 120 samples, ±9.1 %)`.
fn amount(bytes: u64, blocks: u64, what: &str, estimate: &Estimate) -> String {
    if !estimate.estimated {
        return format!("{bytes} bytes in {blocks} {what}");
    }
    format!(
        "~{bytes} bytes in ~{blocks} {what} (estimated from {} samples, ±{} %)",
        estimate.samples,
        fixed(estimate.error * 100.0, 1)
    )
}

/// The line under the title of a sampled report: what its figures are.
const ESTIMATED: &str = "figures are estimated from a sample by bytes: a sampled block of s bytes \
     stands for s / (1 - e^(-s/M)) bytes (M the sampling mean); ± is 1/sqrt(samples)";

/// `not traced: 72704 bytes in 1 live block(s) the scopes count: ...`, one line, or nothing
/// when every live block is traced.
fn push_untraced(out: &mut Vec<String>, untraced: &Untraced) {
    if untraced.parts.is_empty() {
        return;
    }
    let parts: Vec<String> = untraced
        .parts
        .iter()
        .map(|p| format!("{} bytes in {} block(s) {}", p.bytes, p.blocks, p.why))
        .collect();
    out.push(format!(
        "not traced: {} bytes in {} live block(s) the scopes count: {}",
        untraced.bytes,
        untraced.blocks,
        parts.join("; ")
    ));
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
    if report.estimated {
        out.push(ESTIMATED.to_owned());
    }
    push_untraced(&mut out, &report.untraced);
    if report.group_by != "line" {
        out.push(format!("grouped by {}", report.group_by));
    }
    out.extend(report.jit_note.map(|note| note.text().to_owned()));
    if report.groups.is_empty() {
        out.push("(no traced block is live)".to_owned());
    }
    for (rank, group) in report.groups.iter().enumerate() {
        out.push(String::new());
        let stacks = if group.stacks > 1 {
            format!(", {} stacks", group.stacks)
        } else {
            String::new()
        };
        out.push(format!(
            "#{}: {}, scope {}, age {}-{} s{stacks}",
            rank + 1,
            amount(group.bytes, group.blocks, "block(s)", &group.estimate),
            escape(&group.scopes.join(", ")),
            fixed(group.newest_seconds, 1),
            fixed(group.oldest_seconds, 1)
        ));
        push_frames(&mut out, &group.frames, group.truncated);
    }
    if report.stacks > report.groups.len() {
        out.push(String::new());
        out.push(format!(
            "({} more groups not shown)",
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
    if report.estimated {
        out.push(ESTIMATED.to_owned());
    }
    push_untraced(&mut out, &report.untraced);
    out.extend(report.jit_note.map(|note| note.text().to_owned()));
    if report.by_stack.is_empty() {
        out.push("(nothing traced)".to_owned());
    }
    for (rank, entry) in report.by_stack.iter().enumerate() {
        out.push(String::new());
        out.push(format!(
            "#{}: {}",
            rank + 1,
            amount(
                entry.bytes,
                entry.allocations,
                "allocation(s)",
                &entry.estimate
            )
        ));
        push_frames(&mut out, &entry.frames, entry.truncated);
    }
    join(out)
}

/// A frame's name for the folded format: its function (or the text of an unknown frame),
/// without the characters that format uses as separators, escaped as on a terminal.
fn folded_name(frame: &Frame) -> String {
    let name = frame
        .symbol
        .as_ref()
        .and_then(|symbol| symbol.function.as_deref())
        .unwrap_or(&frame.text);
    escape(&name.replace([';', '\n', ' '], "_")).into_owned()
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
    let where_: Vec<std::borrow::Cow<str>> = event
        .frames
        .iter()
        .map(|frame| escape(&frame.text))
        .collect();
    format!(
        "{} {} B {} scope {} thread {}  {}",
        if event.op == "alloc" { '+' } else { '-' },
        event.size,
        event.addr,
        escape(&event.scope),
        event.thread,
        where_.join(" < ")
    )
}
