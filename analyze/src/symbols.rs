//! Symbolization: kernel addresses through the recording's kallsyms
//! snapshot, user addresses through the ELF symbol tables of mapped files.
//!
//! Lookups are cached per DSO: a file is opened and its symbols sorted once,
//! however many samples fall in it.

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, ObjectSymbolTable, SymbolKind};
use std::collections::HashMap;

/// A sorted table of symbols, looked up by address.
#[derive(Debug, Default, Clone)]
pub struct SymbolTable {
    /// (start, end, name), sorted by start. `end` is exclusive.
    symbols: Vec<(u64, u64, String)>,
}

/// How strongly a symbol is bound, for choosing among aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Visible outside its object.
    Global,
    /// Global, but may be overridden.
    Weak,
    /// Local to its object.
    Local,
}

/// A symbol before aliases are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolEntry {
    /// Start address.
    pub start: u64,
    /// Size in bytes (0 when unknown).
    pub size: u64,
    /// Name, demangled.
    pub name: String,
    /// Binding.
    pub binding: Binding,
}

/// Which of two aliases at one address perf shows, so that strobe names
/// a function the way perf does: a symbol with a size, then a non-weak one,
/// then a global one, then the one with fewer leading underscores, then
/// the longer name. (perf's `choose_best_symbol`.)
fn better_alias(a: &SymbolEntry, b: &SymbolEntry) -> bool {
    let underscores = |n: &str| n.bytes().take_while(|&c| c == b'_').count();
    let key = |s: &SymbolEntry| {
        (
            s.size > 0,
            s.binding != Binding::Weak,
            s.binding == Binding::Global,
            std::cmp::Reverse(underscores(&s.name)),
            s.name.len(),
        )
    };
    key(a) > key(b)
}

/// Keeps one symbol per address: the best alias by perf's rule.
pub fn resolve_aliases(mut entries: Vec<SymbolEntry>) -> Vec<(u64, u64, String)> {
    entries.sort_by_key(|e| e.start);
    let mut out: Vec<SymbolEntry> = Vec::with_capacity(entries.len());
    for entry in entries {
        match out.last_mut() {
            Some(last) if last.start == entry.start => {
                if better_alias(&entry, last) {
                    *last = entry;
                }
            }
            _ => out.push(entry),
        }
    }
    out.into_iter()
        .map(|e| (e.start, e.start + e.size, e.name))
        .collect()
}

impl SymbolTable {
    /// Builds a table from symbols with unique starts (later duplicates of a
    /// start are dropped); entries with a zero size extend to the next symbol.
    pub fn new(mut symbols: Vec<(u64, u64, String)>) -> Self {
        symbols.sort_by_key(|s| s.0);
        symbols.dedup_by_key(|s| s.0);
        for i in 0..symbols.len() {
            if symbols[i].1 <= symbols[i].0 {
                symbols[i].1 = symbols.get(i + 1).map_or(u64::MAX, |next| next.0);
            }
        }
        SymbolTable { symbols }
    }

    /// The symbol containing `addr`, with the offset into it.
    pub fn lookup(&self, addr: u64) -> Option<(&str, u64)> {
        let after = self.symbols.partition_point(|s| s.0 <= addr);
        let (start, end, name) = self.symbols.get(after.checked_sub(1)?)?;
        (addr < *end).then(|| (name.as_str(), addr - start))
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}

/// Kernel symbols from a kallsyms snapshot, with the module of each.
#[derive(Debug, Default, Clone)]
pub struct KernelSymbols {
    table: SymbolTable,
    /// Module name per symbol start, for symbols in modules.
    modules: HashMap<u64, String>,
}

impl KernelSymbols {
    /// Parses text in /proc/kallsyms' format (`addr type name [module]`).
    /// Lines that do not parse are skipped. Only text symbols are kept.
    pub fn parse(text: &[u8]) -> Self {
        let mut symbols: Vec<(u64, u64, String)> = Vec::new();
        let mut modules = HashMap::new();
        for line in String::from_utf8_lossy(text).lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(addr), Some(kind), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if addr == 0 {
                continue;
            }
            if let Some(module) = fields.next() {
                modules.insert(
                    addr,
                    module.trim_matches(|c| c == '[' || c == ']').to_string(),
                );
            }
            symbols.push((addr, 0, name.to_string()));
        }
        // Of aliases at one address, the last in kallsyms order is the one
        // perf shows (the earlier ones get an empty range there); keep it.
        symbols.reverse();
        symbols.sort_by_key(|s| s.0);
        KernelSymbols {
            table: SymbolTable::new(symbols),
            modules,
        }
    }

