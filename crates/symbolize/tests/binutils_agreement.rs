//! Agreement with GNU binutils: for many addresses in the test programs and in libc, our
//! frames must equal what `addr2line -f -i -C -e <file> <svma>` prints.
//!
//! What is compared, frame by frame, innermost first: the function name (`??` when unknown),
//! the file (`??` when unknown) and the line (`0` when unknown; binutils' `(discriminator N)`
//! suffix is dropped). Files are compared in full, with one rewrite: for DWARF 5 units whose
//! compilation directory is relative (Debian's libc: `./libio`), binutils joins it twice and
//! prints `./libio/./libio/genops.c` where we print `./libio/genops.c`; binutils' `D/./R` is
//! compared as `./R` when `R` starts with `D` again. (DWARF 5 says directory entry 0 *is* the compilation directory, so
//! `./libio/genops.c` is the file; LLVM's symbolizer doubles it as binutils does.)
//!
//! binutils 2.40 also names the wrong file for some functions whose code comes from an
//! `#include`d `.c` file (libc's `grp-lookup.c` for code the line table puts in
//! `XXX-lookup.c`; `readelf --debug-dump=decodedline` shows the table). Where binutils and we
//! differ in files only, with equal functions and lines, a third implementation,
//! `llvm-symbolizer`, must name the same files as we do. Where libc's debug package is installed (binutils and we both find it
//! under /usr/lib/debug by build-id) this compares DWARF results; where it is not, both fall
//! back to the symbol table and the comparison is of names with `??:0` locations.
//!
//! The file-relative address given to binutils is computed independently of the symbolizer:
//! from `nm` symbol values and the runtime address of one known function (the load bias).

mod common;

use common::{build_dir, compile, summary, Target};
use skull_mem_symbolize::{Frame, Lookup, Module, Process, Symbolizer};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One frame as both tools can print it.
type Row = (String, String, u32);

/// Function symbols of `file` from `nm`: (value, size, name), only those with a size.
fn functions(file: &Path, dynamic: bool) -> Vec<(u64, u64, String)> {
    let mut nm = Command::new("nm");
    nm.args(["-S", "--defined-only"]);
    if dynamic {
        nm.arg("-D");
    }
    let out = nm.arg(file).output().expect("nm runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [value, size, kind, name] = fields[..] else {
                return None;
            };
            if !matches!(kind, "T" | "t" | "i" | "W" | "w") {
                return None;
            }
            let value = u64::from_str_radix(value, 16).ok()?;
            let size = u64::from_str_radix(size, 16).ok()?;
            let name = name.split('@').next()?.to_string();
            (size > 0).then_some((value, size, name))
        })
        .collect()
}

fn nm_value(functions: &[(u64, u64, String)], name: &str) -> u64 {
    functions
        .iter()
        .find(|f| f.2 == name)
        .unwrap_or_else(|| panic!("nm has no {name}"))
        .0
}

/// `addr2line -a -f -i -C` on many addresses: one group of frames per address.
fn binutils(file: &Path, svmas: &[u64]) -> Vec<Vec<Row>> {
    let out = Command::new("addr2line")
        .args(["-a", "-f", "-i", "-C", "-e"])
        .arg(file)
        .args(svmas.iter().map(|a| format!("{a:#x}")))
        .output()
        .expect("addr2line runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut groups: Vec<Vec<Row>> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("0x") {
            groups.push(Vec::new());
            continue;
        }
        let location = lines.next().unwrap();
        let location = location.split(" (discriminator").next().unwrap();
        let (file, line_no) = location.rsplit_once(':').unwrap();
        let row = (
            line.to_string(),
            undouble(file),
            line_no.parse().unwrap_or(0),
        );
        groups.last_mut().unwrap().push(row);
    }
    assert_eq!(groups.len(), svmas.len());
    groups
}

/// The files `llvm-symbolizer` names for each address, innermost frame first.
fn llvm_files(file: &Path, svmas: &[u64]) -> Vec<Vec<String>> {
    let out = Command::new("llvm-symbolizer")
        .arg(format!("--obj={}", file.display()))
        .args(["-f", "-i", "-C"])
        .args(svmas.iter().map(|a| format!("{a:#x}")))
        .output()
        .expect("llvm-symbolizer runs (it arbitrates where binutils disagrees)");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let groups: Vec<Vec<String>> = text
        .split("\n\n")
        .filter(|g| !g.trim().is_empty())
        .map(|group| {
            group
                .lines()
                .skip(1)
                .step_by(2)
                .map(|location| {
                    let mut parts = location.rsplitn(3, ':');
                    let file = parts.nth(2).unwrap_or("??");
                    undouble(file)
                })
                .collect()
        })
        .collect();
    assert_eq!(groups.len(), svmas.len());
    groups
}

