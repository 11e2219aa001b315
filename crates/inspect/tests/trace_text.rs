//! The text of tracing (leak report, report by stack, folded stacks, events, status) is
//! byte for byte what the TypeScript printed (`tests/fixtures/trace_text.txt`).

use skull_mem_inspect::trace::estimate::Estimate;
use skull_mem_inspect::trace::events::TraceEvent;
use skull_mem_inspect::trace::frames::{Frame, Symbol};
use skull_mem_inspect::trace::leaks::{LeakGroup, LeakReport, StackAllocations, StackReport};
use skull_mem_inspect::trace::render::{
    collapsed, event_line, leaks_text, stacks_text, status_text,
};
use skull_mem_inspect::trace::status::{TraceCounts, TraceMemory, TraceStatus};
use skull_mem_inspect::trace::untraced::{Untraced, UntracedPart};

fn status(enabled: bool, sample_bytes: u64) -> TraceStatus {
    TraceStatus {
        enabled,
        depth: enabled.then_some(16),
        sample_bytes: enabled.then_some(sample_bytes),
        scoped: false,
        counts: TraceCounts {
            traced_allocs: 120,
            traced_frees: 20,
            dropped_stacks: 1,
            dropped_blocks: 2,
        },
        live_blocks: 100,
        memory: TraceMemory {
            budget: 268_435_456,
            used: 458_752,
            committed: 1_049_600,
            stack_nodes: 40,
            stack_bytes: 131_072,
            live_bytes: 262_144,
            totals_bytes: 65_536,
        },
    }
}

fn symbol(
    function: Option<&str>,
    file: Option<&str>,
    line: Option<u32>,
    module: &str,
    inlined: bool,
) -> Option<Symbol> {
    Some(Symbol {
        function: function.map(str::to_owned),
        file: file.map(str::to_owned),
        line,
        module: module.to_owned(),
        inlined,
        jit: None,
    })
}

fn frames() -> Vec<Frame> {
    vec![
        Frame {
            index: 0,
            address: "0x401234".into(),
            symbol: symbol(Some("remember"), Some("demo.c"), Some(61), "demo", true),
            text: "remember at demo.c:61 (demo)".into(),
        },
        Frame {
            index: 0,
            address: "0x401234".into(),
            symbol: symbol(Some("main"), Some("demo.c"), Some(90), "demo", false),
            text: "main at demo.c:90 (demo)".into(),
        },
        Frame {
            index: 1,
            address: "0x7f00".into(),
            symbol: None,
            text: "?? (0x7f00)".into(),
        },
        Frame {
            index: 2,
            address: "0x7f10".into(),
            symbol: symbol(None, None, None, "libc.so.6", false),
            text: "?? (libc.so.6+0x29d90)".into(),
        },
    ]
}

/// What a group of `blocks` blocks of `bytes` says of its figures: counted, or (`sampled`)
/// estimated from 25 samples of 1,600 bytes, ±1/√25 = 20 %.
fn estimate(sampled: bool, blocks: u64, bytes: u64) -> Estimate {
    if sampled {
        Estimate {
            estimated: true,
            samples: 25,
            sampled_bytes: 1600,
            error: 0.2,
        }
    } else {
        Estimate::exact(blocks, bytes)
    }
}

/// Live blocks a traced C++ program's scopes count and its tables do not hold: libstdc++'s
/// emergency pool, allocated before the library's constructor readied tracing, and blocks
/// allocated before tracing was switched on.
fn untraced() -> Untraced {
    let part = |reason: &str, bytes, blocks, why: &str| UntracedPart {
        reason: reason.into(),
        bytes,
        blocks,
        why: why.into(),
    };
    Untraced {
        bytes: 72_704 + 1600,
        blocks: 1 + 100,
        parts: vec![
            part("before_main", 72_704, 1, "allocated before main"),
            part("before_tracing", 1600, 100, "allocated before tracing"),
        ],
    }
}

