//! The scope API, snapshots and reports of the C ABI (acceptance point 11).

mod common;

use common::*;
use serde_json::Value;

fn assert_valid(v: &Vals, key: &str) -> i64 {
    let id = v.i(key);
    assert!(
        (0..INVALID).contains(&id),
        "{key}: expected a valid scope id, got {id}"
    );
    id
}

#[test]
fn allocations_before_main_are_charged_to_init() {
    let v = run_c("scope", &["api"]);
    assert_eq!(v.i("ctor.current"), 1, "current scope in a constructor");
    assert_eq!(v.i("ctor.block_nonnull"), 1);
    assert_scopes(
        &v,
        "ctor.",
        &[(
            "init",
            &[
                ("ALLOC_BYTES", 12345),
                ("ALLOC_BLOCKS", 1),
                ("MALLOC_CALLS", 1),
                ("OVERHEAD_BYTES", 16),
            ],
        )],
    );
    assert_all_zero_except(&v, "ctor.", &["init"]);
    // And after main starts, allocations go to core.
    assert_eq!(v.i("api.current_at_main"), 0);
    assert_scopes(
        &v,
        "main.",
        &[(
            "core",
            &[
                ("ALLOC_BYTES", 777),
                ("ALLOC_BLOCKS", 1),
                ("MALLOC_CALLS", 1),
                ("OVERHEAD_BYTES", 16),
            ],
        )],
    );
    assert_all_zero_except(&v, "main.", &["core"]);
}

#[test]
fn register_returns_the_same_id_for_the_same_name_and_kind() {
    let v = run_c("scope", &["api"]);
    let alpha = assert_valid(&v, "api.alpha");
    assert_eq!(v.i("api.alpha_again"), alpha);
    let beta = assert_valid(&v, "api.beta");
    assert_ne!(beta, alpha);
    assert!(
        alpha > 2 && beta > 2,
        "user scopes must not reuse ids 0..=2"
    );
    let alpha_service = assert_valid(&v, "api.alpha_service");
    assert_ne!(
        alpha_service, alpha,
        "same name, other kind is another scope"
    );
    assert_ne!(alpha_service, beta);
    let n47 = assert_valid(&v, "api.name47");
    assert_eq!(v.i("api.name47_again"), n47);
    assert_valid(&v, "api.kind15");
}

#[test]
fn register_rejects_null_empty_and_too_long_strings() {
    let v = run_c("scope", &["api"]);
    for key in [
        "api.null_name",
        "api.null_kind",
        "api.empty_name",
        "api.empty_kind",
        "api.name48",
        "api.kind16",
    ] {
        assert_eq!(v.i(key), INVALID, "{key} should be SKULL_SCOPE_INVALID");
    }
}

#[test]
fn enter_returns_the_previous_scope_and_leave_restores_it() {
    let v = run_c("scope", &["api"]);
    let alpha = v.i("api.alpha");
    let beta = v.i("api.beta");
    assert_eq!(v.i("api.enter_a_returned"), 0);
    assert_eq!(v.i("api.current_in_a"), alpha);
    assert_eq!(v.i("api.enter_b_returned"), alpha);
    assert_eq!(v.i("api.current_in_b"), beta);
    assert_eq!(v.i("api.current_after_leave_b"), alpha);
    assert_eq!(v.i("api.current_after_leave_a"), 0);
    // The current scope is per thread.
    assert_eq!(v.i("api.thread_after_enter"), beta);
    assert_eq!(v.i("api.current_after_thread"), alpha);
}

#[test]
fn entering_an_unknown_scope_returns_invalid_and_changes_nothing() {
    let v = run_c("scope", &["api"]);
    let beta = v.i("api.beta");
    assert_eq!(v.i("api.enter_unknown"), INVALID);
    assert_eq!(v.i("api.current_after_unknown"), beta);
    assert_eq!(v.i("api.enter_invalid"), INVALID);
    assert_eq!(v.i("api.current_after_invalid"), beta);
}

#[test]
fn library_reports_itself_active_with_its_abi_version() {
    let v = run_c("scope", &["api"]);
    assert_eq!(v.i("api.is_active"), 1);
    assert_eq!(v.i("api.abi"), 1);
    let version = v.str("api.version");
    assert!(
        !version.is_empty() && version != "(null)",
        "skull_version() = {version:?}"
    );
}

#[test]
fn builtin_scopes_are_core_init_and_skull_mem() {
    let v = run_c("scope", &["snapshot"]);
    for (name, id, kind) in [
        ("core", 0, "core"),
        ("init", 1, "init"),
        ("skull-mem", 2, "tool"),
    ] {
        assert_eq!(v.i(&format!("abs.{name}.ID")), id, "id of {name}");
        assert_eq!(v.str(&format!("abs.{name}.KIND")), kind, "kind of {name}");
    }
}

