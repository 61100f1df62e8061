//! sysfs PMU discovery over fixture trees written from the kernel's
//! sources (see fixtures/sysfs-pmu/README.md), and over this machine's own
//! /sys/bus/event_source/devices, which needs no root.
//!
//! The alias checks compare against the kernel's own tables: an alias the
//! kernel printed from an event map must encode back to that map's value.

use std::fs;
use std::path::{Path, PathBuf};

use strobe_probe::pmu::sysfs::{self, pmu_error_of, SysfsPmu, DEFAULT_ROOT};
use strobe_probe::pmu::{Encoding, PmuError, Term};

fn fixtures(tree: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sysfs-pmu")
        .join(tree)
}

fn encode(pmu: &SysfsPmu, terms: &str) -> Result<Encoding, PmuError> {
    pmu.encode(&Term::parse_list(terms).expect("test terms parse"))
}

fn config(pmu: &SysfsPmu, terms: &str) -> u64 {
    encode(pmu, terms)
        .unwrap_or_else(|e| panic!("{}/{terms}/: {e}", pmu.name))
        .config
}

fn names(pmus: &[SysfsPmu]) -> Vec<&str> {
    pmus.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn intel_cpu_terms_and_aliases() {
    let pmus = sysfs::discover(&fixtures("x86")).unwrap();
    assert_eq!(
        names(&pmus),
        ["cpu", "msr", "power", "software", "tracepoint"]
    );
    let cpu = &pmus[0];
    assert_eq!(cpu.type_, 4);
    assert_eq!(cpu.cpus, None);
    let terms: Vec<&str> = cpu.format.terms.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        terms,
        [
            "any",
            "cmask",
            "edge",
            "event",
            "frontend",
            "in_tx",
            "in_tx_cp",
            "inv",
            "ldlat",
            "offcore_rsp",
            "pc",
            "umask"
        ]
    );
    // .scale files are attributes, not events; caps/ and rdpmc are not
    // looked at.
    assert_eq!(cpu.aliases.len(), 18);
    assert!(cpu.alias("topdown-total-slots.scale").is_none());

    // Bits 0-7 event, 8-15 umask, 23 inv, 24-31 cmask.
    assert_eq!(config(cpu, "event=0x3c,umask=0x1,inv,cmask=2"), 0x0280_013c);
    assert_eq!(config(cpu, "event=0x3c,edge,pc,any"), 0x2c_003c);
    assert_eq!(config(cpu, "event=0x3c,in_tx,in_tx_cp"), 0x3_0000_003c);
    let e = encode(cpu, "event=0xb7,umask=0x1,offcore_rsp=0x10003c0091").unwrap();
    assert_eq!((e.config, e.config1), (0x1b7, 0x10_003c_0091));
    let e = encode(cpu, "event=0xc6,umask=0x1,frontend=0x400406").unwrap();
    assert_eq!((e.config, e.config1), (0x1c6, 0x40_0406));

    // The generic events come from intel_perfmon_event_map, and encode
    // back to its values.
    for (alias, map_value) in [
        ("cpu-cycles", 0x003c),
        ("instructions", 0x00c0),
        ("cache-references", 0x4f2e),
        ("cache-misses", 0x412e),
        ("branch-instructions", 0x00c4),
        ("branch-misses", 0x00c5),
        ("bus-cycles", 0x013c),
        ("ref-cycles", 0x0300),
    ] {
        assert_eq!(config(cpu, alias), map_value, "{alias}");
    }
    let e = encode(cpu, "mem-loads").unwrap();
    assert_eq!((e.config, e.config1), (0x1cd, 3));
    // Terms after an alias override it, and alias names ignore case.
    let e = encode(cpu, "MEM-LOADS,ldlat=30").unwrap();
    assert_eq!((e.config, e.config1), (0x1cd, 30));
    assert_eq!(config(cpu, "cycles-ct"), 0x3_0000_003c);

    // The SMT strings of EVENT_ATTR_STR_HT have no newline; their scale is 2.
    let slots = cpu.alias("topdown-total-slots").unwrap();
    assert_eq!(slots.scale, Some(2.0));
    assert_eq!(slots.unit, None);
    assert_eq!(config(cpu, "topdown-total-slots"), 0x20_003c);
    assert_eq!(
        cpu.alias("topdown-recovery-bubbles").unwrap().scale,
        Some(2.0)
    );
    assert_eq!(
        config(cpu, "topdown-recovery-bubbles"),
        0x0120_010d,
        "event=0xd,umask=0x1,cmask=1,any=1"
    );
}