fn leaks(status: TraceStatus, stacks: usize) -> LeakReport {
    let sampled = status.sample_bytes.unwrap_or(0) != 0;
    LeakReport {
        untraced: if sampled {
            Untraced::default()
        } else {
            untraced()
        },
        pid: 4242,
        status,
        group_by: "line".into(),
        estimated: sampled,
        stacks,
        jit_note: None,
        groups: vec![
            LeakGroup {
                bytes: 6400,
                blocks: 100,
                estimate: estimate(sampled, 100, 6400),
                stacks: 2,
                truncated: false,
                scopes: vec!["session-cache".into(), "core".into()],
                oldest_seconds: 2.25,
                newest_seconds: 0.35,
                frames: frames(),
            },
            LeakGroup {
                bytes: 64,
                blocks: 1,
                estimate: estimate(false, 1, 64),
                stacks: 1,
                truncated: true,
                scopes: vec!["core".into()],
                oldest_seconds: 1.04,
                newest_seconds: 1.04,
                frames: frames()[2..].to_vec(),
            },
        ],
    }
}

#[test]
fn tracing_text_is_the_one_the_typescript_printed() {
    let stacks = StackReport {
        untraced: untraced(),
        pid: 4242,
        status: status(true, 0),
        estimated: false,
        stacks: 2,
        jit_note: None,
        by_stack: vec![
            StackAllocations {
                allocations: 120,
                bytes: 9000,
                estimate: Estimate::exact(120, 9000),
                truncated: false,
                frames: frames(),
            },
            StackAllocations {
                allocations: 1,
                bytes: 10,
                estimate: Estimate::exact(1, 10),
                truncated: true,
                frames: frames()[2..].to_vec(),
            },
        ],
    };
    let event = TraceEvent {
        seq: 7,
        op: "free",
        addr: "0x5555".into(),
        size: 64,
        scope: "core".into(),
        thread: 99,
        time_ns: 5,
        frames: frames()[..2].to_vec(),
    };
    let alloc = TraceEvent {
        op: "alloc",
        frames: Vec::new(),
        ..event.clone()
    };
    let none = LeakReport {
        untraced: Untraced::default(),
        pid: 4242,
        status: status(false, 0),
        group_by: "stack".into(),
        estimated: false,
        stacks: 0,
        jit_note: None,
        groups: Vec::new(),
    };
    let empty = StackReport {
        untraced: Untraced::default(),
        pid: 4242,
        status: status(false, 0),
        estimated: false,
        stacks: 0,
        jit_note: None,
        by_stack: Vec::new(),
    };
    let texts = [
        leaks_text(&leaks(status(true, 0), 3)),
        leaks_text(&none),
        leaks_text(&leaks(status(true, 524_288), 2)),
        stacks_text(&stacks),
        stacks_text(&empty),
        collapsed(&stacks),
        format!("{}\n", event_line(&event)),
        format!("{}\n", event_line(&alloc)),
    ];
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/trace_text.txt");
    let want = std::fs::read_to_string(path).expect("the fixture");
    assert_eq!(texts.join("--\n"), want);
}

#[test]
fn status_text_says_what_skull_trace_status_said() {
    let mut on = status(true, 524_288);
    on.scoped = true;
    assert_eq!(
        status_text(42, &on),
        "tracing of process 42 on: sampling every 524288 bytes on average of the chosen scopes, \
         stacks of up to 16 frames\n\
         120 allocations traced, 20 freed, 100 live; dropped (memory full): 1 stacks, 2 blocks\n\
         trace memory: 458752 of 268435456 bytes used (1049600 committed); stacks 40 nodes in \
         131072 bytes, live blocks 262144 bytes, running totals 65536 bytes\n"
    );
    assert!(status_text(42, &status(false, 0)).starts_with("tracing of process 42 off\n"));
}

#[test]
fn frames_serialize_as_the_binding_sent_them() {
    let json: Vec<String> = frames()
        .iter()
        .map(|frame| serde_json::to_string(frame).unwrap())
        .collect();
    assert_eq!(
        json[0],
        r#"{"index":0,"address":"0x401234","function":"remember","file":"demo.c","line":61,"module":"demo","inlined":true,"text":"remember at demo.c:61 (demo)"}"#
    );
    assert_eq!(
        json[2],
        r#"{"index":1,"address":"0x7f00","text":"?? (0x7f00)"}"#
    );
}