/// `./libio/./libio/genops.c` → `./libio/genops.c` (see the module doc).
fn undouble(file: &str) -> String {
    match file.split_once("/./") {
        Some((dir, rest))
            if dir.starts_with("./") && rest.starts_with(&format!("{}/", &dir[2..])) =>
        {
            format!("./{rest}")
        }
        _ => file.to_string(),
    }
}

fn ours(frames: &[Frame]) -> Vec<Row> {
    summary(frames)
        .into_iter()
        .map(|(function, file, line, _inlined)| (function, file, line))
        .collect()
}

/// Fails, listing them, when any of the `compared` addresses of `file` came out differently.
fn assert_no_mismatches(mismatches: &[String], compared: usize, file: &Path) {
    assert!(
        mismatches.is_empty(),
        "{} of {} addresses in {} differ:\n{}",
        mismatches.len(),
        compared,
        file.display(),
        mismatches.join("\n")
    );
}

/// Symbolizes `bias + svma` for every svma and compares with binutils; returns how many
/// addresses were compared and how many of them needed llvm-symbolizer to settle the file.
fn agree(process: &Process, file: &Path, bias: u64, svmas: &[u64]) -> (usize, usize) {
    let expected = binutils(file, svmas);
    let mut symbolizer = Symbolizer::new();
    let mut mismatches = Vec::new();
    let mut disputed = Vec::new();
    for (&svma, expected) in svmas.iter().zip(expected) {
        let frames = symbolizer.symbolize(process, bias + svma, Lookup::Exact);
        let got = ours(&frames);
        if got == expected {
            continue;
        }
        let same_but_file = got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|(g, e)| g.0 == e.0 && g.2 == e.2);
        if same_but_file {
            disputed.push((svma, got));
        } else {
            mismatches.push(format!("{svma:#x}: binutils {expected:?}\n   ours {got:?}"));
        }
    }
    if !disputed.is_empty() {
        let addresses: Vec<u64> = disputed.iter().map(|d| d.0).collect();
        for ((svma, got), llvm) in disputed.iter().zip(llvm_files(file, &addresses)) {
            let files: Vec<String> = got.iter().map(|g| g.1.clone()).collect();
            if files != llvm {
                mismatches.push(format!("{svma:#x}: llvm {llvm:?}\n   ours {got:?}"));
            }
        }
    }
    assert_no_mismatches(&mismatches, svmas.len(), file);
    println!(
        "{}: {} addresses agree, {} settled by llvm-symbolizer",
        file.display(),
        svmas.len(),
        disputed.len()
    );
    (svmas.len(), disputed.len())
}

/// Every byte of every function: small programs are compared instruction by instruction.
fn every_byte(functions: &[(u64, u64, String)]) -> Vec<u64> {
    functions
        .iter()
        .flat_map(|&(value, size, _)| value..value + size)
        .collect()
}

/// Start, middle and last byte of every function.
fn spread(functions: &[(u64, u64, String)]) -> Vec<u64> {
    functions
        .iter()
        .flat_map(|&(value, size, _)| [value, value + size / 2, value + size - 1])
        .collect()
}

fn libc_path(process: &Process) -> PathBuf {
    process
        .maps()
        .executable()
        .find(|m| m.name().starts_with("libc.so"))
        .map(|m| match &m.backing {
            skull_mem_symbolize::Backing::File { path, .. } => PathBuf::from(path),
            _ => unreachable!(),
        })
        .expect("libc is mapped")
}

