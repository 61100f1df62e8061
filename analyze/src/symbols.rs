//! Symbolization: kernel addresses through the recording's kallsyms
//! snapshot, user addresses through the ELF symbol tables of mapped files.
//!
//! Lookups are cached per DSO: a file is opened and its symbols sorted once,
//! however many samples fall in it.

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
use std::collections::HashMap;

/// A sorted table of symbols, looked up by address.
#[derive(Debug, Default, Clone)]
pub struct SymbolTable {
    /// (start, end, name), sorted by start. `end` is exclusive.
    symbols: Vec<(u64, u64, String)>,
}

impl SymbolTable {
    /// Builds a table; entries with a zero size extend to the next symbol.
    pub fn new(mut symbols: Vec<(u64, u64, String)>) -> Self {
        symbols.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
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
        let mut symbols = Vec::new();
        let mut modules = HashMap::new();
        for line in String::from_utf8_lossy(text).lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (fields.next(), fields.next(), fields.next()) else { continue };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            let Ok(addr) = u64::from_str_radix(addr, 16) else { continue };
            if addr == 0 {
                continue;
            }
            if let Some(module) = fields.next() {
                modules.insert(addr, module.trim_matches(|c| c == '[' || c == ']').to_string());
            }
            symbols.push((addr, 0, name.to_string()));
        }
        KernelSymbols { table: SymbolTable::new(symbols), modules }
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

impl ElfSymbols {
    /// Parses ELF bytes: function symbols of .symtab and .dynsym.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let elf = object::File::parse(data).ok()?;
        let mut symbols = Vec::new();
        for sym in elf.symbols().chain(elf.dynamic_symbols()) {
            if sym.kind() != SymbolKind::Text || sym.address() == 0 {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            symbols.push((sym.address(), sym.address() + sym.size(), demangle(name)));
        }
        let segments = elf
            .segments()
            .map(|seg| {
                let (offset, size) = seg.file_range();
                (offset, size, seg.address())
            })
            .collect();
        Some(ElfSymbols { table: SymbolTable::new(symbols), segments })
    }

    /// The symbol for a file offset (what a mapping's `pgoff` gives).
    pub fn lookup_file_offset(&self, offset: u64) -> Option<(&str, u64)> {
        let &(seg_offset, _, vaddr) = self
            .segments
            .iter()
            .find(|&&(o, size, _)| (o..o + size).contains(&offset))?;
        self.table.lookup(offset - seg_offset + vaddr)
    }
}

/// ELF symbol tables by path, loaded on first use.
#[derive(Debug, Default)]
pub struct DsoCache {
    files: HashMap<String, Option<ElfSymbols>>,
}

impl DsoCache {
    /// The symbols of the file at `path` (None if it cannot be read).
    pub fn get(&mut self, path: &str) -> Option<&ElfSymbols> {
        self.files
            .entry(path.to_string())
            .or_insert_with(|| {
                if !path.starts_with('/') {
                    return None;
                }
                let file = std::fs::File::open(path).ok()?;
                // SAFETY: read-only private mapping of a file we only read.
                let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
                ElfSymbols::parse(&map)
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup_respects_sizes_and_fills_unsized() {
        let t = SymbolTable::new(vec![(100, 110, "a".into()), (200, 0, "b".into()), (300, 0, "c".into())]);
        assert_eq!(t.lookup(105), Some(("a", 5)));
        assert_eq!(t.lookup(150), None);
        assert_eq!(t.lookup(250), Some(("b", 50)));
        assert_eq!(t.lookup(99), None);
    }

    #[test]
    fn kallsyms_with_modules() {
        let k = KernelSymbols::parse(b"ffffffff81000000 T _stext\nffffffff81000100 t do_x\nffffffffc0000000 t modf\t[nf_tables]\nffffffff82000000 D data\n");
        assert_eq!(k.lookup(0xffffffff81000150), Some(("do_x", "[kernel.kallsyms]".to_string())));
        assert_eq!(k.lookup(0xffffffffc0000010), Some(("modf", "[nf_tables]".to_string())));
    }

    #[test]
    fn demangles_rust_and_cpp() {
        assert_eq!(demangle("_ZN4core3fmt5write17h0123456789abcdefE"), "core::fmt::write");
        assert_eq!(demangle("_ZN3foo3barEv"), "foo::bar");
        assert_eq!(demangle("plain_c"), "plain_c");
    }
}
