//! perf.data's tracing data (the `HEADER_TRACING_DATA` feature section):
//! the tracefs format files perf saved when it recorded tracepoints, in
//! trace-cmd's layout. A pure parser: every length is checked against the
//! bytes that are there.

/// What the tracing data holds that strobe uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracingData {
    /// `events/header_page`.
    pub header_page: String,
    /// `events/header_event`.
    pub header_event: String,
    /// `(system, format text)` for every saved event format, ftrace's own
    /// (system `ftrace`) included.
    pub formats: Vec<(String, String)>,
    /// `saved_cmdlines`: `(pid, comm)`, from version 0.6 on.
    pub saved_comms: Vec<(i32, String)>,
}

/// Why tracing data did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("perf.data tracing data is malformed at byte {offset}: {what}")]
pub struct TracingDataError {
    /// Where.
    pub offset: usize,
    /// What was expected.
    pub what: &'static str,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> Cursor<'a> {
    fn error(&self, what: &'static str) -> TracingDataError {
        TracingDataError {
            offset: self.pos,
            what,
        }
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], TracingDataError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.error(what))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn cstr(&mut self, what: &'static str) -> Result<&'a str, TracingDataError> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.error(what))?;
        let text = std::str::from_utf8(&rest[..len]).map_err(|_| self.error(what))?;
        self.pos += len + 1;
        Ok(text)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, TracingDataError> {
        let b: [u8; 4] = self
            .take(4, what)?
            .try_into()
            .map_err(|_| self.error(what))?;
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, TracingDataError> {
        let b: [u8; 8] = self
            .take(8, what)?
            .try_into()
            .map_err(|_| self.error(what))?;
        Ok(if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// A block of text preceded by its 64-bit length.
    fn text64(&mut self, what: &'static str) -> Result<String, TracingDataError> {
        let len = self.u64(what)?;
        let len = usize::try_from(len).map_err(|_| self.error(what))?;
        Ok(String::from_utf8_lossy(self.take(len, what)?).into_owned())
    }
}

const MAGIC: &[u8] = b"\x17\x08\x44tracing";

impl TracingData {
    /// Parses the feature section's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, TracingDataError> {
        let mut c = Cursor {
            bytes,
            pos: 0,
            big_endian: false,
        };
        if c.take(MAGIC.len(), "the tracing-data magic")? != MAGIC {
            return Err(TracingDataError {
                offset: 0,
                what: "the tracing-data magic",
            });
        }
        let version = c.cstr("the version")?.to_string();
        c.big_endian = c.take(1, "the byte order")?[0] != 0;
        let _long_size = c.take(1, "the size of long")?;
        let _page_size = c.u32("the page size")?;
        let mut data = TracingData::default();
        if c.cstr("`header_page`")? != "header_page" {
            return Err(c.error("`header_page`"));
        }
        data.header_page = c.text64("the header_page text")?;
        if c.cstr("`header_event`")? != "header_event" {
            return Err(c.error("`header_event`"));
        }
        data.header_event = c.text64("the header_event text")?;
        let ftrace_count = c.u32("the number of ftrace formats")?;
        for _ in 0..ftrace_count {
            let text = c.text64("an ftrace format")?;
            data.formats.push(("ftrace".to_string(), text));
        }
        let systems = c.u32("the number of event systems")?;
        for _ in 0..systems {
            let system = c.cstr("a system name")?.to_string();
            let count = c.u32("the number of formats of a system")?;
            for _ in 0..count {
                let text = c.text64("an event format")?;
                data.formats.push((system.clone(), text));
            }
        }
        // kallsyms and printk formats: skipped (strobe reads kallsyms
        // elsewhere), but they must be there for what follows.
        for what in ["the kallsyms text", "the printk formats"] {
            let len = c.u32(what)? as usize;
            c.take(len, what)?;
        }
        let newer = version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>();
        if newer >= vec![0, 6] && c.pos < bytes.len() {
            if let Ok(text) = c.text64("the saved command lines") {
                data.saved_comms = strobe_probe::tracefs::parse_saved_cmdlines(&text);
            }
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes, and valid data with bytes changed, never panic
        /// and never allocate what a length field claims without the bytes.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8)) {
            let _ = TracingData::parse(&bytes);
            let mut data = sample();
            for (at, byte) in edits {
                let len = data.len();
                data[at % len] = byte;
            }
            let _ = TracingData::parse(&data);
        }
    }

    fn sample() -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend(b"0.6\0");
        b.push(0);
        b.push(8);
        b.extend(4096u32.to_le_bytes());
        b.extend(b"header_page\0");
        b.extend(3u64.to_le_bytes());
        b.extend(b"hp\n");
        b.extend(b"header_event\0");
        b.extend(2u64.to_le_bytes());
        b.extend(b"he");
        b.extend(1u32.to_le_bytes());
        b.extend(4u64.to_le_bytes());
        b.extend(b"fn:1");
        b.extend(1u32.to_le_bytes());
        b.extend(b"sched\0");
        b.extend(1u32.to_le_bytes());
        b.extend(5u64.to_le_bytes());
        b.extend(b"sw:11");
        b.extend(0u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(8u64.to_le_bytes());
        b.extend(b"42 cat\n\n");
        b
    }

    #[test]
    fn parses_and_rejects_truncation() {
        let bytes = sample();
        let data = TracingData::parse(&bytes).unwrap();
        assert_eq!(data.header_page, "hp\n");
        assert_eq!(
            data.formats,
            vec![
                ("ftrace".to_string(), "fn:1".to_string()),
                ("sched".to_string(), "sw:11".to_string())
            ]
        );
        assert_eq!(data.saved_comms, vec![(42, "cat".to_string())]);
        for cut in 0..bytes.len() - 20 {
            assert!(TracingData::parse(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut huge = bytes.clone();
        let at = MAGIC.len() + 4 + 2 + 4 + 12;
        huge[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(TracingData::parse(&huge).is_err());
    }
}