#[test]
fn test_programs_agree_with_binutils_addr2line() {
    let dir = build_dir("binutils_agreement");
    let flags = ["-g", "-O2", "-fomit-frame-pointer"];
    let app = compile("gcc", &["app.c"], &dir.join("app-O2"), &flags);
    let nopie = compile(
        "gcc",
        &["app.c"],
        &dir.join("app-nopie"),
        &["-g", "-O0", "-no-pie"],
    );
    let plugin = compile(
        "gcc",
        &["plugin.c"],
        &dir.join("libplugin.so"),
        &["-g", "-O2", "-shared", "-fPIC"],
    );
    for (program, args) in [(&app, vec![plugin.as_path()]), (&nopie, vec![])] {
        let target = Target::spawn(program, &args);
        let process = target.process();
        let table = functions(program, false);
        let bias = target.address("capture_fn") - nm_value(&table, "capture");
        let (compared, disputed) = agree(&process, program, bias, &every_byte(&table));
        assert!(compared > 100, "only {compared} addresses");
        assert_eq!(disputed, 0);
        if !args.is_empty() {
            let table = functions(&plugin, false);
            let bias = target.address("plugin_fn") - nm_value(&table, "plugin_entry");
            let (compared, disputed) = agree(&process, &plugin, bias, &every_byte(&table));
            assert!(compared > 20, "only {compared} addresses");
            assert_eq!(disputed, 0);
        }
    }
}

#[test]
fn libc_agrees_with_binutils_addr2line() {
    let dir = build_dir("binutils_agreement");
    let app = compile("gcc", &["app.c"], &dir.join("app-libc"), &["-g", "-O0"]);
    let target = Target::spawn(&app, &[]);
    let process = target.process();
    let libc = libc_path(&process);
    let table = functions(&libc, true);
    let bias = target.address("libc_malloc") - nm_value(&table, "malloc");
    // Every 5th exported function of libc, at its start, middle and last byte.
    let sample: Vec<_> = table.iter().step_by(5).cloned().collect();
    let (compared, disputed) = agree(&process, &libc, bias, &spread(&sample));
    assert!(compared > 1000, "only {compared} addresses");
    assert!(
        disputed * 10 < compared,
        "{disputed} of {compared} needed llvm-symbolizer"
    );
}

/// Compares symbol-table-only lookups (`Module::frames` at file-relative addresses) with
/// binutils on a file without DWARF: both must print the same names and `??:0` locations.
fn agree_without_dwarf(file: &Path, svmas: &[u64]) -> usize {
    let module = Module::load(file, "test", Path::new("/")).unwrap();
    assert!(!module.has_dwarf(), "{} has DWARF", file.display());
    let expected = binutils(file, svmas);
    let mismatches: Vec<String> = svmas
        .iter()
        .zip(expected)
        .filter_map(|(&svma, expected)| {
            let got = ours(&module.frames(svma));
            (got != expected).then(|| format!("{svma:#x}: binutils {expected:?} ours {got:?}"))
        })
        .collect();
    assert_no_mismatches(&mismatches, svmas.len(), file);
    svmas.len()
}

#[test]
fn symbol_tables_agree_with_binutils_when_there_is_no_debug_info() {
    let dir = build_dir("binutils_agreement");
    // Built without -g: names come from .symtab only.
    let app = compile("gcc", &["app.c"], &dir.join("app-nodebug"), &["-O2"]);
    assert!(agree_without_dwarf(&app, &every_byte(&functions(&app, false))) > 100);
    // A copy of libc that cannot be linked to its debug file: names come from .dynsym, which
    // binutils' addr2line does not read (it prints `??`), so names are checked against `nm -D`:
    // ours must be one of the names exported at the address the function starts at (aliases
    // such as `malloc` and `__libc_malloc` are equally right).
    let process = Process::attach(std::process::id()).unwrap();
    let libc = libc_path(&process);
    let bare = dir.join("libc-bare.so");
    let status = Command::new("objcopy")
        .args([
            "--remove-section=.gnu_debuglink",
            "--remove-section=.note.gnu.build-id",
        ])
        .arg(&libc)
        .arg(&bare)
        .status()
        .expect("objcopy runs");
    assert!(status.success());
    let module = Module::load(&bare, "libc-bare.so", Path::new("/")).unwrap();
    assert!(!module.has_dwarf());
    let table = functions(&bare, true);
    let mut checked = 0;
    for &(value, size, _) in table.iter().step_by(5) {
        let aliases: Vec<&str> = table
            .iter()
            .filter(|f| f.0 == value)
            .map(|f| f.2.as_str())
            .collect();
        for svma in [value, value + size / 2, value + size - 1] {
            let frames = module.frames(svma);
            let name = frames[0].function.as_deref().unwrap_or("??");
            assert!(
                aliases.contains(&name),
                "{svma:#x}: {name} is not one of {aliases:?}"
            );
            assert_eq!((frames[0].file.as_deref(), frames[0].line), (None, None));
            checked += 1;
        }
    }
    assert!(checked > 1000);
}