#[test]
fn snapshot_respects_capacity_and_never_allocates() {
    let v = run_c("scope", &["snapshot"]);
    let count = v.i("snap.count");
    assert!(count >= 4, "at least core, init, skull-mem and snapscope");
    assert_eq!(
        v.i("snap.count_cap0"),
        count,
        "cap 0 still returns the count"
    );
    assert_eq!(v.i("snap.untouched_cap0"), 1, "cap 0 wrote into the buffer");
    assert_eq!(v.i("snap.count_cap1"), count);
    assert_eq!(
        v.i("snap.untouched_after_cap1"),
        1,
        "cap 1 wrote past entry 0"
    );
    assert_eq!(v.i("snap.first_id"), 0);
    assert_eq!(v.str("snap.first_name"), "core");
    assert_eq!(
        v.i("snap.struct_sizes"),
        1,
        "struct_size/struct_version wrong"
    );
    assert_eq!(
        v.i("snap.invariants"),
        1,
        "used_bytes/live_blocks/peak_used_bytes inconsistent with the counters"
    );
    // Three snapshots in a row: nothing was allocated, freed or counted anywhere.
    assert_all_zero_except(&v, "nosnapalloc.", &[]);
    assert!(v.has("nosnapalloc.core.ALLOC_BYTES"));
    assert_scopes(
        &v,
        "abs.",
        &[(
            "snapscope",
            &[
                ("ALLOC_BYTES", 5000),
                ("FREED_BYTES", 1000),
                ("ALLOC_BLOCKS", 2),
                ("FREED_BLOCKS", 1),
                ("MALLOC_CALLS", 2),
                ("FREE_CALLS", 1),
                ("OVERHEAD_BYTES", 32),
                ("OVERHEAD_FREED_BYTES", 16),
            ],
        )],
    );
    assert_eq!(v.str("abs.snapscope.KIND"), "module");
    assert!(v.i("abs.snapscope.PEAK") >= 4000);
}

fn section<'a>(raw: &'a str, begin: &str, end: &str) -> &'a str {
    let start = raw
        .find(begin)
        .unwrap_or_else(|| panic!("no {begin} in output"))
        + begin.len();
    let stop = raw[start..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end} in output"))
        + start;
    raw[start..stop].trim()
}

#[test]
fn report_renders_text_and_json_with_the_right_numbers() {
    let v = run_c("scope", &["report"]);
    let tlen = v.i("rep.text_len");
    assert_eq!(
        tlen,
        v.i("rep.text_strlen"),
        "text length returned vs written"
    );
    assert_eq!(v.i("rep.json_len"), v.i("rep.json_strlen"));
    assert!(
        v.i("rep.small_ret") >= 9,
        "truncated call must return the full length"
    );
    assert_eq!(
        v.i("rep.small_strlen"),
        9,
        "cap 10 writes 9 chars and a NUL"
    );
    assert_eq!(v.i("rep.small_guard"), 1, "wrote past cap");
    assert_eq!(v.i("rep.current_unchanged"), 1);
    // Rendering is charged to skull-mem's own scope, never to the caller's.
    assert_all_zero_except(&v, "repd.", &["skull-mem"]);

    let text = section(&v.raw, "BEGIN_TEXT", "END_TEXT");
    assert!(
        text.contains("Skull Memory Measurement"),
        "text report:\n{text}"
    );
    for name in ["core", "init", "skull-mem", "jsonscope", "rep_caller"] {
        assert!(text.contains(name), "text report lacks {name}:\n{text}");
    }

    let row = text
        .lines()
        .find(|l| l.contains("jsonscope"))
        .expect("jsonscope row");
    assert!(
        row.split_whitespace().any(|w| w == "6000"),
        "jsonscope row lacks used bytes 6000: {row}"
    );

    let json_text = section(&v.raw, "BEGIN_JSON", "END_JSON");
    let json: Value = serde_json::from_str(json_text)
        .unwrap_or_else(|e| panic!("report JSON does not parse: {e}\n{json_text}"));
    let scopes = json["scopes"].as_array().expect("scopes array");
    let found: Vec<&Value> = scopes.iter().filter(|s| s["name"] == "jsonscope").collect();
    assert_eq!(found.len(), 1, "one scope named jsonscope in\n{json_text}");
    let scope = found[0];
    assert_eq!(scope["kind"], "route");
    // jsonscope: malloc 1000, 2000, 3000, 500, then free(500).
    let expect: &[(&str, i64)] = &[
        ("ALLOC_BYTES", 6500),
        ("FREED_BYTES", 500),
        ("ALLOC_BLOCKS", 4),
        ("FREED_BLOCKS", 1),
        ("MALLOC_CALLS", 4),
        ("FREE_CALLS", 1),
        ("OVERHEAD_BYTES", 64),
        ("OVERHEAD_FREED_BYTES", 16),
    ];
    for c in COUNTERS {
        let want = expect.iter().find(|(n, _)| *n == c).map_or(0, |x| x.1);
        let key = c.to_lowercase();
        assert_eq!(
            scope["counters"][&key].as_i64(),
            Some(want),
            "jsonscope counters.{key} in {scope}"
        );
    }
    assert_eq!(scope["used_bytes"].as_i64(), Some(6000), "{scope}");
    assert_eq!(scope["live_blocks"].as_i64(), Some(3), "{scope}");
    assert_eq!(scope["peak_used_bytes"].as_i64(), Some(6000), "{scope}");
    // The totals are the sums over the scopes.
    for c in COUNTERS {
        let key = c.to_lowercase();
        let total: i64 = scopes
            .iter()
            .map(|s| s["counters"][&key].as_i64().expect("counter"))
            .sum();
        assert_eq!(
            json["totals"]["counters"][&key].as_i64(),
            Some(total),
            "totals.counters.{key}"
        );
    }
    for name in ["core", "init", "skull-mem", "rep_caller"] {
        assert!(
            scopes.iter().any(|s| s["name"] == name),
            "JSON lacks scope {name}"
        );
    }
    // The text is the table `skull-mem memory <pid>` prints: the process from the segment
    // header, every scope, and the RSS summary.
    let header = format!(
        "======== Skull Memory Measurement ======== pid {}: ",
        json["pid"]
    );
    assert!(text.starts_with(&header), "text report:\n{text}");
    let scopes_line = format!("Scopes: {}  Threads: ", scopes.len());
    assert!(text.contains(&scopes_line), "text report:\n{text}");
    assert!(
        text.lines().any(|line| line.starts_with("Process RSS")),
        "text report:\n{text}"
    );
}