#[test]
fn rapl_msr_and_software() {
    let root = fixtures("x86");
    let power = sysfs::find(&root, "power").unwrap();
    assert_eq!(power.type_, 11);
    assert_eq!(power.cpus.as_ref().unwrap().as_slice(), &[0]);
    let pkg = power.alias("energy-pkg").unwrap();
    assert_eq!(pkg.scale, Some(2.328_306_436_538_696_3e-10));
    assert_eq!(pkg.scale, Some(1.0 / (1u64 << 32) as f64));
    assert_eq!(pkg.unit.as_deref(), Some("Joules"));
    assert!(!pkg.per_pkg && !pkg.snapshot);
    assert_eq!(config(&power, "energy-pkg"), 2);
    assert_eq!(power.aliases.len(), 5);

    let msr = sysfs::find(&root, "msr").unwrap();
    assert_eq!(msr.type_, 9);
    assert_eq!(config(&msr, "tsc"), 0);
    assert_eq!(config(&msr, "smi"), 4);

    // No format/ and no events/: only whole config words.
    let software = sysfs::find(&root, "software").unwrap();
    assert_eq!(software.type_, 1);
    assert!(software.format.terms.is_empty() && software.aliases.is_empty());
    assert_eq!(config(&software, "config=3"), 3);
}

#[test]
fn amd_split_event_select() {
    let cpu = sysfs::find(&fixtures("x86-amd"), "cpu").unwrap();
    assert_eq!(cpu.type_, 4);
    // The event select is config bits 0-7, then 32-35.
    assert_eq!(config(&cpu, "event=0x1c0"), 0x1_0000_00c0);
    assert_eq!(
        config(&cpu, "event=0x1c0,umask=0x3,inv,cmask=1"),
        0x1_0180_03c0
    );
    assert_eq!(
        encode(&cpu, "event=0x1000"),
        Err(PmuError::ValueTooWide {
            term: "event".into(),
            value: 0x1000,
            bits: 12
        })
    );
    // amd_zen4_perfmon_event_map, printed by amd_event_sysfs_show().
    for (alias, map_value) in [
        ("cpu-cycles", 0x0076),
        ("instructions", 0x00c0),
        ("cache-references", 0xff60),
        ("cache-misses", 0x0964),
        ("branch-instructions", 0x00c2),
        ("branch-misses", 0x00c3),
        ("stalled-cycles-frontend", 0x00a9),
        ("ref-cycles", 0x1_0000_0120),
    ] {
        assert_eq!(config(&cpu, alias), map_value, "{alias}");
    }
}

#[test]
fn arm64_pmuv3() {
    let pmus = sysfs::discover(&fixtures("arm64")).unwrap();
    assert_eq!(names(&pmus), ["armv8_pmuv3_0", "software"]);
    let pmu = &pmus[0];
    assert_eq!(pmu.type_, 8);
    assert_eq!(pmu.cpus.as_ref().unwrap().as_slice(), &[0, 1, 2, 3]);
    assert_eq!(pmu.cpus.as_ref().unwrap().to_string(), "0-3");
    assert_eq!(pmu.alias("inst_retired").unwrap().terms[0].value, 8);
    assert_eq!(config(pmu, "inst_retired"), 0x8);
    assert_eq!(config(pmu, "cpu_cycles"), 0x11);
    assert_eq!(config(pmu, "br_mis_pred"), 0x10);
    assert_eq!(config(pmu, "sw_incr"), 0);
    // `long` and `rdpmc` are single config1 bits (their files end in two
    // newlines); the threshold fields follow them.
    let e = encode(pmu, "cpu_cycles,long").unwrap();
    assert_eq!((e.config, e.config1), (0x11, 1));
    assert_eq!(encode(pmu, "event=0x8,rdpmc").unwrap().config1, 2);
    let e = encode(
        pmu,
        "inst_retired,long,threshold=0x7ff,threshold_compare=2,threshold_count",
    )
    .unwrap();
    assert_eq!(
        (e.config, e.config1),
        (0x8, 1 | 0x7ff << 5 | 2 << 3 | 1 << 2)
    );
    assert!(matches!(
        encode(pmu, "event=0x8,threshold=0x1000"),
        Err(PmuError::ValueTooWide { bits: 12, .. })
    ));
    assert!(matches!(
        encode(pmu, "event=0x10000"),
        Err(PmuError::ValueTooWide { bits: 16, .. })
    ));
}

