//! Heap profiles in pprof's format (`perftools.profiles.Profile`, gzipped), as Go's heap
//! profiles have them: sample types `alloc_objects`/count, `alloc_space`/bytes,
//! `inuse_objects`/count, `inuse_space`/bytes (default `inuse_space`), so `go tool pprof`,
//! Pyroscope, Parca and Grafana read them as they read Go's.
//!
//! - [`heap_profile`]: the traced stacks of a process ([`HeapTrace`]), one sample per stack
//!   and scope with labels `scope` and `kind`; every location carries its mapping (path,
//!   build id, offsets) and one line per frame, inlined frames included; sampled tracing
//!   sets the period and scales the values to estimates.
//! - [`scope_profile`]: with tracing off, one sample per scope from the always-on counters,
//!   its stack one frame named after the scope.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;
use skull_mem_core::counters::Counter;
use skull_mem_symbolize::{Backing, Lookup, Process, Symbolizer};

use super::heap::{by_stack_and_scope, function_name, read_heap_trace, Figures, HeapTrace};
use super::profile::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
use crate::report::ProcessSnapshot;
use crate::trace::TraceError;

/// One of the four values every sample has, in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SampleType {
    /// Allocations since tracing started (`alloc_objects`, count).
    AllocObjects,
    /// Their bytes (`alloc_space`, bytes).
    AllocSpace,
    /// Live blocks (`inuse_objects`, count).
    InuseObjects,
    /// Their bytes (`inuse_space`, bytes): what a heap profile shows by default.
    #[default]
    InuseSpace,
}

impl SampleType {
    /// The four, in the order of a sample's values.
    pub const ALL: [SampleType; 4] = [
        SampleType::AllocObjects,
        SampleType::AllocSpace,
        SampleType::InuseObjects,
        SampleType::InuseSpace,
    ];

    /// Its name and unit in the profile (pprof's `-sample_index` takes the name).
    pub fn name_and_unit(self) -> (&'static str, &'static str) {
        match self {
            SampleType::AllocObjects => ("alloc_objects", "count"),
            SampleType::AllocSpace => ("alloc_space", "bytes"),
            SampleType::InuseObjects => ("inuse_objects", "count"),
            SampleType::InuseSpace => ("inuse_space", "bytes"),
        }
    }
}

/// How a profile is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProfileOptions {
    /// The value tools show unless told otherwise.
    pub default_sample: SampleType,
}

/// A label's value when a stack's scope is not known: nothing of it is live (the stack
/// table does not record scopes, only live blocks do), or its scope id is not registered.
pub const UNKNOWN_SCOPE: &str = "(unknown)";

/// The profile under construction: its tables and their indexes.
struct Builder {
    profile: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(i64, i64), u64>,
}

impl Builder {
    fn new(options: &ProfileOptions, time_nanos: i64) -> Builder {
        let mut builder = Builder {
            profile: Profile::default(),
            strings: HashMap::new(),
            functions: HashMap::new(),
        };
        builder.string(""); // string_table[0] is always "".
        for sample_type in SampleType::ALL {
            let (name, unit) = sample_type.name_and_unit();
            let value_type = builder.value_type(name, unit);
            builder.profile.sample_type.push(value_type);
        }
        builder.profile.default_sample_type =
            builder.string(options.default_sample.name_and_unit().0);
        builder.profile.period_type = Some(builder.value_type("space", "bytes"));
        builder.profile.period = 1;
        builder.profile.time_nanos = time_nanos;
        builder
    }

    fn string(&mut self, text: &str) -> i64 {
        if let Some(&index) = self.strings.get(text) {
            return index;
        }
        let index = self.profile.string_table.len() as i64;
        self.profile.string_table.push(text.to_owned());
        self.strings.insert(text.to_owned(), index);
        index
    }

    fn value_type(&mut self, name: &str, unit: &str) -> ValueType {
        ValueType {
            r#type: self.string(name),
            unit: self.string(unit),
        }
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let key = (self.string(name), self.string(file));
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        self.profile.function.push(Function {
            id,
            name: key.0,
            system_name: key.0,
            filename: key.1,
            start_line: 0,
        });
        self.functions.insert(key, id);
        id
    }

