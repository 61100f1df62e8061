//! Cross-checks strobe's x86 event tables against libpfm4.
//!
//! Every event shipped in the Westmere and Zen 4 tables must encode to
//! exactly the `perf_event_attr` libpfm4 gives it (type PERF_TYPE_RAW, the
//! same config and config1). libpfm4 is an independent transcription of
//! the vendors' event lists, so an agreement is evidence that neither perf's
//! JSON nor strobe's generator garbled the event.
//!
//! The libpfm4 side runs through `tests/support/pfm_encode.c`, compiled
//! here with `cc -lpfm` (Debian: libpfm4-dev) and told which PMU to model
//! with `LIBPFM_FORCE_PMU`, so the check needs no particular CPU. Each event
//! is looked up by name first (perf's `A.B.C` is libpfm4's `A:B_C`); when
//! libpfm4 knows the name, its encoding must match. Otherwise the libpfm4
//! string is built from the event's code and unit mask, as
//! `scripts/gen-pmu-tables` does when it decides what to exclude: the two
//! must apply the same rules.
//!
//! Without a C compiler or libpfm4 the test is skipped, except under
//! CI=true, where it fails.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use strobe_probe::pmu::tables::{self, CpuTable};
use strobe_probe::pmu::Term;

/// The tables checked, with the libpfm4 PMU that models each. libpfm4 has
/// no Westmere-EX table; the single-socket one is the closest.
const CHECKED: &[(&str, &str)] = &[
    ("westmere-ep-sp", "wsm"),
    ("westmere-ep-dp", "wsm_dp"),
    ("westmere-ex", "wsm"),
    ("zen4", "amd64_fam19h_zen4"),
];

/// `perf_event_attr.type` for raw PMU events.
const PERF_TYPE_RAW: u32 = 4;

/// What libpfm4 encodes an event string to: type, config, config1.
type Attr = (u32, u64, u64);

/// One libpfm4 event and its unit masks, with their raw codes.
struct LibEvent {
    name: String,
    code: u64,
    umasks: Vec<(String, u64)>,
}

/// The compiled helper, driving one forced libpfm4 PMU.
struct Libpfm {
    binary: PathBuf,
    pmu: String,
    events: Vec<LibEvent>,
}

impl Libpfm {
    fn new(binary: &Path, pmu: &str) -> Libpfm {
        let out = Command::new(binary)
            .args(["dump", pmu])
            .env("LIBPFM_FORCE_PMU", pmu)
            .output()
            .expect("run pfm_encode dump");
        assert!(
            out.status.success(),
            "pfm_encode dump {pmu}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut events: Vec<LibEvent> = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let code = parse_hex(fields[2]);
            match fields[0] {
                "event" => events.push(LibEvent {
                    name: fields[1].to_string(),
                    code,
                    umasks: Vec::new(),
                }),
                _ => events
                    .last_mut()
                    .expect("a unit mask before any event")
                    .umasks
                    .push((fields[1].to_string(), code)),
            }
        }
        assert!(!events.is_empty(), "libpfm4 lists no events for {pmu}");
        Libpfm {
            binary: binary.to_path_buf(),
            pmu: pmu.to_string(),
            events,
        }
    }