#[test]
fn power9_fields() {
    let root = fixtures("power");
    let cpu = sysfs::find(&root, "cpu").unwrap();
    assert_eq!(cpu.type_, 4);
    assert_eq!(cpu.format.terms.len(), 13);
    // The generic events are POWER9 event codes, whose fields are the
    // format's terms: PM_BR_CMPL is PMC 4, unit 0xd, PMCxSEL 0x5e.
    assert_eq!(config(&cpu, "branch-instructions"), 0x4d05e);
    assert_eq!(config(&cpu, "pmc=4,unit=0xd,pmcxsel=0x5e"), 0x4d05e);
    assert_eq!(config(&cpu, "branch-misses"), 0x400f6);
    assert_eq!(config(&cpu, "pmc=4,pmcxsel=0xf6"), 0x400f6);
    assert_eq!(config(&cpu, "cpu-cycles"), 0x1e);
    assert_eq!(config(&cpu, "instructions"), 0x2);
    // MEM_LOADS is a marked, thresholded event: every field but the cache
    // selector, the combine bits and thresh_cmp is set.
    let by_fields =
        "pmcxsel=0xe0,mark,pmc=4,sample_mode=0x14,thresh_sel=1,thresh_stop=4,thresh_start=3";
    assert_eq!(config(&cpu, by_fields), 0x34_3404_01e0);
    assert_eq!(config(&cpu, "mem-loads"), 0x34_3404_01e0);
    assert_eq!(config(&cpu, "mem-stores"), 0x34_3c04_01e0);
    assert_eq!(
        config(&cpu, "thresh_cmp=0x3ff,sdar_mode=3"),
        0xf_ff00_0000_0000
    );
    // `event` covers bits 0-51 at once; the fields overlap it.
    assert_eq!(config(&cpu, "event=0x34340401e0"), 0x34_3404_01e0);
    assert!(matches!(
        encode(&cpu, "event=0x10000000000000"),
        Err(PmuError::ValueTooWide { bits: 52, .. })
    ));
    assert!(matches!(
        encode(&cpu, "pmc=16"),
        Err(PmuError::ValueTooWide { bits: 4, .. })
    ));
}

#[test]
fn placeholders_must_be_given() {
    let pmu = sysfs::find(&fixtures("power"), "hv_24x7").unwrap();
    assert_eq!(pmu.cpus.as_ref().unwrap().as_slice(), &[0]);
    let chip = pmu.alias("PM_PB_CYC").unwrap();
    assert_eq!(chip.required_terms, ["chip"]);
    let err = encode(&pmu, "PM_PB_CYC").unwrap_err();
    assert_eq!(
        err,
        PmuError::MissingTermValue {
            pmu: "hv_24x7".into(),
            alias: "PM_PB_CYC".into(),
            term: "chip".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "event `hv_24x7/PM_PB_CYC/` needs a value for `chip`, which the PMU leaves to you: \
         give it beside the event, as in `hv_24x7/PM_PB_CYC,chip=<value>/`"
    );
    let e = encode(&pmu, "PM_PB_CYC,chip=3").unwrap();
    assert_eq!((e.config, e.config1), (0x80 << 32 | 3 << 16 | 1, 0));

    // Core events leave the domain to the user too, and ask for the first
    // term missing.
    assert_eq!(
        pmu.alias("HPM_PCYC").unwrap().required_terms,
        ["domain", "core"]
    );
    assert!(matches!(
        encode(&pmu, "HPM_PCYC,core=5"),
        Err(PmuError::MissingTermValue { term, .. }) if term == "domain"
    ));
    assert!(matches!(
        encode(&pmu, "HPM_PCYC,domain=2"),
        Err(PmuError::MissingTermValue { term, .. }) if term == "core"
    ));
    let e = encode(&pmu, "domain=2,HPM_PCYC,core=5,lpar=0x7").unwrap();
    assert_eq!((e.config, e.config1), (0x18 << 32 | 5 << 16 | 2, 7));
}

#[test]
fn unknown_terms_list_the_known_ones() {
    let pmu = sysfs::find(&fixtures("arm64"), "armv8_pmuv3_0").unwrap();
    let err = encode(&pmu, "event=0x11,umask=1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown term `umask`: this PMU's terms are event, long, rdpmc, threshold, \
         threshold_compare, threshold_count"
    );
    // An alias of another PMU is just an unknown term here.
    assert!(matches!(
        encode(&pmu, "mem-loads"),
        Err(PmuError::UnknownTerm { term, .. }) if term == "mem-loads"
    ));
}

#[test]
fn missing_pmu_lists_the_others() {
    let root = fixtures("x86");
    let err = sysfs::find(&root, "cpu_core").unwrap_err();
    assert_eq!(
        pmu_error_of(&err),
        Some(&PmuError::NoSuchPmu {
            name: "cpu_core".into(),
            available: ["cpu", "msr", "power", "software", "tracepoint"]
                .map(String::from)
                .to_vec(),
        })
    );
    let message = err.to_string();
    assert!(
        message.contains(
            "no PMU named `cpu_core` (this machine has: cpu, msr, power, software, tracepoint): \
             `strobe list pmu`"
        ),
        "{message}"
    );
    // Names that would leave the root are not PMUs either.
    for name in ["", ".", "..", "../x86", "cpu/events"] {
        let err = sysfs::find(&root, name).unwrap_err();
        assert!(
            matches!(pmu_error_of(&err), Some(PmuError::NoSuchPmu { .. })),
            "`{name}`: {err}"
        );
    }
    // A missing root says what the directory is for.
    let err = sysfs::discover(&root.join("nonexistent")).unwrap_err();
    assert!(err.to_string().contains("CONFIG_PERF_EVENTS"), "{err}");
}

/// A copy of a fixture tree that tests may spoil, removed when dropped.
struct ScratchTree(PathBuf);

impl ScratchTree {
    fn copy_of(tree: &str, test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("strobe-sysfs-pmu-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        copy_dir(&fixtures(tree), &dir);
        ScratchTree(dir)
    }
}

impl Drop for ScratchTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn malformed_pmus_are_errors_alone_and_skipped_in_listings() {
    let tree = ScratchTree::copy_of("x86", "malformed");
    let bad_format = tree.0.join("cpu/format/cmask");
    fs::write(&bad_format, "config:31-24\n").unwrap();
    fs::write(tree.0.join("power/type"), "power\n").unwrap();
    fs::remove_file(tree.0.join("msr/type")).unwrap();
    // A malformed alias only loses that alias.
    fs::write(tree.0.join("software/type"), "1\n").unwrap();
    fs::create_dir_all(tree.0.join("software/events")).unwrap();
    fs::write(tree.0.join("software/events/broken"), "event=zz\n").unwrap();
    fs::write(tree.0.join("software/events/fine"), "config=0x3\n").unwrap();
    fs::write(tree.0.join("software/events/fine.scale"), "not a number\n").unwrap();
    // Files beside the PMU directories are not PMUs.
    fs::write(tree.0.join("README"), "not a PMU\n").unwrap();

    let err = sysfs::find(&tree.0, "cpu").unwrap_err();
    assert_eq!(
        pmu_error_of(&err),
        Some(&PmuError::BadFormat {
            term: "cmask".into(),
            text: "config:31-24".into()
        })
    );
    let message = err.to_string();
    assert!(
        message.contains(&bad_format.display().to_string()),
        "{message}"
    );
    assert!(message.contains("expected e.g. config:0-7"), "{message}");

    let err = sysfs::find(&tree.0, "power").unwrap_err();
    assert!(
        err.to_string().contains("`power` is not a PMU type number"),
        "{err}"
    );
    let err = sysfs::find(&tree.0, "msr").unwrap_err();
    assert!(err.to_string().contains("msr/type"), "{err}");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));

    let pmus = sysfs::discover(&tree.0).unwrap();
    assert_eq!(names(&pmus), ["software", "tracepoint"]);
    let software = &pmus[0];
    assert_eq!(software.aliases.len(), 1);
    assert_eq!(software.aliases[0].name, "fine");
    assert_eq!(software.aliases[0].scale, None);
    assert_eq!(config(software, "fine"), 3);

    // A listing still names the PMUs it could not load.
    let err = sysfs::find(&tree.0, "nope").unwrap_err();
    assert!(
        err.to_string()
            .contains("this machine has: cpu, msr, power, software, tracepoint"),
        "{err}"
    );
}