    fn label(&mut self, key: &str, value: &str) -> Label {
        Label {
            key: self.string(key),
            str: self.string(value),
            num: 0,
            num_unit: 0,
        }
    }

    fn sample(&mut self, location_id: Vec<u64>, figures: &Figures, scope: (&str, &str)) {
        let label = vec![self.label("scope", scope.0), self.label("kind", scope.1)];
        self.profile.sample.push(Sample {
            location_id,
            value: vec![
                figures.alloc_objects.round() as i64,
                figures.alloc_space.round() as i64,
                figures.inuse_objects.round() as i64,
                figures.inuse_space.round() as i64,
            ],
            label,
        });
    }

    /// The profile, encoded and gzipped (on disk and over HTTP pprof profiles are gzipped).
    fn finish(self) -> Vec<u8> {
        let encoded = self.profile.encode_to_vec();
        let mut gzip = GzEncoder::new(Vec::with_capacity(encoded.len() / 4), Compression::fast());
        // Writing to a Vec cannot fail.
        gzip.write_all(&encoded).expect("gzip into memory");
        gzip.finish().expect("gzip into memory")
    }
}

/// The locations of one process: one per return address, with its mapping and lines.
struct Locations<'a> {
    process: Option<&'a Process>,
    by_address: HashMap<u64, u64>,
    mappings: HashMap<u64, u64>,
    build_ids: HashMap<String, String>,
}

impl Locations<'_> {
    fn id(&mut self, builder: &mut Builder, symbolizer: &mut Symbolizer, address: u64) -> u64 {
        if let Some(&id) = self.by_address.get(&address) {
            return id;
        }
        let id = builder.profile.location.len() as u64 + 1;
        // A return address: the call is the instruction before it, where the frame is.
        let call = address.saturating_sub(1);
        let mut location = Location {
            id,
            mapping_id: 0,
            address: call,
            line: Vec::new(),
            is_folded: false,
        };
        match self.process {
            Some(process) => {
                location.mapping_id = self.mapping(builder, process, call);
                for frame in symbolizer.symbolize(process, address, Lookup::ReturnAddress) {
                    let name = function_name(&frame);
                    let function_id = builder.function(&name, frame.file.as_deref().unwrap_or(""));
                    location.line.push(Line {
                        function_id,
                        line: frame.line.map_or(0, i64::from),
                        column: frame.column.map_or(0, i64::from),
                    });
                }
            }
            None => {
                let function_id = builder.function(&format!("?? ({address:#x})"), "");
                location.line.push(Line {
                    function_id,
                    line: 0,
                    column: 0,
                });
            }
        }
        builder.profile.location.push(location);
        self.by_address.insert(address, id);
        id
    }

    /// The id of the mapping `address` is in (0: none).
    fn mapping(&mut self, builder: &mut Builder, process: &Process, address: u64) -> u64 {
        let Some(mapping) = process.maps().find(address) else {
            return 0;
        };
        if let Some(&id) = self.mappings.get(&mapping.start) {
            return id;
        }
        let build_id = match &mapping.backing {
            Backing::File { path, .. } => {
                let build_id = match self.build_ids.get(path) {
                    Some(build_id) => build_id.clone(),
                    None => {
                        let found = process
                            .file_candidates(mapping)
                            .iter()
                            .find_map(|candidate| build_id_of(candidate))
                            .unwrap_or_default();
                        self.build_ids.insert(path.clone(), found.clone());
                        found
                    }
                };
                builder.string(&build_id)
            }
            _ => 0,
        };
        let id = builder.profile.mapping.len() as u64 + 1;
        let filename = match &mapping.backing {
            Backing::File { path, .. } => builder.string(path),
            _ => builder.string(mapping.name()),
        };
        builder.profile.mapping.push(Mapping {
            id,
            memory_start: mapping.start,
            memory_limit: mapping.end,
            file_offset: mapping.offset,
            filename,
            build_id,
            // Every location of the mapping comes symbolized: tools must not look again.
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        });
        self.mappings.insert(mapping.start, id);
        id
    }
}

