//! Real C and C++ programs, built by the test with gcc/g++ and running: their captured
//! addresses must come back as the functions and lines that captured them.

mod common;

use common::{build_dir, compile, expect, frames_of, mark_line, source, summary, Target};
use skull_mem_symbolize::{Lookup, Symbolizer};

const NO_FP: &str = "-fomit-frame-pointer";

#[test]
fn return_address_in_a_pie_built_with_o0_names_the_calling_line() {
    let dir = build_dir("c_programs");
    let app = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-O0"),
        &["-g", "-O0", NO_FP],
    );
    let target = Target::spawn(&app, &[]);
    let frames = frames_of(&target, "leak_here_ra", Lookup::ReturnAddress);
    assert_eq!(
        summary(&frames),
        [expect("inlinable", "app.c", "inlinable_call", false)]
    );
    assert_eq!(frames[0].module, "app-O0");
    let line = mark_line("app.c", "inlinable_call");
    let shown = format!("inlinable at {}:{line} (app-O0)", source("app.c").display());
    assert_eq!(frames[0].to_string(), shown);
}

#[test]
fn function_pointer_looked_up_exactly_names_the_function_entry() {
    let dir = build_dir("c_programs");
    let app = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-O0-fn"),
        &["-g", "-O0", NO_FP],
    );
    let target = Target::spawn(&app, &[]);
    let frames = frames_of(&target, "leak_here_fn", Lookup::Exact);
    assert_eq!(
        summary(&frames),
        [expect("leak_here", "app.c", "leak_here_entry", false)]
    );
}

#[test]
fn o2_build_gives_the_inlined_frame_innermost_first() {
    let dir = build_dir("c_programs");
    let app = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-O2"),
        &["-g", "-O2", NO_FP],
    );
    let target = Target::spawn(&app, &[]);
    let frames = frames_of(&target, "leak_here_ra", Lookup::ReturnAddress);
    assert_eq!(
        summary(&frames),
        [
            expect("inlinable", "app.c", "inlinable_call", true),
            expect("leak_here", "app.c", "leak_here_call", false),
        ]
    );
}

#[test]
fn non_pie_executable_is_symbolized_at_its_link_addresses() {
    let dir = build_dir("c_programs");
    let app = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-nopie"),
        &["-g", "-O0", NO_FP, "-no-pie"],
    );
    let target = Target::spawn(&app, &[]);
    // Non-PIE code is linked at 0x400000 and up, and runs there.
    assert!(target.address("leak_here_fn") < 0x1000_0000);
    let frames = frames_of(&target, "leak_here_ra", Lookup::ReturnAddress);
    assert_eq!(
        summary(&frames),
        [expect("inlinable", "app.c", "inlinable_call", false)]
    );
    let frames = frames_of(&target, "leak_here_fn", Lookup::Exact);
    assert_eq!(
        summary(&frames),
        [expect("leak_here", "app.c", "leak_here_entry", false)]
    );
}

#[test]
fn dlopened_shared_library_is_symbolized_with_its_own_debug_info() {
    let dir = build_dir("c_programs");
    let app = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-host"),
        &["-g", "-O0", NO_FP],
    );
    let plugin = compile(
        "gcc",
        &["plugin.c"],
        &dir.join("libplugin.so"),
        &["-g", "-O0", NO_FP, "-shared", "-fPIC"],
    );
    let target = Target::spawn(&app, &[&plugin]);
    let frames = frames_of(&target, "plugin_ra", Lookup::ReturnAddress);
    assert_eq!(
        summary(&frames),
        [expect("plugin_entry", "plugin.c", "plugin_call", false)]
    );
    assert_eq!(frames[0].module, "libplugin.so");
    let frames = frames_of(&target, "plugin_fn", Lookup::Exact);
    assert_eq!(
        summary(&frames),
        [expect("plugin_entry", "plugin.c", "plugin_entry", false)]
    );
}

#[test]
fn cpp_operator_new_call_sites_have_demangled_names() {
    let dir = build_dir("c_programs");
    let widget = compile(
        "g++",
        &["widget.cpp"],
        &dir.join("widget"),
        &["-g", "-O0", NO_FP],
    );
    let target = Target::spawn(&widget, &[]);
    let frames = frames_of(&target, "make_widget_ra", Lookup::ReturnAddress);
    assert_eq!(
        summary(&frames),
        [expect(
            "shop::make_widget(int)",
            "widget.cpp",
            "make_widget_new",
            false
        )]
    );
    let frames = frames_of(&target, "factory_ra", Lookup::ReturnAddress);
    assert_eq!(
        summary(&frames),
        [expect(
            "shop::Factory<shop::Widget>::make(int)",
            "widget.cpp",
            "factory_new",
            false
        )]
    );
    let frames = frames_of(&target, "operator_new_fn", Lookup::Exact);
    assert_eq!(
        frames[0].function.as_deref(),
        Some("operator new(unsigned long)")
    );
}

