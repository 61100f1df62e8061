//! The named event tables shipped with strobe, and which one this CPU uses.
//!
//! Each table is one CPU model's core-PMU events, named as in perf
//! (`ARITH.DIV`, `ls_dispatch.ld_dispatch`, `INST_RETIRED`,
//! `PM_RUN_INST_CMPL`), with the terms that encode them and perf's one-line
//! description. The data lives in `probe/data/pmu/*.json`, made from the
//! Linux kernel's perf JSON event files by `scripts/gen-pmu-tables`, and is
//! compiled in: strobe needs no file at run time to name these events.
//! Events the generator left out (uncertain encodings, or ones libpfm4
//! disagrees with) are listed with the reason in each file's `excluded`.
//!
//! A table's CPU ids follow perf's `mapfile.csv`, and [`CpuTable::matches`]
//! compares them the way perf does: an anchored regular expression over
//! `Vendor-Family-Model` on x86, the MIDR without its variant and revision
//! on arm64, and a regular expression over the PVR on POWER.
//! [`table_for`] takes the first table that matches, so the order of
//! [`tables`] matters (perf's Zen 4 entry is a catch-all after Zen 3's).
//!
//! On arm64, a CPU's table holds only what perf's JSON lists for that core.
//! The architectural events every PMUv3 numbers the same way are in the
//! `armv8-pmuv3` table, which [`CpuTable::event`] falls back to, and which
//! [`table_for`] picks for an arm64 CPU without a table of its own.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use super::{Encoding, PmuError, PmuFormat, Term};

/// The table files, in the order [`table_for`] tries them.
const TABLE_DATA: &[(&str, &str)] = &[
    (
        "westmere-ep-sp",
        include_str!("../../data/pmu/westmere-ep-sp.json"),
    ),
    (
        "westmere-ep-dp",
        include_str!("../../data/pmu/westmere-ep-dp.json"),
    ),
    (
        "westmere-ex",
        include_str!("../../data/pmu/westmere-ex.json"),
    ),
    (
        "sapphire-rapids",
        include_str!("../../data/pmu/sapphire-rapids.json"),
    ),
    // Zen 4's id is a catch-all for family 0x19, so Zen 3 must come first.
    ("zen3", include_str!("../../data/pmu/zen3.json")),
    ("zen4", include_str!("../../data/pmu/zen4.json")),
    ("cortex-a53", include_str!("../../data/pmu/cortex-a53.json")),
    ("cortex-a72", include_str!("../../data/pmu/cortex-a72.json")),
    (
        "neoverse-n1",
        include_str!("../../data/pmu/neoverse-n1.json"),
    ),
    (
        "armv8-pmuv3",
        include_str!("../../data/pmu/armv8-pmuv3.json"),
    ),
    ("power9", include_str!("../../data/pmu/power9.json")),
    ("power10", include_str!("../../data/pmu/power10.json")),
];

/// The table every arm64 CPU falls back to.
const ARM64_FALLBACK: &str = "armv8-pmuv3";

/// A CPU architecture with event tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Arch {
    /// x86 and x86-64 (Intel, AMD).
    #[serde(rename = "x86")]
    X86,
    /// 64-bit Arm.
    #[serde(rename = "arm64")]
    Arm64,
    /// 64-bit POWER.
    #[serde(rename = "powerpc")]
    PowerPc,
}

impl fmt::Display for Arch {
    /// The name perf uses for the architecture's event directory.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86 => "x86",
            Arch::Arm64 => "arm64",
            Arch::PowerPc => "powerpc",
        })
    }
}