/// Compares `Module::frames` with binutils at every byte of every function of `file` that is
/// not in inlined code; returns how many addresses were compared. (In inlined code binutils
/// names the innermost frame of a C++ function without a linkage name by its enclosing
/// symbol on the first lookup, and by its DWARF name on later ones: order-dependent.) Where
/// only the file differs, llvm-symbolizer settles it, as in `agree`: binutils names the
/// program's source for some libstdc++ functions whose line table says `std_function.h`.
/// Names the C++ demangler we use (cpp_demangle 0.5.1, the latest) gets wrong where binutils'
/// libiberty does not: `std::__relocate_a_1<void*, void*>` stays mangled (an `enable_if`
/// return type with a `sr` expression), and a constructor template taking a lambda loses its
/// parameter list. Addresses binutils names so are not compared; no other name is excused.
const DEMANGLER_GAPS: [&str; 2] = [
    "std::enable_if<std::__is_bitwise_relocatable<void*, void>::value, void**>::type std::__relocate_a_1<",
    "std::function<void (int)>::function<main::{lambda(int)#2}, void>(",
];

fn agree_outside_inlined_code(file: &Path) -> usize {
    let module = Module::load(file, "test", Path::new("/")).unwrap();
    let svmas = every_byte(&functions(file, false));
    let expected = binutils(file, &svmas);
    let mut compared = 0;
    let mut mismatches = Vec::new();
    let mut disputed = Vec::new();
    for (&svma, expected) in svmas.iter().zip(expected) {
        let excused = DEMANGLER_GAPS
            .iter()
            .any(|gap| expected[0].0.starts_with(gap));
        if expected.len() != 1 || excused {
            continue;
        }
        compared += 1;
        let got = ours(&module.frames(svma));
        if got == expected {
            continue;
        }
        if got.len() == 1 && (&got[0].0, got[0].2) == (&expected[0].0, expected[0].2) {
            disputed.push((svma, got[0].1.clone()));
        } else {
            mismatches.push(format!("{svma:#x}: binutils {expected:?}\n   ours {got:?}"));
        }
    }
    let addresses: Vec<u64> = disputed.iter().map(|d| d.0).collect();
    for ((svma, got), llvm) in disputed.iter().zip(llvm_files(file, &addresses)) {
        if llvm != [got.clone()] {
            mismatches.push(format!("{svma:#x}: llvm {llvm:?}\n   ours {got:?}"));
        }
    }
    assert_no_mismatches(&mismatches, compared, file);
    compared
}

#[test]
fn cpp_lambdas_and_compiler_clones_keep_the_names_binutils_prints() {
    let dir = build_dir("binutils_agreement");
    for (name, flags) in [("lambdas-O2", ["-g", "-O2"]), ("lambdas-O0", ["-g", "-O0"])] {
        let program = compile("g++", &["lambdas.cpp"], &dir.join(name), &flags);
        assert!(agree_outside_inlined_code(&program) > 100);
    }
    // By name: a lambda's operator() at -O0, a clone at -O2, each at its first byte, as `nm -C`
    // names their symbols.
    let module = |name: &str| Module::load(&dir.join(name), name, Path::new("/")).unwrap();
    let o0 = dir.join("lambdas-O0");
    let lambda = "main::{lambda(unsigned long)#1}::operator()(unsigned long) const";
    let at = demangled_value(&o0, lambda);
    assert_eq!(
        module("lambdas-O0").frames(at)[0].function.as_deref(),
        Some(lambda)
    );
    let o2 = dir.join("lambdas-O2");
    let clone = "fill(unsigned long, int) [clone .constprop.0]";
    let at = demangled_value(&o2, clone);
    assert_eq!(
        module("lambdas-O2").frames(at)[0].function.as_deref(),
        Some(clone)
    );
}

/// The value of the function symbol `nm -C` prints as `name`.
fn demangled_value(file: &Path, name: &str) -> u64 {
    let out = Command::new("nm")
        .arg("-C")
        .arg(file)
        .output()
        .expect("nm runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|line| {
            let (value, rest) = line.split_once(' ')?;
            (rest.get(2..)? == name).then(|| u64::from_str_radix(value, 16).ok())?
        })
        .unwrap_or_else(|| panic!("nm -C has no {name}"))
}