#[test]
fn libc_function_resolves_through_its_separate_debug_file_or_symbols() {
    let dir = build_dir("c_programs");
    let app = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-libc"),
        &["-g", "-O0", NO_FP],
    );
    let target = Target::spawn(&app, &[]);
    let frames = frames_of(&target, "libc_malloc", Lookup::Exact);
    let outer = frames.last().unwrap();
    assert_eq!(outer.module, "libc.so.6");
    assert!(
        outer
            .function
            .as_deref()
            .is_some_and(|f| f.contains("malloc")),
        "{frames:?}"
    );
    // libc is stripped: its DWARF, when there is any, comes from the debug package.
    let process = target.process();
    let mapping = process.maps().find(target.address("libc_malloc")).unwrap();
    let mut symbolizer = Symbolizer::new();
    let libc = symbolizer.module(&process, mapping).unwrap();
    assert_eq!(libc.has_dwarf(), libc.debug_path().is_some());
    if let Some(debug) = libc.debug_path() {
        let under_debug = debug.to_string_lossy().contains("/usr/lib/debug/");
        assert!(under_debug, "{debug:?}");
    }
    assert!(libc.symbol_count() > 1000, "{}", libc.symbol_count());
}

#[test]
fn modules_are_loaded_once_and_reused_across_reports() {
    let dir = build_dir("c_programs");
    let app = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-cache"),
        &["-g", "-O2", NO_FP],
    );
    let target = Target::spawn(&app, &[]);
    let process = target.process();
    let mut symbolizer = Symbolizer::new();
    let names = ["leak_here_ra", "leak_here_fn", "capture_fn", "libc_malloc"];
    let first: Vec<_> = names
        .iter()
        .map(|n| symbolizer.symbolize(&process, target.address(n), Lookup::ReturnAddress))
        .collect();
    assert_eq!(symbolizer.module_count(), 2);
    let again: Vec<_> = names
        .iter()
        .map(|n| symbolizer.symbolize(&process, target.address(n), Lookup::ReturnAddress))
        .collect();
    assert_eq!(first, again);
    assert_eq!(symbolizer.module_count(), 2);
    assert_eq!(symbolizer.cached_addresses(), 4);
}

#[test]
fn a_deleted_library_is_read_through_map_files_never_from_its_replacement() {
    let dir = build_dir("c_programs");
    let app = compile("gcc", &["app.c"], &dir.join("app-deleted"), &["-g", "-O0"]);
    let flags = ["-g", "-O0", "-shared", "-fPIC"];
    let plugin = compile("gcc", &["plugin.c"], &dir.join("libgone.so"), &flags);
    let target = Target::spawn(&app, &[&plugin]);
    // Replace the library on disk, as a package upgrade does: maps now says `(deleted)`.
    std::fs::remove_file(&plugin).unwrap();
    std::fs::copy(&app, &plugin).unwrap();
    let process = target.process();
    let mapping = process.maps().find(target.address("plugin_ra")).unwrap();
    assert!(matches!(
        mapping.backing,
        skull_mem_symbolize::Backing::File { deleted: true, .. }
    ));
    let mut symbolizer = Symbolizer::new();
    let address = target.address("plugin_ra");
    match symbolizer.try_symbolize(&process, address, Lookup::ReturnAddress) {
        // /proc/<pid>/map_files needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN (root here).
        Ok(frames) => assert_eq!(
            summary(&frames),
            [expect("plugin_entry", "plugin.c", "plugin_call", false)]
        ),
        Err(skull_mem_symbolize::Error::Io { .. }) => {}
        Err(other) => panic!("unexpected {other}"),
    }
}

#[test]
fn stripped_program_finds_its_debug_file_by_gnu_debuglink() {
    let dir = build_dir("c_programs").join("debuglink");
    std::fs::create_dir_all(&dir).unwrap();
    let app = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-split"),
        &["-g", "-O2", NO_FP],
    );
    let debug = dir.join("app-split.debug");
    let run = |args: &[&std::ffi::OsStr]| {
        let status = std::process::Command::new("objcopy")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "objcopy {args:?}");
    };
    // The way distributions split debug info: keep it aside, strip it, link to it by name.
    run(&["--only-keep-debug".as_ref(), app.as_ref(), debug.as_ref()]);
    run(&["--strip-debug".as_ref(), app.as_ref()]);
    let link = format!("--add-gnu-debuglink={}", debug.display());
    run(&[link.as_ref(), app.as_ref()]);
    let target = Target::spawn(&app, &[]);
    let process = target.process();
    let mapping = process.maps().find(target.address("leak_here_fn")).unwrap();
    let mut symbolizer = Symbolizer::new();
    let module = symbolizer.module(&process, mapping).unwrap();
    assert!(module.debug_path().unwrap().ends_with("app-split.debug"));
    let frames = frames_of(&target, "leak_here_ra", Lookup::ReturnAddress);
    assert_eq!(
        summary(&frames),
        [
            expect("inlinable", "app.c", "inlinable_call", true),
            expect("leak_here", "app.c", "leak_here_call", false),
        ]
    );
}

#[test]
fn vdso_functions_are_named_from_the_kernel_image() {
    let dir = build_dir("c_programs");
    let app = compile("gcc", &["app.c"], &dir.join("app-vdso"), &["-g", "-O0"]);
    let target = Target::spawn(&app, &[]);
    let address = target.address("vdso_clock_gettime");
    assert_ne!(address, 0, "glibc found no vDSO");
    let frames = frames_of(&target, "vdso_clock_gettime", Lookup::Exact);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].module, "[vdso]");
    // The vDSO exports the function under both names, at one address.
    let name = frames[0].function.as_deref().unwrap_or("??");
    assert!(
        ["__vdso_clock_gettime", "clock_gettime"].contains(&name),
        "{}",
        frames[0]
    );
}