/// One CPU model's named events.
#[derive(Debug, Clone)]
pub struct CpuTable {
    /// strobe's name for the table, lower case with dashes
    /// (`westmere-ep-sp`, `zen4`, `cortex-a53`).
    pub name: String,
    /// The architecture.
    pub arch: Arch,
    /// `GenuineIntel`, `AuthenticAMD`, `ARM`, `IBM`.
    pub vendor: String,
    /// Which CPUs these are, for people.
    pub description: String,
    /// The sysfs PMU the events belong to: `cpu` on x86 and POWER,
    /// `armv8_pmuv3` on arm64. Real arm64 machines name their PMU
    /// `armv8_pmuv3_0`, or after the core (`armv8_cortex_a53`) when the
    /// device tree says which core it is; this is the driver's generic
    /// name, and a caller looking for the PMU in sysfs should accept those.
    pub pmu: String,
    /// The CPU ids the table covers, as in perf's `mapfile.csv`: regular
    /// expressions over `Vendor-Family-Model` on x86 and over the PVR
    /// (`0x004e1202`) on POWER, MIDR values on arm64. Empty for the arm64
    /// fallback table, which covers whatever no other table does.
    pub cpuids: Vec<String>,
    /// The PMU's sysfs format: which config bits each term sets.
    pub format: PmuFormat,
    /// The events, in the order of perf's files.
    pub events: Vec<TableEvent>,
    /// `cpuids`, compiled.
    matchers: Vec<CpuIdMatcher>,
}

/// One named event of a [`CpuTable`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TableEvent {
    /// perf's name for it (`ARITH.DIV`, `ls_dispatch.ld_dispatch`).
    pub name: String,
    /// Its terms in perf's alias notation, such as
    /// `event=0x14,umask=0x1,cmask=1,edge=1,inv=1`.
    pub terms: String,
    /// perf's one-line description.
    #[serde(rename = "desc")]
    pub description: String,
}

impl CpuTable {
    /// The event called `name`, ignoring case. An arm64 CPU's table also
    /// answers for the architectural events of `armv8-pmuv3`, which perf's
    /// per-core files leave to the kernel's sysfs aliases; whether this
    /// core implements one is in its PMCEID registers, which the kernel
    /// reflects in sysfs `events/`.
    pub fn event(&self, name: &str) -> Option<&TableEvent> {
        let own = self
            .events
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name));
        if own.is_some() || self.arch != Arch::Arm64 || self.name == ARM64_FALLBACK {
            return own;
        }
        table(ARM64_FALLBACK).and_then(|fallback| {
            fallback
                .events
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(name))
        })
    }

    /// The config words of one of this table's events.
    pub fn encode(&self, event: &TableEvent) -> Result<Encoding, PmuError> {
        self.format.encode(&Term::parse_list(&event.terms)?)
    }

    /// Whether this table covers the CPU `id`, by perf's rules.
    pub fn matches(&self, id: &CpuId) -> bool {
        self.matchers.iter().any(|m| m.matches(id))
    }
}

/// One entry of a table's `cpuids`, ready to compare.
#[derive(Debug, Clone)]
enum CpuIdMatcher {
    /// An anchored regular expression over `Vendor-Family-Model`, or over
    /// `Vendor-Family-Model-Stepping` when the pattern names a stepping.
    X86 { pattern: Regex, with_stepping: bool },
    /// A MIDR; the variant and revision are a minimum version.
    Arm64 { midr: u64 },
    /// An anchored regular expression over `0x` and the 8-digit PVR.
    Power { pattern: Regex },
}

/// The MIDR's variant (bits 20-23) and revision (bits 0-3) fields: the
/// version of a part, not the part.
const MIDR_VERSION_MASK: u64 = 0x00f0_000f;