    /// The symbol and its DSO (`[kernel.kallsyms]` or `[module]`) for `addr`.
    pub fn lookup(&self, addr: u64) -> Option<(&str, String)> {
        let (name, offset) = self.table.lookup(addr)?;
        let start = addr - offset;
        let dso = match self.modules.get(&start) {
            Some(module) => format!("[{module}]"),
            None => "[kernel.kallsyms]".to_string(),
        };
        Some((name, dso))
    }

    /// The symbol containing `addr`, with the offset into it.
    pub fn lookup_offset(&self, addr: u64) -> Option<(&str, u64)> {
        self.table.lookup(addr)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// Demangles Rust and C++ names; returns others unchanged.
pub fn demangle(name: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return format!("{d:#}");
    }
    if name.starts_with("_Z") {
        if let Ok(sym) = cpp_demangle::Symbol::new(name) {
            if let Ok(text) = sym.demangle(&cpp_demangle::DemangleOptions::default().no_params()) {
                return text;
            }
        }
    }
    name.to_string()
}

/// The symbols of one ELF file, and how file offsets map to its addresses.
#[derive(Debug, Default, Clone)]
pub struct ElfSymbols {
    table: SymbolTable,
    /// (file offset, size, virtual address) of each loadable segment.
    segments: Vec<(u64, u64, u64)>,
}

/// The function symbols of an ELF file (.symtab and .dynsym).
fn function_symbols(elf: &object::File<'_>) -> Vec<SymbolEntry> {
    let mut entries = Vec::new();
    for sym in elf.symbols().chain(elf.dynamic_symbols()) {
        if sym.address() == 0 {
            continue;
        }
        // Functions, and (as perf takes them) untyped labels in code
        // sections, such as hand-written assembly entry points.
        // A detached debug file keeps section headers but not contents
        // (its .text is NOBITS), so code is recognised by the executable flag.
        let in_code = || {
            match sym.section() {
            object::SymbolSection::Section(index) => elf.section_by_index(index).is_ok_and(|s| {
                s.kind() == object::SectionKind::Text
                    || matches!(s.flags(), object::SectionFlags::Elf { sh_flags } if sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0)
            }),
            _ => false,
        }
        };
        let is_code =
            sym.kind() == SymbolKind::Text || (sym.kind() == SymbolKind::Unknown && in_code());
        if !is_code {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() {
            continue;
        }
        let binding = if sym.is_weak() {
            Binding::Weak
        } else if sym.is_global() {
            Binding::Global
        } else {
            Binding::Local
        };
        entries.push(SymbolEntry {
            start: sym.address(),
            size: sym.size(),
            name: demangle(name),
            binding,
        });
    }
    entries
}

/// `NAME@plt` symbols for the PLT stubs of an x86-64 ELF file, as perf
/// synthesizes them: the n-th `.rela.plt` relocation's stub is the n-th
/// 16-byte entry of `.plt.sec` when there is one (IBT), else of `.plt` after
/// its header entry.
fn plt_symbols(elf: &object::File<'_>) -> Vec<SymbolEntry> {
    const ENTRY: u64 = 16;
    const RELA: usize = 24;
    if elf.architecture() != object::Architecture::X86_64 {
        return Vec::new();
    }
    let Some(relocations) = elf.section_by_name(".rela.plt").and_then(|s| s.data().ok()) else {
        return Vec::new();
    };
    let (first, stubs) = match (elf.section_by_name(".plt.sec"), elf.section_by_name(".plt")) {
        (Some(sec), _) => (sec.address(), sec.size()),
        (None, Some(plt)) => (plt.address() + ENTRY, plt.size().saturating_sub(ENTRY)),
        (None, None) => return Vec::new(),
    };
    let Some(dynsyms) = elf.dynamic_symbol_table() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (n, rela) in relocations.chunks_exact(RELA).enumerate() {
        let start = first + n as u64 * ENTRY;
        if (n as u64 + 1) * ENTRY > stubs {
            break;
        }
        let info = u64::from_le_bytes(rela[8..16].try_into().unwrap_or_default());
        let index = object::SymbolIndex((info >> 32) as usize);
        let Some(name) = dynsyms
            .symbol_by_index(index)
            .ok()
            .and_then(|sym| sym.name().ok().map(str::to_string))
        else {
            continue;
        };
        if !name.is_empty() {
            out.push(SymbolEntry {
                start,
                size: ENTRY,
                name: format!("{name}@plt"),
                binding: Binding::Global,
            });
        }
    }
    out
}

/// Where a separate debug file for an ELF file may be: by build-id under
/// /usr/lib/debug/.build-id, then by its .gnu_debuglink name.
pub fn debug_file_candidates(
    path: &str,
    build_id: Option<&[u8]>,
    debuglink: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(id) = build_id.filter(|id| id.len() > 1) {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        out.push(format!(
            "/usr/lib/debug/.build-id/{}/{}.debug",
            &hex[..2],
            &hex[2..]
        ));
    }
    if let Some(name) = debuglink {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        out.push(format!("/usr/lib/debug{dir}/{name}"));
        out.push(format!("{dir}/.debug/{name}"));
    }
    out
}

impl ElfSymbols {
    /// Parses ELF bytes: function symbols of .symtab and .dynsym.
    pub fn parse(data: &[u8]) -> Option<Self> {
        Self::parse_with_debug(data, None)
    }

    /// Parses ELF bytes, taking symbols from `debug` (the contents of a
    /// separate debug file) when it has any; addresses still map through the
    /// segments of the file itself.
    pub fn parse_with_debug(data: &[u8], debug: Option<&[u8]>) -> Option<Self> {
        let elf = object::File::parse(data).ok()?;
        let mut entries = debug
            .and_then(|d| object::File::parse(d).ok())
            .map(|d| function_symbols(&d))
            .unwrap_or_default();
        if entries.is_empty() {
            entries = function_symbols(&elf);
        }
        entries.extend(plt_symbols(&elf));
        let symbols = resolve_aliases(entries);
        let segments = elf
            .segments()
            .map(|seg| {
                let (offset, size) = seg.file_range();
                (offset, size, seg.address())
            })
            .collect();
        Some(ElfSymbols {
            table: SymbolTable::new(symbols),
            segments,
        })
    }

    /// The ELF virtual address of a file offset (what a mapping's `pgoff` gives).
    pub fn file_offset_to_address(&self, offset: u64) -> Option<u64> {
        let &(seg_offset, _, vaddr) = self
            .segments
            .iter()
            .find(|&&(o, size, _)| (o..o + size).contains(&offset))?;
        Some(offset - seg_offset + vaddr)
    }

    /// The symbol for a file offset.
    pub fn lookup_file_offset(&self, offset: u64) -> Option<(&str, u64)> {
        self.table.lookup(self.file_offset_to_address(offset)?)
    }
}

/// Parses a JIT symbol map (`/tmp/perf-PID.map`): lines of `START SIZE
/// NAME`, start and size in hex. Lines that do not parse are skipped.
pub fn parse_perf_map(text: &str) -> SymbolTable {
    let symbols = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ' ');
            let start = u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
            let size = u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
            let name = fields.next()?.trim();
            (!name.is_empty()).then(|| (start, start.saturating_add(size.max(1)), name.to_string()))
        })
        .collect();
    SymbolTable::new(symbols)
}

