//! PMU term formats: how `event=0x3c,umask=1,inv` becomes config bits.
//!
//! Each PMU publishes, in sysfs `format/`, one file per term naming the
//! bits it occupies: `config:0-7`, `config1:0-63`, or a split range such as
//! AMD's `config:0-7,32-35`, where the value's low bits fill the first range
//! and its next bits the second. The named event tables use the same
//! notation for their built-in formats, so one encoder serves both.

use super::PmuError;

/// Which `perf_event_attr` word a range of bits belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigWord {
    /// `config`.
    Config,
    /// `config1` (`bp_addr`, `kprobe_func`).
    Config1,
    /// `config2` (`bp_len`, `kprobe_addr`).
    Config2,
    /// `config3`.
    Config3,
}

impl ConfigWord {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "config" => Some(ConfigWord::Config),
            "config1" => Some(ConfigWord::Config1),
            "config2" => Some(ConfigWord::Config2),
            "config3" => Some(ConfigWord::Config3),
            _ => None,
        }
    }

    /// The word's name, as in sysfs.
    pub fn name(self) -> &'static str {
        match self {
            ConfigWord::Config => "config",
            ConfigWord::Config1 => "config1",
            ConfigWord::Config2 => "config2",
            ConfigWord::Config3 => "config3",
        }
    }
}

/// An inclusive range of bits in one config word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitRange {
    /// The word.
    pub word: ConfigWord,
    /// Lowest bit.
    pub lo: u8,
    /// Highest bit (inclusive).
    pub hi: u8,
}

impl BitRange {
    fn width(&self) -> u32 {
        u32::from(self.hi - self.lo) + 1
    }
}

/// The bits one term occupies: one or more ranges, filled low bits first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermFormat {
    /// The term's name (`event`, `umask`).
    pub name: String,
    /// Where its value goes.
    pub ranges: Vec<BitRange>,
}

impl TermFormat {
    /// Parses a sysfs format file's content, such as `config:0-7,32-35`
    /// or `config1:5`.
    pub fn parse(name: &str, text: &str) -> Result<Self, PmuError> {
        let bad = || PmuError::BadFormat {
            term: name.to_string(),
            text: text.trim().to_string(),
        };
        let (word, bits) = text.trim().split_once(':').ok_or_else(bad)?;
        let word = ConfigWord::parse(word.trim()).ok_or_else(bad)?;
        let mut ranges = Vec::new();
        for part in bits.split(',') {
            let (lo, hi) = match part.trim().split_once('-') {
                Some((lo, hi)) => (lo.trim(), hi.trim()),
                None => (part.trim(), part.trim()),
            };
            let lo: u8 = lo.parse().map_err(|_| bad())?;
            let hi: u8 = hi.parse().map_err(|_| bad())?;
            if lo > hi || hi > 63 {
                return Err(bad());
            }
            ranges.push(BitRange { word, lo, hi });
        }
        Ok(TermFormat {
            name: name.to_string(),
            ranges,
        })
    }

    /// How many bits of value the term holds.
    pub fn width(&self) -> u32 {
        self.ranges.iter().map(BitRange::width).sum()
    }

    /// Puts `value` into `encoding`: its low bits into the first range, the
    /// next ones into the second, and so on. A value wider than the term is
    /// an error, never silently cut.
    pub fn apply(&self, value: u64, encoding: &mut Encoding) -> Result<(), PmuError> {
        let width = self.width();
        if width < 64 && value >> width != 0 {
            return Err(PmuError::ValueTooWide {
                term: self.name.clone(),
                value,
                bits: width,
            });
        }
        let mut rest = value;
        for range in &self.ranges {
            let w = range.width();
            let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            let word = encoding.word_mut(range.word);
            *word = (*word & !(mask << range.lo)) | ((rest & mask) << range.lo);
            rest = if w == 64 { 0 } else { rest >> w };
        }
        Ok(())
    }
}

/// The config words an event encodes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Encoding {
    /// `perf_event_attr.config`.
    pub config: u64,
    /// `perf_event_attr.config1`.
    pub config1: u64,
    /// `perf_event_attr.config2`.
    pub config2: u64,
    /// `perf_event_attr.config3`.
    pub config3: u64,
}

impl Encoding {
    fn word_mut(&mut self, word: ConfigWord) -> &mut u64 {
        match word {
            ConfigWord::Config => &mut self.config,
            ConfigWord::Config1 => &mut self.config1,
            ConfigWord::Config2 => &mut self.config2,
            ConfigWord::Config3 => &mut self.config3,
        }
    }
}