    /// Encodes libpfm4 event strings; `None` where libpfm4 refuses one.
    fn encode(&self, strings: &[String]) -> Vec<Option<Attr>> {
        let mut child = Command::new(&self.binary)
            .env("LIBPFM_FORCE_PMU", &self.pmu)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run pfm_encode");
        let mut stdin = child.stdin.take().expect("stdin");
        let input: String = strings.iter().map(|s| format!("{s}\n")).collect();
        // Written from another thread so that a full stdout pipe cannot
        // block both sides.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("pfm_encode output");
        writer.join().unwrap().expect("write to pfm_encode");
        assert!(out.status.success(), "pfm_encode failed");
        let results: Vec<Option<Attr>> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                (fields[0] == "ok").then(|| {
                    (
                        fields[1].parse().unwrap(),
                        parse_hex(fields[2]),
                        parse_hex(fields[3]),
                    )
                })
            })
            .collect();
        assert_eq!(results.len(), strings.len(), "pfm_encode lost lines");
        results
    }

    /// perf's `A.B.C` as libpfm4 names it: `pmu::A:B_C`.
    fn name_for(&self, perf_name: &str) -> String {
        match perf_name.split_once('.') {
            Some((event, rest)) => format!("{}::{event}:{}", self.pmu, rest.replace('.', "_")),
            None => format!("{}::{perf_name}", self.pmu),
        }
    }

    /// libpfm4 strings that should encode like `terms`, built from the
    /// event code and unit mask (the rules of `libpfm_candidates` in
    /// scripts/gen-pmu-tables). An Intel unit mask's code holds the
    /// modifiers it implies above bit 7 (edge at 10, any at 13, inv at 15,
    /// cmask from 16); only the ones it does not imply are added.
    fn candidates(&self, intel: bool, terms: &[Term]) -> Vec<String> {
        let get = |name: &str| terms.iter().find(|t| t.name == name).map(|t| t.value);
        let event = get("event").unwrap_or(0);
        let umask = get("umask").unwrap_or(0);
        let want = [
            ("e", get("edge").unwrap_or(0)),
            ("t", get("any").unwrap_or(0)),
            ("i", get("inv").unwrap_or(0)),
            ("c", get("cmask").unwrap_or(0)),
        ];
        let join = |masks: &[&(String, u64)]| {
            masks
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(":")
        };
        let mut out = Vec::new();
        for ev in &self.events {
            // Intel event codes may carry a umask in bits 8-15; AMD's are
            // the 12-bit event select.
            let (base, embedded) = if intel {
                (ev.code & 0xff, (ev.code >> 8) & 0xff)
            } else {
                (ev.code, 0)
            };
            if base != event {
                continue;
            }
            if let Some(response) = get("offcore_rsp") {
                // OFFCORE_RESPONSE_n: the unit masks are the MSR's bits.
                if embedded != umask {
                    continue;
                }
                let bits: Vec<_> = ev
                    .umasks
                    .iter()
                    .filter(|(_, c)| c.is_power_of_two() && c & response != 0)
                    .collect();
                let covered = bits.iter().fold(0, |acc, (_, c)| acc | c);
                if !bits.is_empty() && covered == response {
                    out.push(format!("{}::{}:{}", self.pmu, ev.name, join(&bits)));
                }
                continue;
            }
            let mut options: Vec<(Option<String>, u64)> = Vec::new();
            if !ev.umasks.is_empty() {
                if embedded == 0 {
                    options = ev
                        .umasks
                        .iter()
                        .filter(|(_, c)| c & 0xff == umask)
                        .map(|(name, c)| (Some(name.clone()), c >> 8))
                        .collect();
                    // No single unit mask: several plain one-bit ones, ORed.
                    let bits: Vec<_> = ev
                        .umasks
                        .iter()
                        .filter(|(_, c)| *c < 0x100 && c.is_power_of_two() && c & umask != 0)
                        .collect();
                    let covered = bits.iter().fold(0, |acc, (_, c)| acc | c);
                    if options.is_empty() && !bits.is_empty() && covered == umask {
                        options.push((Some(join(&bits)), 0));
                    }
                }
            } else if embedded == umask {
                options.push((None, 0));
            }
            for (mask, implied) in options {
                let implied = [
                    (implied >> 10) & 1,
                    (implied >> 13) & 1,
                    (implied >> 15) & 1,
                    (implied >> 16) & 0xff,
                ];
                if implied
                    .iter()
                    .zip(want)
                    .any(|(&i, (_, w))| i != 0 && i != w)
                {
                    continue;
                }
                let mut text = format!("{}::{}", self.pmu, ev.name);
                if let Some(mask) = mask {
                    text += &format!(":{mask}");
                }
                for (&i, (modifier, w)) in implied.iter().zip(want) {
                    if w != 0 && i == 0 {
                        text += &format!(":{modifier}={w}");
                    }
                }
                if let Some(ldlat) = get("ldlat") {
                    text += &format!(":ldlat={ldlat}");
                }
                out.push(text);
            }
        }
        out
    }
}