/// This process's vDSO image. The kernel maps the same vDSO into every
/// process, so it names the vDSO functions of a recording made on this
/// kernel (perf likewise resolves `[vdso]` from an image it saved).
fn own_vdso() -> Option<Vec<u8>> {
    // SAFETY: getauxval has no preconditions; 0 means the entry is absent.
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    if base == 0 {
        return None;
    }
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.ends_with("[vdso]"))?;
    let (start, end) = line.split_whitespace().next()?.split_once('-')?;
    let (start, end) = (
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    );
    if start != base || end <= start {
        return None;
    }
    // SAFETY: [start, end) is the vDSO mapping of this process, readable
    // for as long as the process runs; it is copied out at once.
    Some(unsafe { std::slice::from_raw_parts(start as *const u8, end - start) }.to_vec())
}

fn map_file(path: &str) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: read-only private mapping of a file we only read.
    unsafe { memmap2::Mmap::map(&file) }.ok()
}

/// One frame of source-level call stack at an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFrame {
    /// Function name, demangled.
    pub function: String,
    /// `file:line`, when DWARF has it.
    pub srcline: Option<String>,
    /// Whether this frame was inlined into the next one.
    pub inlined: bool,
}

/// ELF symbol tables (and, on demand, DWARF line tables) by path, each
/// loaded on first use.
#[derive(Default)]
pub struct DsoCache {
    /// Build-ids the recording saw, by path: a file whose build-id differs
    /// now (rebuilt since) is not used, so its samples show as unknown
    /// rather than under wrong names.
    expected_build_ids: HashMap<String, Vec<u8>>,
    /// Paths skipped because their build-id changed.
    pub stale: Vec<String>,
    files: HashMap<String, Option<ElfSymbols>>,
    /// The file DWARF was found in, per path (the debug file when there is one).
    dwarf_paths: HashMap<String, Option<String>>,
    dwarf: HashMap<String, Option<addr2line::Loader>>,
}