/// One `name=value` term as written in an event spec or alias; a bare
/// `name` means `name=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The term's name.
    pub name: String,
    /// Its value.
    pub value: u64,
}

impl Term {
    /// Parses a comma-separated term list such as `event=0x3c,umask=1,inv`.
    /// Values are decimal or `0x` hexadecimal.
    pub fn parse_list(text: &str) -> Result<Vec<Term>, PmuError> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), parse_number(v.trim())),
                None => (part, Some(1)),
            };
            let value = value.ok_or_else(|| PmuError::BadTerm(part.to_string()))?;
            if name.is_empty() {
                return Err(PmuError::BadTerm(part.to_string()));
            }
            terms.push(Term {
                name: name.to_string(),
                value,
            });
        }
        Ok(terms)
    }
}

/// Parses `0x1f`, `31` or `0`.
pub fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// All the terms of one PMU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PmuFormat {
    /// The terms, by name.
    pub terms: Vec<TermFormat>,
}

impl PmuFormat {
    /// Builds a format from `(name, "config:0-7")` pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PmuError> {
        let terms = pairs
            .into_iter()
            .map(|(name, text)| TermFormat::parse(name, text))
            .collect::<Result<_, _>>()?;
        Ok(PmuFormat { terms })
    }

    /// The term called `name`.
    pub fn term(&self, name: &str) -> Option<&TermFormat> {
        self.terms.iter().find(|t| t.name == name)
    }

    /// Encodes a term list. `config`, `config1`, `config2` and `config3`
    /// set whole words directly, as perf allows; any other name must be a
    /// term of this PMU.
    pub fn encode(&self, terms: &[Term]) -> Result<Encoding, PmuError> {
        let mut encoding = Encoding::default();
        for term in terms {
            if let Some(word) = ConfigWord::parse(&term.name) {
                *encoding.word_mut(word) = term.value;
                continue;
            }
            let format = self.term(&term.name).ok_or_else(|| PmuError::UnknownTerm {
                term: term.name.clone(),
                known: self.terms.iter().map(|t| t.name.clone()).collect(),
            })?;
            format.apply(term.value, &mut encoding)?;
        }
        Ok(encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_split_ranges() {
        // AMD's event select: 8 bits at 0-7 and 4 more at 32-35.
        let event = TermFormat::parse("event", "config:0-7,32-35\n").unwrap();
        assert_eq!(event.width(), 12);
        let mut e = Encoding::default();
        event.apply(0x1c0, &mut e).unwrap();
        assert_eq!(e.config, 0x1_0000_00c0);
        let ldlat = TermFormat::parse("ldlat", "config1:0-15").unwrap();
        ldlat.apply(3, &mut e).unwrap();
        assert_eq!(e.config1, 3);
        let inv = TermFormat::parse("inv", "config:23").unwrap();
        inv.apply(1, &mut e).unwrap();
        assert_eq!(e.config, 0x1_0080_00c0);
        assert!(matches!(
            inv.apply(2, &mut e),
            Err(PmuError::ValueTooWide { bits: 1, .. })
        ));
        let whole = TermFormat::parse("offcore_rsp", "config1:0-63").unwrap();
        whole.apply(u64::MAX, &mut e).unwrap();
        assert_eq!(e.config1, u64::MAX);
    }

    #[test]
    fn malformed_formats() {
        for text in [
            "config",
            "config:",
            "config:7-0",
            "config:0-64",
            "cfg:0-7",
            "config:a",
        ] {
            assert!(TermFormat::parse("x", text).is_err(), "{text}");
        }
    }

    #[test]
    fn term_lists() {
        let terms = Term::parse_list("event=0x3c,umask=1,inv").unwrap();
        assert_eq!(
            terms
                .iter()
                .map(|t| (t.name.as_str(), t.value))
                .collect::<Vec<_>>(),
            [("event", 0x3c), ("umask", 1), ("inv", 1)]
        );
        assert!(Term::parse_list("event=zz").is_err());
        let format =
            PmuFormat::from_pairs([("event", "config:0-7"), ("umask", "config:8-15")]).unwrap();
        let e = format
            .encode(&Term::parse_list("event=0xc0,umask=0x1,config1=5").unwrap())
            .unwrap();
        assert_eq!((e.config, e.config1), (0x1c0, 5));
        assert!(matches!(
            format.encode(&Term::parse_list("cmask=1").unwrap()),
            Err(PmuError::UnknownTerm { .. })
        ));
    }
}
