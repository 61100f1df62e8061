//! The kallsyms snapshot a recording keeps.
//!
//! /proc/kallsyms is about 5 MiB (1 MiB compressed), more than the samples
//! of a typical short recording. So unless the file is a flight-recorder
//! ring (whose metadata must come first), strobe keeps only the lines that
//! cover kernel addresses its samples contain: for each address, the symbol
//! that contains it and the next one, which bounds its size. Lines are
//! written as they become needed, in /proc/kallsyms' own text format.

use rustc_hash::FxHashSet;
use std::collections::HashSet;

/// /proc/kallsyms, indexed by address.
#[derive(Debug)]
pub struct KallsymsIndex {
    text: Vec<u8>,
    /// (address, start and end of its line in `text`), sorted by address.
    symbols: Vec<(u64, u32, u32)>,
    emitted: HashSet<usize>,
}

impl KallsymsIndex {
    /// Indexes the text of /proc/kallsyms. Lines with a zero address
    /// (hidden by kptr_restrict) or that do not parse are left out.
    pub fn parse(text: Vec<u8>) -> Self {
        let mut symbols = Vec::with_capacity(text.len() / 40);
        let mut start = 0usize;
        for line in text.split(|&b| b == b'\n') {
            let end = start + line.len();
            let addr = line
                .iter()
                .position(|&b| b == b' ')
                .and_then(|sp| std::str::from_utf8(&line[..sp]).ok())
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
            if let Some(addr) = addr.filter(|&a| a != 0) {
                if end <= u32::MAX as usize {
                    symbols.push((addr, start as u32, end as u32));
                }
            }
            start = end + 1;
        }
        symbols.sort_by_key(|s| s.0);
        KallsymsIndex {
            text,
            symbols,
            emitted: HashSet::new(),
        }
    }

    /// Symbols indexed.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether no symbol is visible (kptr_restrict, or no /proc/kallsyms).
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The kallsyms lines needed for `addresses` that were not returned before.
    pub fn new_lines_for(&mut self, addresses: &[u64]) -> Vec<u8> {
        let mut out = Vec::new();
        // Callers are looked up one byte before their return address, which
        // can fall in the previous function: keep the symbols for both.
        for addr in addresses.iter().flat_map(|&a| [a, a.saturating_sub(1)]) {
            let after = self.symbols.partition_point(|s| s.0 <= addr);
            if after == 0 {
                continue;
            }
            for index in [after - 1, after] {
                if index < self.symbols.len() && self.emitted.insert(index) {
                    let (_, start, end) = self.symbols[index];
                    out.extend_from_slice(&self.text[start as usize..end as usize]);
                    out.push(b'\n');
                }
            }
        }
        out
    }

    /// The whole text.
    pub fn full_text(&self) -> &[u8] {
        &self.text
    }
}

/// The kernel addresses a recording has seen, checked for every kernel
/// frame of every sample, so it must be cheap: a direct-mapped table of
/// recent addresses answers most checks, a hash set the rest.
#[derive(Debug)]
pub struct AddressSet {
    recent: Vec<u64>,
    all: FxHashSet<u64>,
}

impl Default for AddressSet {
    fn default() -> Self {
        AddressSet {
            recent: vec![0; Self::RECENT],
            all: FxHashSet::default(),
        }
    }
}

impl AddressSet {
    const RECENT: usize = 1 << 14;

    /// Adds `addr`; true if it was not there before.
    pub fn insert(&mut self, addr: u64) -> bool {
        // Fibonacci hashing spreads nearby code addresses over the table.
        let slot = (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 50) as usize & (Self::RECENT - 1);
        if self.recent[slot] == addr {
            return false;
        }
        self.recent[slot] = addr;
        self.all.insert(addr)
    }

    /// Addresses seen.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether none was seen.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn address_set_reports_each_address_once() {
        let mut set = super::AddressSet::default();
        assert!(set.insert(0xffff_ffff_8100_0000));
        assert!(!set.insert(0xffff_ffff_8100_0000));
        // Two addresses that collide in the recent table are still told apart.
        let colliding = 0xffff_ffff_8100_0000u64 + 8;
        assert!(set.insert(colliding));
        assert!(!set.insert(0xffff_ffff_8100_0000));
        assert_eq!(set.len(), 2);
    }

    use super::*;

    #[test]
    fn keeps_the_containing_symbol_and_its_successor_once() {
        let text = b"ffffffff81000000 T _stext\nffffffff81000100 T do_work\nffffffff81000200 t helper\nffffffff81000300 T later\n".to_vec();
        let mut index = KallsymsIndex::parse(text);
        assert_eq!(index.len(), 4);
        let lines = index.new_lines_for(&[0xffffffff81000150]);
        assert_eq!(
            lines,
            b"ffffffff81000100 T do_work\nffffffff81000200 t helper\n"
        );
        assert!(index.new_lines_for(&[0xffffffff81000180]).is_empty());
        assert!(index.new_lines_for(&[0x1000]).is_empty());
    }

    #[test]
    fn restricted_addresses_are_skipped() {
        let index = KallsymsIndex::parse(b"0000000000000000 T _stext\n".to_vec());
        assert!(index.is_empty());
    }
}