/// The running kernel's PMUs. Every Linux kernel with perf events has the
/// software and tracepoint PMUs at their fixed ABI types; x86 ones have
/// `msr` too, and uprobes where CONFIG_UPROBE_EVENTS is on.
#[test]
fn host_sysfs_pmus() {
    let pmus = sysfs::discover(Path::new(DEFAULT_ROOT)).unwrap();
    let by_name = |name: &str| pmus.iter().find(|p| p.name == name);
    assert_eq!(
        by_name("software").map(|p| p.type_),
        Some(1),
        "{:?}",
        names(&pmus)
    );
    assert_eq!(by_name("tracepoint").map(|p| p.type_), Some(2));
    if let Some(breakpoint) = by_name("breakpoint") {
        assert_eq!(breakpoint.type_, 5);
    }
    if cfg!(target_arch = "x86_64") {
        let msr = by_name("msr").expect("x86 kernels register the msr PMU");
        assert_eq!(msr.format.term("event").unwrap().width(), 64);
        assert_eq!(
            msr.alias("tsc").map(|a| a.terms.clone()),
            Some(Term::parse_list("event=0x00").unwrap())
        );
        assert_eq!(config(msr, "tsc"), 0);
    }
    if let Some(uprobe) = by_name("uprobe") {
        assert_eq!(config(uprobe, "retprobe"), 1);
        assert_eq!(config(uprobe, "ref_ctr_offset=0x10"), 0x10 << 32);
    }
    let found = sysfs::find(Path::new(DEFAULT_ROOT), "software").unwrap();
    assert_eq!(Some(&found), by_name("software"));
}
