//! Bad input is an error value or a `??` frame, never a panic: processes that do not exist,
//! files that are missing, truncated or not ELF, and maps text that is cut or garbled.

mod common;

use common::{build_dir, compile};
use skull_mem_symbolize::{Error, Frame, Lookup, Module, Process, ProcessMaps, Symbolizer};
use std::path::Path;

/// A process whose only code mapping is `path`, at 0x10000..0x20000 from file offset 0.
fn process_mapping(path: &Path) -> Process {
    let maps = format!("10000-20000 r-xp 00000000 08:01 1 {}\n", path.display());
    Process::from_maps(ProcessMaps::parse(&maps).unwrap())
}

#[test]
fn a_process_that_does_not_exist_is_an_error_naming_it() {
    // Above the kernel's largest pid_max (2^22), so never a live process.
    let pid = 99_999_999;
    let error = Process::attach(pid).unwrap_err();
    assert!(matches!(
        error,
        Error::Process {
            pid: 99_999_999,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.starts_with("cannot read the memory map of process 99999999: "),
        "{message}"
    );
    assert!(matches!(ProcessMaps::read(pid), Err(Error::Process { .. })));
}

#[test]
fn a_malformed_maps_line_is_an_error_with_its_line_number() {
    let text = "10000-20000 r-xp 00000000 08:01 1 /bin/true\n10000-20000 r-x\n";
    let error = ProcessMaps::parse(text).unwrap_err();
    assert_eq!(
        error.to_string(),
        "maps line 2 is malformed (permissions are not four characters): \"10000-20000 r-x\""
    );
    let truncated = "10000-20000 r-xp 00000000 08:01 1 /bin/true\n7f00000";
    assert!(matches!(
        ProcessMaps::parse(truncated),
        Err(Error::MapsLine { line: 2, .. })
    ));
}

#[test]
fn a_missing_file_gives_an_unknown_frame_and_an_io_error() {
    let process = process_mapping(Path::new("/nonexistent/libgone.so"));
    let mut symbolizer = Symbolizer::new();
    let error = symbolizer
        .try_symbolize(&process, 0x10100, Lookup::Exact)
        .unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error}");
    assert!(error.to_string().contains("/nonexistent/libgone.so"));
    let frames = symbolizer.symbolize(&process, 0x10100, Lookup::Exact);
    assert_eq!(frames, [Frame::unknown("libgone.so", 0x100)]);
    assert_eq!(frames[0].to_string(), "?? (libgone.so+0x100)");
}

#[test]
fn garbage_and_truncated_elf_files_are_elf_errors_not_panics() {
    let dir = build_dir("bad_input");
    let garbage = dir.join("garbage.so");
    let bytes: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &bytes).unwrap();
    let app = compile("gcc", &["app.c"], &dir.join("app"), &["-g", "-O0"]);
    let whole = std::fs::read(&app).unwrap();
    let mut files = vec![garbage];
    // Cut inside the ELF header, the program headers, the code, and before the section headers
    // (which come last, so every cut loses them).
    for cut in [0, 20, 100, 3000, whole.len() / 2, whole.len() - 1] {
        let path = dir.join(format!("truncated-{cut}.so"));
        std::fs::write(&path, &whole[..cut]).unwrap();
        files.push(path);
    }
    for file in files {
        let process = process_mapping(&file);
        let mut symbolizer = Symbolizer::new();
        let name = file.file_name().unwrap().to_str().unwrap();
        match symbolizer.try_symbolize(&process, 0x11000, Lookup::ReturnAddress) {
            Err(Error::Elf { path, message }) => {
                assert_eq!(path, file);
                assert!(!message.is_empty());
            }
            other => panic!("{name}: expected an ELF error, got {other:?}"),
        }
        let frames = symbolizer.symbolize(&process, 0x11000, Lookup::ReturnAddress);
        assert!(!frames.is_empty());
        assert_eq!(frames.last().unwrap().module, name);
    }
}