impl CpuIdMatcher {
    fn new(arch: Arch, text: &str) -> Result<Self, String> {
        let anchored = |text: &str| {
            Regex::new(&format!("^(?:{text})$"))
                .map_err(|e| format!("cpuid `{text}` is not a valid regular expression: {e}"))
        };
        Ok(match arch {
            // perf treats an id with three dashes as naming the stepping
            // too; the others ignore it.
            Arch::X86 => CpuIdMatcher::X86 {
                pattern: anchored(text)?,
                with_stepping: text.matches('-').count() == 3,
            },
            Arch::Arm64 => CpuIdMatcher::Arm64 {
                midr: text
                    .strip_prefix("0x")
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| format!("cpuid `{text}` is not a 0x MIDR"))?,
            },
            Arch::PowerPc => CpuIdMatcher::Power {
                pattern: anchored(text)?,
            },
        })
    }

    fn matches(&self, id: &CpuId) -> bool {
        match (self, id) {
            (
                CpuIdMatcher::X86 {
                    pattern,
                    with_stepping,
                },
                CpuId::X86 {
                    vendor,
                    family,
                    model,
                    stepping,
                },
            ) => {
                let text = if *with_stepping {
                    format!("{vendor}-{family}-{model:X}-{stepping:X}")
                } else {
                    format!("{vendor}-{family}-{model:X}")
                };
                pattern.is_match(&text)
            }
            (CpuIdMatcher::Arm64 { midr: table }, CpuId::Arm64 { midr }) => {
                // As perf: the same part, in a version no older than the
                // table's (variant, then revision).
                let version = |m: u64| ((m >> 20) & 0xf, m & 0xf);
                table & !MIDR_VERSION_MASK == midr & !MIDR_VERSION_MASK
                    && version(*midr) >= version(*table)
            }
            (CpuIdMatcher::Power { pattern }, CpuId::Power { .. }) => {
                pattern.is_match(&id.to_string())
            }
            _ => false,
        }
    }
}

/// What identifies a CPU model to the event tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CpuId {
    /// x86: CPUID's vendor string and its family, model and stepping, with
    /// the extended family and model folded in.
    X86 {
        /// `GenuineIntel`, `AuthenticAMD`.
        vendor: String,
        /// The family (`25` for AMD's 0x19).
        family: u32,
        /// The model.
        model: u32,
        /// The stepping.
        stepping: u32,
    },
    /// arm64: the Main ID Register.
    Arm64 {
        /// `MIDR_EL1`.
        midr: u64,
    },
    /// POWER: the Processor Version Register.
    Power {
        /// The PVR.
        pvr: u32,
    },
}

impl fmt::Display for CpuId {
    /// perf's spelling: `GenuineIntel-6-25-2` (family in decimal, model and
    /// stepping in upper-case hex), `0x00000000410fd034`, `0x004e1202`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuId::X86 {
                vendor,
                family,
                model,
                stepping,
            } => write!(f, "{vendor}-{family}-{model:X}-{stepping:X}"),
            CpuId::Arm64 { midr } => write!(f, "{midr:#018x}"),
            CpuId::Power { pvr } => write!(f, "{pvr:#010x}"),
        }
    }
}

impl CpuId {
    /// This machine's CPU: CPUID on x86, cpu0's MIDR from sysfs on arm64
    /// (on a big.LITTLE machine that is one of its kinds of core), and
    /// `/proc/cpuinfo` elsewhere. `None` when none of them says.
    pub fn detect() -> Option<CpuId> {
        detect_cpu()
    }

    /// Reads a CPU id from `/proc/cpuinfo` text, from its first processor:
    /// POWER's `revision : 2.2 (pvr 004e 1202)`, x86's `vendor_id`,
    /// `cpu family`, `model` and `stepping`, or arm64's `CPU implementer`,
    /// `CPU variant`, `CPU part` and `CPU revision`.
    pub fn parse_proc_cpuinfo(text: &str) -> Option<CpuId> {
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for line in text.lines() {
            // A blank line ends the first processor's block on x86; the
            // fields of the others repeat it.
            if line.trim().is_empty() && !fields.is_empty() {
                break;
            }
            if let Some((key, value)) = line.split_once(':') {
                fields.push((key.trim(), value.trim()));
            }
        }
        let field = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);

        if let Some(pvr) = fields.iter().find_map(|(_, v)| parse_pvr(v)) {
            return Some(CpuId::Power { pvr });
        }
        if let (Some(vendor), Some(family), Some(model)) =
            (field("vendor_id"), field("cpu family"), field("model"))
        {
            return Some(CpuId::X86 {
                vendor: vendor.to_string(),
                family: family.parse().ok()?,
                model: model.parse().ok()?,
                stepping: field("stepping").and_then(|s| s.parse().ok()).unwrap_or(0),
            });
        }
        let number = |name: &str| field(name).and_then(super::format::parse_number);
        if let (Some(implementer), Some(part)) = (number("CPU implementer"), number("CPU part")) {
            let variant = number("CPU variant").unwrap_or(0);
            let revision = number("CPU revision").unwrap_or(0);
            // The architecture field reads 0xf ("see the ID registers") on
            // every arm64 core; cpuinfo prints 8 instead, so it is not used.
            let midr = (implementer & 0xff) << 24
                | (variant & 0xf) << 20
                | 0xf << 16
                | (part & 0xfff) << 4
                | (revision & 0xf);
            return Some(CpuId::Arm64 { midr });
        }
        None
    }
}