#[test]
fn report_with_null_buffer_returns_the_length() {
    let v = run_c("scope", &["report_null"]);
    assert!(v.i("null.text_len") > 0);
    assert!(v.i("null.json_len") > 0);
}

#[test]
fn a_full_scope_table_refuses_new_names_and_keeps_old_ones() {
    let v = run_c("scopefull", &[]);
    let registered = v.i("full.registered");
    assert!(registered > 0);
    assert_eq!(
        v.i("full.first_invalid"),
        registered,
        "the table never filled up within 200000 names"
    );
    assert_eq!(v.i("full.s0_again"), 1);
    assert_eq!(v.i("full.last_again"), 1);
    assert_eq!(v.i("full.new_refused"), 1);
    // core, init and skull-mem plus every registered scope.
    assert_eq!(v.i("full.snapshot_count"), registered + 3);
    assert_eq!(v.i("full.snapshot_count2"), registered + 3);
    assert_eq!(v.i("full.last_alloc_bytes"), 4321);
    assert_eq!(v.str("full.last_name"), format!("s{}", registered - 1));
}

/// `skull_scope_switch_words`: a store switches the scope exactly as `skull_scope_enter`
/// does, on the fast path's next call too, and each thread has its own words.
#[test]
fn storing_into_the_switch_words_switches_the_scope() {
    let v = run_c("switch_words", &[]);
    let (a, b) = (v.i("sw.a"), v.i("sw.b"));
    assert_eq!(v.i("sw.in_a"), a);
    assert_eq!(v.i("sw.in_b"), b);
    assert_eq!(v.i("sw.entered_from"), b, "enter returns the stored scope");
    assert_eq!(v.i("sw.after_leave"), b);
    // Main: 1000 + 2000 bytes in sw_a (the second on the fast path after the slow path
    // took the store up), 3000 in sw_b; nothing freed before the snapshot; 16 header
    // bytes per block.
    assert_scopes(
        &v,
        "main.",
        &[
            (
                "sw_a",
                &[
                    ("ALLOC_BYTES", 3000),
                    ("ALLOC_BLOCKS", 2),
                    ("MALLOC_CALLS", 2),
                    ("OVERHEAD_BYTES", 32),
                ],
            ),
            (
                "sw_b",
                &[
                    ("ALLOC_BYTES", 3000),
                    ("ALLOC_BLOCKS", 1),
                    ("MALLOC_CALLS", 1),
                    ("OVERHEAD_BYTES", 16),
                ],
            ),
        ],
    );
    // The thread: its own words, its home scope until its store, then one block of 4000
    // bytes allocated and freed in sw_b; sw_a untouched.
    assert_eq!(v.i("sw.thread_own_words"), 1);
    assert_eq!(v.i("sw.thread_home_not_b"), 1);
    assert_eq!(v.i("sw.thread_current"), b);
    assert_scopes(
        &v,
        "thread.",
        &[
            (
                "sw_b",
                &[
                    ("ALLOC_BYTES", 4000),
                    ("FREED_BYTES", 4000),
                    ("ALLOC_BLOCKS", 1),
                    ("FREED_BLOCKS", 1),
                    ("MALLOC_CALLS", 1),
                    ("FREE_CALLS", 1),
                    ("OVERHEAD_BYTES", 16),
                    ("OVERHEAD_FREED_BYTES", 16),
                ],
            ),
            ("sw_a", &[]),
        ],
    );
}