#[test]
fn a_directory_in_place_of_a_library_is_an_io_error() {
    let process = process_mapping(Path::new("/"));
    let error = Symbolizer::new()
        .try_symbolize(&process, 0x10000, Lookup::Exact)
        .unwrap_err();
    // Opening a directory read-only works; mapping it does not.
    assert!(matches!(error, Error::Io { .. }), "{error}");
}

#[test]
fn an_unmapped_address_is_an_error_and_an_unknown_frame() {
    let process = process_mapping(Path::new("/bin/true"));
    let mut symbolizer = Symbolizer::new();
    assert_eq!(
        symbolizer.try_symbolize(&process, 0x5, Lookup::Exact),
        Err(Error::Unmapped { address: 0x5 })
    );
    let frames = symbolizer.symbolize(&process, 0x5, Lookup::Exact);
    assert_eq!(frames[0].to_string(), "?? ([unmapped]+0x5)");
    // The return-address lookup of address 0 must not underflow.
    assert!(symbolizer
        .try_symbolize(&process, 0, Lookup::ReturnAddress)
        .is_err());
}

#[test]
fn anonymous_and_vdso_addresses_without_a_perf_map_are_unknown_frames() {
    let maps = "7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n\
                7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]\n";
    let process = Process::from_maps(ProcessMaps::parse(maps).unwrap());
    let mut symbolizer = Symbolizer::new();
    let jit = symbolizer.symbolize(&process, 0x7f0000000010, Lookup::Exact);
    assert_eq!(jit[0].to_string(), "?? ([anon]+0x10)");
    let vdso = symbolizer.symbolize(&process, 0x7ffd00000020, Lookup::Exact);
    assert_eq!(vdso[0].to_string(), "?? ([vdso]+0x20)");
}

#[test]
fn corrupt_dwarf_falls_back_to_the_symbol_table() {
    let dir = build_dir("bad_input");
    let app = compile("gcc", &["app.c"], &dir.join("app-dwarf"), &["-g", "-O0"]);
    let noise = dir.join("noise.bin");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
        .collect();
    std::fs::write(&noise, bytes).unwrap();
    let corrupt = dir.join("app-corrupt-dwarf");
    let status = std::process::Command::new("objcopy")
        .arg(format!("--update-section=.debug_info={}", noise.display()))
        .arg(format!("--update-section=.debug_line={}", noise.display()))
        .arg(&app)
        .arg(&corrupt)
        .status()
        .expect("objcopy runs");
    assert!(status.success());
    let nm = std::process::Command::new("nm")
        .arg(&corrupt)
        .output()
        .unwrap();
    let leak_here = String::from_utf8(nm.stdout)
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_suffix(" T leak_here")
                .map(|v| u64::from_str_radix(v, 16).unwrap())
        })
        .expect("nm lists leak_here");
    // The DWARF is garbage: the module says so, and still names functions from .symtab.
    let module = Module::load(&corrupt, "app-corrupt-dwarf", Path::new("/")).unwrap();
    assert!(!module.has_dwarf());
    let error = module.dwarf_error().unwrap();
    assert!(error.starts_with("bad DWARF: "), "{error}");
    let frames = module.frames(leak_here + 1);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].function.as_deref(), Some("leak_here"));
    assert_eq!((frames[0].file.as_deref(), frames[0].line), (None, None));
}

#[test]
fn absurd_offsets_and_sizes_in_maps_text_are_survived() {
    let maps = "10000-20000 r-xp ffffffffffffffff 08:01 1 /bin/true\n\
                100000-7f0000000000 r-xp 00000000 00:00 0 [vdso]\n";
    let process = Process::from_maps(ProcessMaps::parse(maps).unwrap());
    let mut symbolizer = Symbolizer::new();
    let frames = symbolizer.symbolize(&process, 0x10010, Lookup::Exact);
    assert_eq!(frames[0].function, None);
    let error = symbolizer
        .try_symbolize(&process, 0x200000, Lookup::Exact)
        .unwrap_err();
    assert!(error.to_string().contains("not plausible"), "{error}");
}
