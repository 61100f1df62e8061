//! CPU lists: the kernel's `0-3,6` syntax, and the online CPUs.

use crate::{Error, Result};

/// A sorted, de-duplicated list of CPU numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(Vec<u32>);

impl CpuList {
    /// Parses `0-3,6`-style lists, as in sysfs and `perf record -C`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut cpus = Vec::new();
        for part in text.trim().split(',').filter(|p| !p.is_empty()) {
            let bad =
                || Error::CpuList(format!("invalid CPU list `{text}`: expected e.g. `0-3,6`"));
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (
                    a.trim().parse::<u32>().map_err(|_| bad())?,
                    b.trim().parse::<u32>().map_err(|_| bad())?,
                ),
                None => {
                    let n = part.trim().parse::<u32>().map_err(|_| bad())?;
                    (n, n)
                }
            };
            if lo > hi || hi - lo > 65536 {
                return Err(bad());
            }
            cpus.extend(lo..=hi);
        }
        if cpus.is_empty() {
            return Err(Error::CpuList(format!("empty CPU list `{text}`")));
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(CpuList(cpus))
    }

    /// The CPUs that are online now, from `/sys/devices/system/cpu/online`.
    pub fn online() -> Result<Self> {
        let text = std::fs::read_to_string("/sys/devices/system/cpu/online").map_err(|e| {
            Error::CpuList(format!("cannot read /sys/devices/system/cpu/online: {e}"))
        })?;
        Self::parse(&text)
    }

    /// Keeps only the CPUs also in `online`, failing if one is missing.
    pub fn require_within(self, online: &CpuList) -> Result<Self> {
        if let Some(cpu) = self.0.iter().find(|c| !online.0.contains(c)) {
            return Err(Error::CpuList(format!(
                "CPU {cpu} is not online (online CPUs: {})",
                online
            )));
        }
        Ok(self)
    }

    /// The CPU numbers.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }
}

impl std::fmt::Display for CpuList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut i = 0;
        let mut first = true;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_singles() {
        let list = CpuList::parse("0-2,5,1\n").unwrap();
        assert_eq!(list.as_slice(), &[0, 1, 2, 5]);
        assert_eq!(list.to_string(), "0-2,5");
    }

    #[test]
    fn rejects_garbage() {
        assert!(CpuList::parse("a-b").is_err());
        assert!(CpuList::parse("3-1").is_err());
        assert!(CpuList::parse("").is_err());
    }
}