/// The PVR in a POWER `revision` value, `2.2 (pvr 004e 1202)`.
fn parse_pvr(value: &str) -> Option<u32> {
    let rest = &value[value.find("(pvr ")? + "(pvr ".len()..];
    let digits: String = rest
        .split(')')
        .next()?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    u32::from_str_radix(&digits, 16).ok()
}

#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn detect_cpu() -> Option<CpuId> {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::__cpuid;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::__cpuid;

    // SAFETY: CPUID exists on every x86-64 CPU, and on every 32-bit x86
    // CPU Rust targets. Newer toolchains declare __cpuid safe, hence the
    // allow.
    #[allow(unused_unsafe)]
    let (leaf0, leaf1) = unsafe { (__cpuid(0), __cpuid(1)) };
    let mut vendor = Vec::with_capacity(12);
    for word in [leaf0.ebx, leaf0.edx, leaf0.ecx] {
        vendor.extend_from_slice(&word.to_le_bytes());
    }
    let vendor = String::from_utf8(vendor).ok()?;
    if leaf0.eax < 1 {
        return None;
    }
    let eax = leaf1.eax;
    // As perf's header.c: the extended family is added from family 0xf,
    // the extended model from family 6.
    let mut family = (eax >> 8) & 0xf;
    let mut model = (eax >> 4) & 0xf;
    if family == 0xf {
        family += (eax >> 20) & 0xff;
    }
    if family >= 6 {
        model += ((eax >> 16) & 0xf) << 4;
    }
    Some(CpuId::X86 {
        vendor,
        family,
        model,
        stepping: eax & 0xf,
    })
}

#[cfg(target_arch = "aarch64")]
fn detect_cpu() -> Option<CpuId> {
    /// The sysfs file holding cpu0's Main ID Register.
    const MIDR_PATH: &str = "/sys/devices/system/cpu/cpu0/regs/identification/midr_el1";

    let text = std::fs::read_to_string(MIDR_PATH).ok();
    let midr = text
        .as_deref()
        .map(str::trim)
        .and_then(|t| t.strip_prefix("0x"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok());
    match midr {
        Some(midr) => Some(CpuId::Arm64 { midr }),
        // Containers and old kernels may lack the sysfs register file.
        None => proc_cpuinfo(),
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
fn detect_cpu() -> Option<CpuId> {
    proc_cpuinfo()
}

#[cfg_attr(any(target_arch = "x86_64", target_arch = "x86"), allow(dead_code))]
fn proc_cpuinfo() -> Option<CpuId> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    CpuId::parse_proc_cpuinfo(&text)
}

/// All tables, in the order [`table_for`] tries them. A table whose data
/// does not load is left out with a warning in the log; the unit tests
/// make sure none does.
pub fn tables() -> &'static [CpuTable] {
    static TABLES: OnceLock<Vec<CpuTable>> = OnceLock::new();
    TABLES.get_or_init(|| {
        TABLE_DATA
            .iter()
            .filter_map(|(name, text)| match parse_table(text) {
                Ok(table) => Some(table),
                Err(e) => {
                    log::warn!("PMU event table {name} is unusable and left out: {e}");
                    None
                }
            })
            .collect()
    })
}

/// The table called `name`, ignoring case.
pub fn table(name: &str) -> Option<&'static CpuTable> {
    tables().iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

/// The first table that covers `id`; on arm64, `armv8-pmuv3` when no
/// table is specific to the core.
pub fn table_for(id: &CpuId) -> Option<&'static CpuTable> {
    tables()
        .iter()
        .find(|t| t.matches(id))
        .or_else(|| match id {
            CpuId::Arm64 { .. } => table(ARM64_FALLBACK),
            _ => None,
        })
}