/// The GNU build id of the ELF file at `path`, in hex, as `readelf -n` prints it.
fn build_id_of(path: &Path) -> Option<String> {
    use object::Object;
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: the map is only read while this function runs; a file truncated meanwhile
    // would fault, as with any reader of mapped files (the symbolizer maps them too).
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let elf = object::File::parse(&*map).ok()?;
    let id = elf.build_id().ok()??;
    Some(id.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// The heap profile of `trace`: one sample per stack and scope (see
/// [`super::heap::by_stack_and_scope`]), gzipped. Sampled tracing sets `period` to the
/// sampling mean and scales each value to its estimate, as Go does.
pub fn heap_profile(
    trace: &HeapTrace,
    symbolizer: &mut Symbolizer,
    options: &ProfileOptions,
) -> Vec<u8> {
    let mut builder = Builder::new(options, trace.time_nanos);
    let mean = trace.status.sample_bytes.unwrap_or(0);
    if mean != 0 {
        builder.profile.period = mean as i64;
    }
    let comment = builder.string(&format!(
        "skull-mem heap profile of process {} (traced stacks)",
        trace.pid
    ));
    builder.profile.comment.push(comment);
    let mut locations = Locations {
        process: trace.process.as_ref(),
        by_address: HashMap::new(),
        mappings: HashMap::new(),
        build_ids: HashMap::new(),
    };
    // Entries come in stack order: a stack's locations are worked out once, for its first.
    let mut current: Option<(usize, Vec<u64>)> = None;
    for entry in by_stack_and_scope(trace) {
        let ids = match &current {
            Some((stack, ids)) if *stack == entry.stack => ids.clone(),
            _ => {
                let ids: Vec<u64> = trace.stacks[entry.stack]
                    .frames
                    .iter()
                    .map(|&address| locations.id(&mut builder, symbolizer, address))
                    .collect();
                current = Some((entry.stack, ids.clone()));
                ids
            }
        };
        let scope = entry.scope.map(|index| &trace.scopes[index]);
        let names = scope.map_or((UNKNOWN_SCOPE, UNKNOWN_SCOPE), |scope| {
            (scope.name.as_str(), scope.kind.as_str())
        });
        builder.sample(ids, &entry.figures, names);
    }
    builder.finish()
}

/// The heap profile of process `pid`, read now through its segment in `dir` (what
/// `skull-trace report --format pprof` and `/debug/pprof/heap` serve).
pub fn heap_profile_of(
    dir: &Path,
    pid: u32,
    symbolizer: &mut Symbolizer,
    options: &ProfileOptions,
) -> Result<Vec<u8>, TraceError> {
    let trace = read_heap_trace(dir, pid)?;
    Ok(heap_profile(&trace, symbolizer, options))
}

/// The per-scope profile of a process from its counters (tracing off): one sample per
/// scope, its stack one frame named after the scope; values as in a heap profile
/// (allocations and bytes since the process started, live blocks and bytes now), labels
/// `scope` and `kind`. Gzipped.
pub fn scope_profile(snapshot: &ProcessSnapshot) -> Vec<u8> {
    let time_nanos = crate::clock::parse_iso(&snapshot.time).map_or(0, |millis| millis * 1_000_000);
    let mut builder = Builder::new(&ProfileOptions::default(), time_nanos);
    let comment = builder.string(&format!(
        "skull-mem per-scope profile of process {} (counters)",
        snapshot.report.pid
    ));
    builder.profile.comment.push(comment);
    for scope in &snapshot.report.scopes {
        let function_id = builder.function(&scope.name, "");
        let id = builder.profile.location.len() as u64 + 1;
        builder.profile.location.push(Location {
            id,
            mapping_id: 0,
            address: 0,
            line: vec![Line {
                function_id,
                line: 0,
                column: 0,
            }],
            is_folded: false,
        });
        let figures = Figures {
            alloc_objects: scope.counters.get(Counter::AllocBlocks) as f64,
            alloc_space: scope.counters.get(Counter::AllocBytes) as f64,
            inuse_objects: scope.live_blocks as f64,
            inuse_space: scope.used_bytes as f64,
        };
        builder.sample(vec![id], &figures, (&scope.name, &scope.kind));
    }
    builder.finish()
}