impl std::fmt::Debug for DsoCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsoCache")
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl DsoCache {
    /// A cache that checks files against the build-ids a recording saw.
    pub fn with_build_ids(expected_build_ids: HashMap<String, Vec<u8>>) -> Self {
        DsoCache {
            expected_build_ids,
            ..Default::default()
        }
    }

    /// The source-level frames at a file offset of `path`, innermost first:
    /// functions inlined there, then the function itself. Empty when the
    /// file has no DWARF.
    pub fn source_frames(&mut self, path: &str, offset: u64) -> Vec<SourceFrame> {
        let Some(vaddr) = self
            .get(path)
            .and_then(|e| e.file_offset_to_address(offset))
        else {
            return Vec::new();
        };
        let dwarf_path = self
            .dwarf_paths
            .get(path)
            .cloned()
            .flatten()
            .unwrap_or_else(|| path.to_string());
        let loader = self
            .dwarf
            .entry(dwarf_path.clone())
            .or_insert_with(|| addr2line::Loader::new(&dwarf_path).ok());
        let Some(loader) = loader.as_ref() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Ok(mut frames) = loader.find_frames(vaddr) {
            while let Ok(Some(frame)) = frames.next() {
                let function = frame
                    .function
                    .as_ref()
                    .and_then(|f| f.demangle().ok().map(|n| n.into_owned()))
                    .unwrap_or_else(|| "[unknown]".to_string());
                let srcline = frame.location.as_ref().and_then(|l| {
                    let file = l.file?.rsplit('/').next()?;
                    Some(format!("{file}:{}", l.line?))
                });
                out.push(SourceFrame {
                    function,
                    srcline,
                    inlined: true,
                });
            }
        }
        if let Some(outermost) = out.last_mut() {
            outermost.inlined = false;
        }
        out
    }

    /// The symbols of the file at `path` (None if it cannot be read).
    pub fn get(&mut self, path: &str) -> Option<&ElfSymbols> {
        let dwarf_paths = &mut self.dwarf_paths;
        let (expected, stale) = (&self.expected_build_ids, &mut self.stale);
        self.files
            .entry(path.to_string())
            .or_insert_with(|| {
                if path == "[vdso]" {
                    return ElfSymbols::parse(&own_vdso()?);
                }
                if !path.starts_with('/') {
                    return None;
                }
                let map = map_file(path)?;
                let elf = object::File::parse(&*map).ok()?;
                let build_id = elf.build_id().ok().flatten().map(|id| id.to_vec());
                if let Some(wanted) = expected.get(path) {
                    if build_id.as_deref() != Some(&wanted[..]) {
                        stale.push(path.to_string());
                        return None;
                    }
                }
                let debuglink = elf
                    .gnu_debuglink()
                    .ok()
                    .flatten()
                    .and_then(|(name, _)| std::str::from_utf8(name).ok().map(str::to_string));
                let debug = debug_file_candidates(path, build_id.as_deref(), debuglink.as_deref())
                    .into_iter()
                    .find_map(|candidate| map_file(&candidate).map(|m| (candidate, m)));
                dwarf_paths.insert(path.to_string(), debug.as_ref().map(|(p, _)| p.clone()));
                ElfSymbols::parse_with_debug(&map, debug.as_ref().map(|(_, m)| &m[..]))
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup_respects_sizes_and_fills_unsized() {
        let t = SymbolTable::new(vec![
            (100, 110, "a".into()),
            (200, 0, "b".into()),
            (300, 0, "c".into()),
        ]);
        assert_eq!(t.lookup(105), Some(("a", 5)));
        assert_eq!(t.lookup(150), None);
        assert_eq!(t.lookup(250), Some(("b", 50)));
        assert_eq!(t.lookup(99), None);
    }

    #[test]
    fn kallsyms_with_modules() {
        let k = KernelSymbols::parse(b"ffffffff81000000 T _stext\nffffffff81000100 t do_x\nffffffffc0000000 t modf\t[nf_tables]\nffffffff82000000 D data\n");
        assert_eq!(
            k.lookup(0xffffffff81000150),
            Some(("do_x", "[kernel.kallsyms]".to_string()))
        );
        assert_eq!(
            k.lookup(0xffffffffc0000010),
            Some(("modf", "[nf_tables]".to_string()))
        );
    }

    #[test]
    fn aliases_resolve_as_perf_does() {
        let e = |name: &str, size, binding| SymbolEntry {
            start: 0x100,
            size,
            name: name.into(),
            binding,
        };
        let chosen = resolve_aliases(vec![
            e("__write", 157, Binding::Weak),
            e("__GI___libc_write", 157, Binding::Local),
            e("__libc_write", 157, Binding::Local),
            e("write", 157, Binding::Weak),
        ]);
        assert_eq!(
            chosen,
            vec![(0x100, 0x100 + 157, "__GI___libc_write".to_string())]
        );
        let chosen = resolve_aliases(vec![
            e("__write", 157, Binding::Weak),
            e("write", 157, Binding::Weak),
        ]);
        assert_eq!(chosen[0].2, "write");
        let chosen = resolve_aliases(vec![
            e("a_long_name", 0, Binding::Global),
            e("b", 8, Binding::Local),
        ]);
        assert_eq!(chosen[0].2, "b", "a symbol with a size wins");
    }

    #[test]
    fn kallsyms_aliases_keep_the_last() {
        let k = KernelSymbols::parse(b"ffffffff82204bc0 T __pi___x86_indirect_thunk_rax\nffffffff82204bc0 T __x86_indirect_thunk_rax\nffffffff82204be0 T next\n");
        assert_eq!(
            k.lookup(0xffffffff82204bc4).map(|(n, _)| n),
            Some("__x86_indirect_thunk_rax")
        );
    }

    #[test]
    fn debug_file_locations() {
        let c = debug_file_candidates(
            "/usr/lib/x/libc.so.6",
            Some(&[0x93, 0xac, 0x61]),
            Some("libc.debug"),
        );
        assert_eq!(
            c,
            [
                "/usr/lib/debug/.build-id/93/ac61.debug",
                "/usr/lib/debug/usr/lib/x/libc.debug",
                "/usr/lib/x/.debug/libc.debug"
            ]
        );
    }

    #[test]
    fn plt_stubs_are_named_as_perf_names_them() {
        // The bundled workloads are built by the tests; any dynamically
        // linked binary will do: /bin/sh calls libc through its PLT.
        let data = std::fs::read("/bin/sh").unwrap();
        let elf = object::File::parse(&*data).unwrap();
        let plt = plt_symbols(&elf);
        assert!(!plt.is_empty(), "no PLT symbols in /bin/sh");
        assert!(plt.iter().all(|s| s.name.ends_with("@plt") && s.size == 16));
        assert!(
            plt.windows(2).all(|w| w[1].start == w[0].start + 16),
            "stubs are consecutive"
        );
    }

    #[test]
    fn the_vdso_has_its_functions() {
        let mut cache = DsoCache::default();
        let vdso = cache.get("[vdso]").expect("this process has a vDSO");
        assert!(
            vdso.table
                .symbols
                .iter()
                .any(|s| s.2.contains("clock_gettime")),
            "no clock_gettime in the vDSO"
        );
    }

    #[test]
    fn perf_maps_of_jit_code() {
        let t = parse_perf_map("7f0000001000 40 LazyCompile:~fib /app.js:3\n7f0000002000 0x10 Interpreter\nnot a line\n");
        assert_eq!(
            t.lookup(0x7f0000001010),
            Some(("LazyCompile:~fib /app.js:3", 0x10))
        );
        assert_eq!(t.lookup(0x7f0000001040), None);
        assert_eq!(
            t.lookup(0x7f000000200f).map(|(n, _)| n),
            Some("Interpreter")
        );
    }

    #[test]
    fn demangles_rust_and_cpp() {
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert_eq!(demangle("_ZN3foo3barEv"), "foo::bar");
        assert_eq!(demangle("plain_c"), "plain_c");
    }
}