/// A table file as the generator writes it. `excluded` and `source` are
/// for people reading the file and are not kept.
#[derive(Deserialize)]
struct TableFile {
    name: String,
    arch: Arch,
    vendor: String,
    description: String,
    pmu: String,
    cpuids: Vec<String>,
    format: std::collections::BTreeMap<String, String>,
    events: Vec<TableEvent>,
}

fn parse_table(text: &str) -> Result<CpuTable, String> {
    let file: TableFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let format = PmuFormat::from_pairs(
        file.format
            .iter()
            .map(|(term, bits)| (term.as_str(), bits.as_str())),
    )
    .map_err(|e| e.to_string())?;
    let matchers = file
        .cpuids
        .iter()
        .map(|id| CpuIdMatcher::new(file.arch, id))
        .collect::<Result<_, _>>()?;
    Ok(CpuTable {
        name: file.name,
        arch: file.arch,
        vendor: file.vendor,
        description: file.description,
        pmu: file.pmu,
        cpuids: file.cpuids,
        format,
        events: file.events,
        matchers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn config(table_name: &str, event: &str) -> Encoding {
        let table = table(table_name).unwrap_or_else(|| panic!("no table {table_name}"));
        let entry = table
            .event(event)
            .unwrap_or_else(|| panic!("{table_name} has no {event}"));
        table.encode(entry).unwrap()
    }

    fn x86(vendor: &str, family: u32, model: u32) -> CpuId {
        CpuId::X86 {
            vendor: vendor.to_string(),
            family,
            model,
            stepping: 0,
        }
    }

    fn name_for(id: &CpuId) -> Option<&'static str> {
        table_for(id).map(|t| t.name.as_str())
    }

    #[test]
    fn every_table_loads_and_every_event_encodes() {
        for (name, text) in TABLE_DATA {
            let table = parse_table(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(table.name, *name, "file name and table name differ");
            assert!(!table.events.is_empty(), "{name} has no events");
            let mut seen = HashSet::new();
            for event in &table.events {
                assert!(
                    seen.insert(event.name.to_ascii_lowercase()),
                    "{name}: {} twice",
                    event.name
                );
                table
                    .encode(event)
                    .unwrap_or_else(|e| panic!("{name}: {}: {e}", event.name));
            }
        }
        assert_eq!(tables().len(), TABLE_DATA.len());
    }

    #[test]
    fn arm_architectural_events() {
        assert_eq!(config("armv8-pmuv3", "INST_RETIRED").config, 0x08);
        assert_eq!(config("armv8-pmuv3", "cpu_cycles").config, 0x11);
        // Named in the core's own file through ArchStdEvent...
        for table_name in ["cortex-a72", "neoverse-n1"] {
            let t = table(table_name).unwrap();
            assert!(t.events.iter().any(|e| e.name == "INST_RETIRED"));
            assert_eq!(config(table_name, "INST_RETIRED").config, 0x08);
            assert_eq!(config(table_name, "CPU_CYCLES").config, 0x11);
        }
        // ...or, on the A53, whose file leaves them to sysfs, by falling
        // back to the architectural table.
        let a53 = table("cortex-a53").unwrap();
        assert!(!a53.events.iter().any(|e| e.name == "CPU_CYCLES"));
        assert_eq!(config("cortex-a53", "CPU_CYCLES").config, 0x11);
        // ArchStdEvent references resolve from recommended.json too.
        assert_eq!(config("cortex-a53", "BUS_ACCESS_RD").config, 0x60);
        assert_eq!(config("cortex-a53", "BR_COND").config, 0xc9);
        assert!(table("power9").unwrap().event("CPU_CYCLES").is_none());
    }

    #[test]
    fn power_events() {
        assert_eq!(config("power9", "PM_RUN_INST_CMPL").config, 0x400fa);
        assert_eq!(config("power10", "PM_RUN_INST_CMPL").config, 0x500fa);
        assert_eq!(config("power10", "pm_run_cyc").config, 0x200f4);
    }

    #[test]
    fn x86_events() {
        // Event 0x14, umask 1, edge (bit 18), inv (bit 23), cmask 1.
        assert_eq!(config("westmere-ep-sp", "ARITH.DIV").config, 0x184_0114);
        let offcore = config("westmere-ep-dp", "OFFCORE_RESPONSE.ANY_DATA.ANY_LOCATION");
        assert_eq!((offcore.config, offcore.config1), (0x1b7, 0xff11));
        let ldlat = config("westmere-ex", "MEM_INST_RETIRED.LATENCY_ABOVE_THRESHOLD_32");
        assert_eq!((ldlat.config, ldlat.config1), (0x100b, 32));
        // Fixed-counter events, which perf's JSON gives no event code.
        assert_eq!(config("westmere-ep-sp", "INST_RETIRED.ANY").config, 0x1c0);
        assert_eq!(
            config("westmere-ep-sp", "CPU_CLK_UNHALTED.THREAD").config,
            0x3c
        );
        assert_eq!(
            config("westmere-ep-sp", "CPU_CLK_UNHALTED.REF").config,
            0x300
        );
        assert_eq!(config("sapphire-rapids", "INST_RETIRED.ANY").config, 0xc0);
        assert_eq!(config("sapphire-rapids", "TOPDOWN.SLOTS").config, 0x400);
        let frontend = config("sapphire-rapids", "FRONTEND_RETIRED.DSB_MISS");
        assert_eq!((frontend.config, frontend.config1), (0x1c6, 0x11));
        // AMD's event select is 12 bits: 0x1c9's top nibble goes to 32-35.
        assert_eq!(
            config("zen4", "ex_ret_uncond_brnch_instr").config,
            0x1_0000_00c9
        );
        assert_eq!(config("zen3", "ex_ret_instr").config, 0xc0);
        // Lookup ignores case.
        assert_eq!(config("ZEN3", "EX_RET_INSTR").config, 0xc0);
    }

    #[test]
    fn tables_for_cpus() {
        assert_eq!(
            name_for(&x86("GenuineIntel", 6, 0x25)),
            Some("westmere-ep-sp")
        );
        assert_eq!(
            name_for(&x86("GenuineIntel", 6, 0x2c)),
            Some("westmere-ep-dp")
        );
        assert_eq!(name_for(&x86("GenuineIntel", 6, 0x2f)), Some("westmere-ex"));
        assert_eq!(
            name_for(&x86("GenuineIntel", 6, 0x8f)),
            Some("sapphire-rapids")
        );
        assert_eq!(name_for(&x86("GenuineIntel", 6, 0x255)), None);
        assert_eq!(name_for(&x86("AuthenticAMD", 6, 0x25)), None);
        // Zen 3 claims models 0x0-0xF, 0x20-0x2F and 0x40-0x5F of family
        // 0x19; Zen 4 everything else.
        assert_eq!(name_for(&x86("AuthenticAMD", 25, 0x01)), Some("zen3"));
        assert_eq!(name_for(&x86("AuthenticAMD", 25, 0x21)), Some("zen3"));
        assert_eq!(name_for(&x86("AuthenticAMD", 25, 0x50)), Some("zen3"));
        assert_eq!(name_for(&x86("AuthenticAMD", 25, 0x11)), Some("zen4"));
        assert_eq!(name_for(&x86("AuthenticAMD", 25, 0x61)), Some("zen4"));
        assert_eq!(name_for(&x86("AuthenticAMD", 26, 0x01)), None);

        let arm = |midr| CpuId::Arm64 { midr };
        assert_eq!(name_for(&arm(0x410f_d034)), Some("cortex-a53"));
        assert_eq!(name_for(&arm(0x411f_d034)), Some("cortex-a53"));
        assert_eq!(name_for(&arm(0x420f_1000)), Some("cortex-a53"));
        assert_eq!(name_for(&arm(0x410f_d083)), Some("cortex-a72"));
        assert_eq!(name_for(&arm(0x410f_d070)), Some("cortex-a72"));
        assert_eq!(name_for(&arm(0x413f_d0c1)), Some("neoverse-n1"));
        assert_eq!(name_for(&arm(0x410f_d4f0)), Some("armv8-pmuv3"));
        assert!(!table("armv8-pmuv3").unwrap().matches(&arm(0x410f_d4f0)));

        let power = |pvr| CpuId::Power { pvr };
        assert_eq!(name_for(&power(0x004e_1202)), Some("power9"));
        assert_eq!(name_for(&power(0x0080_0200)), Some("power10"));
        assert_eq!(name_for(&power(0x0082_0200)), Some("power10"));
        assert_eq!(name_for(&power(0x004d_0200)), None);
        // An id of one architecture never matches another's table.
        assert!(!table("power9")
            .unwrap()
            .matches(&x86("GenuineIntel", 6, 0x25)));
    }

    #[test]
    fn cpu_id_strings() {
        let id = CpuId::X86 {
            vendor: "GenuineIntel".into(),
            family: 6,
            model: 0x2c,
            stepping: 2,
        };
        assert_eq!(id.to_string(), "GenuineIntel-6-2C-2");
        assert_eq!(
            CpuId::Arm64 { midr: 0x410f_d034 }.to_string(),
            "0x00000000410fd034"
        );
        assert_eq!(CpuId::Power { pvr: 0x004e_1202 }.to_string(), "0x004e1202");
    }

    #[test]
    fn proc_cpuinfo_power9() {
        let text = "processor\t: 0\n\
                    cpu\t\t: POWER9 (architected), altivec supported\n\
                    clock\t\t: 2200.000000MHz\n\
                    revision\t: 2.2 (pvr 004e 1202)\n\
                    \n\
                    processor\t: 1\n\
                    cpu\t\t: POWER9 (architected), altivec supported\n\
                    revision\t: 2.2 (pvr 004e 1202)\n\
                    \n\
                    timebase\t: 512000000\n\
                    platform\t: pSeries\n\
                    model\t\t: IBM,9009-22A\n";
        let id = CpuId::parse_proc_cpuinfo(text).unwrap();
        assert_eq!(id, CpuId::Power { pvr: 0x004e_1202 });
        assert_eq!(name_for(&id), Some("power9"));
    }

    #[test]
    fn proc_cpuinfo_x86_and_arm64() {
        let x86_text = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\
                        model\t\t: 17\nmodel name\t: AMD EPYC 9654 96-Core Processor\n\
                        stepping\t: 1\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n";
        let id = CpuId::parse_proc_cpuinfo(x86_text).unwrap();
        assert_eq!(id.to_string(), "AuthenticAMD-25-11-1");
        assert_eq!(name_for(&id), Some("zen4"));

        let arm_text = "processor\t: 0\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm\n\
                        CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n\
                        CPU part\t: 0xd03\nCPU revision\t: 4\n";
        let id = CpuId::parse_proc_cpuinfo(arm_text).unwrap();
        assert_eq!(id, CpuId::Arm64 { midr: 0x410f_d034 });
        assert_eq!(name_for(&id), Some("cortex-a53"));

        assert_eq!(CpuId::parse_proc_cpuinfo(""), None);
        assert_eq!(CpuId::parse_proc_cpuinfo("revision : (pvr zz)\n"), None);
    }

    #[test]
    fn detect_does_not_panic() {
        // Whatever this machine is, detection answers without panicking,
        // and an answer prints in perf's form.
        if let Some(id) = CpuId::detect() {
            assert!(!id.to_string().is_empty());
        }
    }

    #[test]
    fn malformed_tables_are_errors() {
        assert!(parse_table("{").is_err());
        let bad_regex = r#"{"name":"x","arch":"x86","vendor":"v","description":"d","pmu":"cpu",
            "cpuids":["GenuineIntel-6-("],"format":{},"events":[]}"#;
        assert!(parse_table(bad_regex).is_err());
        let bad_format = r#"{"name":"x","arch":"powerpc","vendor":"v","description":"d","pmu":"cpu",
            "cpuids":[],"format":{"event":"config:9-1"},"events":[]}"#;
        assert!(parse_table(bad_format).is_err());
    }
}
