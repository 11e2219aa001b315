//! The C header and the Rust definitions must agree: counter names and values, constants,
//! and the layout of `struct skull_scope_stats` as gcc sees it. Checked here, through the
//! client's own names, because the client is where Rust reads what the library writes; the
//! library fills the same struct (`skull_mem_core::abi::ScopeStatsC`).

use std::process::Command;

use skull_mem_abi_client::{
    ScopeStats, ABI_VERSION, KIND_MAX, NAME_MAX, REPORT_JSON, REPORT_TEXT, SCOPE_INVALID,
    SCOPE_SELF,
};
use skull_mem_core::abi::SCOPE_STATS_VERSION;
use skull_mem_core::counters::{Counter, COUNTER_COUNT};
use skull_mem_core::scopes::{SCOPE_CORE, SCOPE_INIT};
use skull_mem_test_support::repo_root;

/// Every field of `struct skull_scope_stats`, in order.
const FIELDS: [&str; 10] = [
    "struct_size",
    "struct_version",
    "id",
    "reserved",
    "name",
    "kind",
    "used_bytes",
    "live_blocks",
    "peak_used_bytes",
    "counters",
];

/// Compiles and runs a C program that prints `name=value` lines about the header.
fn c_facts() -> Vec<(String, u64)> {
    let mut program = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"skull_mem.h\"\nint main(void) {\n",
    );
    let mut fact = |name: &str, expr: &str| {
        program.push_str(&format!(
            "printf(\"{name}=%llu\\n\", (unsigned long long)({expr}));\n"
        ));
    };
    for counter in Counter::ALL {
        fact(counter.c_name(), counter.c_name());
    }
    fact("SKULL_COUNTER_COUNT", "SKULL_COUNTER_COUNT");
    fact("SKULL_ABI_VERSION", "SKULL_ABI_VERSION");
    fact("SKULL_SCOPE_STATS_VERSION", "SKULL_SCOPE_STATS_VERSION");
    fact("SKULL_NAME_MAX", "SKULL_NAME_MAX");
    fact("SKULL_KIND_MAX", "SKULL_KIND_MAX");
    fact("SKULL_SCOPE_CORE", "SKULL_SCOPE_CORE");
    fact("SKULL_SCOPE_INIT", "SKULL_SCOPE_INIT");
    fact("SKULL_SCOPE_SELF", "SKULL_SCOPE_SELF");
    fact("SKULL_SCOPE_INVALID", "SKULL_SCOPE_INVALID");
    fact("SKULL_REPORT_TEXT", "SKULL_REPORT_TEXT");
    fact("SKULL_REPORT_JSON", "SKULL_REPORT_JSON");
    fact("sizeof", "sizeof(struct skull_scope_stats)");
    fact("alignof", "_Alignof(struct skull_scope_stats)");
    for field in FIELDS {
        fact(
            &format!("offsetof.{field}"),
            &format!("offsetof(struct skull_scope_stats, {field})"),
        );
    }
    program.push_str("return 0;\n}\n");

    let dir = std::env::temp_dir().join(format!("skull-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("layout.c");
    let binary = dir.join("layout");
    std::fs::write(&source, program).unwrap();
    let status = Command::new("gcc")
        .arg("-I")
        .arg(repo_root().join("include"))
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .status()
        .expect("gcc runs");
    assert!(status.success(), "the header compiles");
    let output = Command::new(&binary).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn the_c_header_matches_the_rust_definitions() {
    let facts = c_facts();
    let get = |name: &str| facts.iter().find(|(n, _)| n == name).unwrap().1;
    for counter in Counter::ALL {
        assert_eq!(
            get(counter.c_name()),
            counter as u64,
            "{}",
            counter.c_name()
        );
    }
    assert_eq!(get("SKULL_COUNTER_COUNT"), COUNTER_COUNT as u64);
    assert_eq!(get("SKULL_ABI_VERSION"), u64::from(ABI_VERSION));
    assert_eq!(
        get("SKULL_SCOPE_STATS_VERSION"),
        u64::from(SCOPE_STATS_VERSION)
    );
    assert_eq!(get("SKULL_NAME_MAX"), NAME_MAX as u64);
    assert_eq!(get("SKULL_KIND_MAX"), KIND_MAX as u64);
    assert_eq!(get("SKULL_SCOPE_CORE"), u64::from(SCOPE_CORE));
    assert_eq!(get("SKULL_SCOPE_INIT"), u64::from(SCOPE_INIT));
    assert_eq!(get("SKULL_SCOPE_SELF"), u64::from(SCOPE_SELF));
    assert_eq!(get("SKULL_SCOPE_INVALID"), u64::from(SCOPE_INVALID));
    assert_eq!(get("SKULL_REPORT_TEXT"), REPORT_TEXT as u64);
    assert_eq!(get("SKULL_REPORT_JSON"), REPORT_JSON as u64);
    assert_eq!(get("sizeof"), std::mem::size_of::<ScopeStats>() as u64);
    assert_eq!(get("alignof"), std::mem::align_of::<ScopeStats>() as u64);
    let rust_offsets = [
        std::mem::offset_of!(ScopeStats, struct_size),
        std::mem::offset_of!(ScopeStats, struct_version),
        std::mem::offset_of!(ScopeStats, id),
        std::mem::offset_of!(ScopeStats, reserved),
        std::mem::offset_of!(ScopeStats, name),
        std::mem::offset_of!(ScopeStats, kind),
        std::mem::offset_of!(ScopeStats, used_bytes),
        std::mem::offset_of!(ScopeStats, live_blocks),
        std::mem::offset_of!(ScopeStats, peak_used_bytes),
        std::mem::offset_of!(ScopeStats, counters),
    ];
    for (field, offset) in FIELDS.iter().zip(rust_offsets) {
        assert_eq!(get(&format!("offsetof.{field}")), offset as u64, "{field}");
    }
}