fn parse_hex(text: &str) -> u64 {
    let digits = text.trim_start_matches("0x");
    u64::from_str_radix(digits, 16).unwrap_or_else(|_| panic!("not hex: {text}"))
}

/// Builds pfm_encode, or says why it cannot be built.
fn build_helper() -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pfm_encode.c");
    let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pfm_encode");
    let out = Command::new("cc")
        .arg("-O1")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .arg("-lpfm")
        .output()
        .map_err(|e| format!("cannot run cc ({e}); install gcc and libpfm4-dev"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot build {} against libpfm4; install libpfm4-dev:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(binary)
}

/// Checks one table; returns (events matched by name, built from terms)
/// and the disagreements.
fn check(table: &CpuTable, lib: &Libpfm) -> (usize, usize, Vec<String>) {
    let intel = table.vendor == "GenuineIntel";
    let mut failures = Vec::new();
    let expected: Vec<Attr> = table
        .events
        .iter()
        .map(|e| {
            let enc = table.encode(e).unwrap();
            (PERF_TYPE_RAW, enc.config, enc.config1)
        })
        .collect();
    let by_name = lib.encode(
        &table
            .events
            .iter()
            .map(|e| lib.name_for(&e.name))
            .collect::<Vec<_>>(),
    );
    let mut named = 0;
    let mut pending = Vec::new();
    for ((event, want), got) in table.events.iter().zip(&expected).zip(by_name) {
        match got {
            Some(got) if got == *want => named += 1,
            Some(got) => failures.push(format!(
                "{}: libpfm4 {} gives {got:x?}, strobe {want:x?} ({})",
                event.name,
                lib.name_for(&event.name),
                event.terms
            )),
            None => {
                let terms = Term::parse_list(&event.terms).unwrap();
                pending.push((event, *want, lib.candidates(intel, &terms)));
            }
        }
    }
    let all: Vec<String> = pending.iter().flat_map(|(_, _, c)| c.clone()).collect();
    let mut results = lib.encode(&all).into_iter();
    let mut built = 0;
    for (event, want, candidates) in &pending {
        let got: Vec<Option<Attr>> = results.by_ref().take(candidates.len()).collect();
        if got.contains(&Some(*want)) {
            built += 1;
        } else {
            failures.push(format!(
                "{}: libpfm4 has no such name, and no string built from {} encodes to {want:x?} (tried {candidates:?}, got {got:x?})",
                event.name, event.terms
            ));
        }
    }
    (named, built, failures)
}

#[test]
fn tables_agree_with_libpfm4() {
    let binary = match build_helper() {
        Ok(binary) => binary,
        Err(why) => {
            assert!(
                !support::in_ci(),
                "the libpfm4 cross-check cannot run, and CI=true forbids skipping: {why}"
            );
            eprintln!("skipping the libpfm4 cross-check: {why}");
            return;
        }
    };
    let mut failures = Vec::new();
    for (name, pmu) in CHECKED {
        let table = tables::table(name).unwrap_or_else(|| panic!("no table {name}"));
        let lib = Libpfm::new(&binary, pmu);
        let (named, built, mut bad) = check(table, &lib);
        eprintln!(
            "{name} (libpfm4 {pmu}): {} events, {named} match by name, {built} built from terms, {} disagree",
            table.events.len(),
            bad.len()
        );
        assert_eq!(named + built + bad.len(), table.events.len());
        failures.append(&mut bad);
    }
    assert!(
        failures.is_empty(),
        "{} shipped events disagree with libpfm4 (rerun scripts/gen-pmu-tables):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn name_translation() {
    let lib = Libpfm {
        binary: PathBuf::new(),
        pmu: "wsm".into(),
        events: Vec::new(),
    };
    assert_eq!(
        lib.name_for("OFFCORE_RESPONSE.ANY_DATA.ANY_LOCATION"),
        "wsm::OFFCORE_RESPONSE:ANY_DATA_ANY_LOCATION"
    );
    assert_eq!(lib.name_for("BACLEAR_FORCE_IQ"), "wsm::BACLEAR_FORCE_IQ");
}
