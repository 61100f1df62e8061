//! PMU discovery through sysfs.
//!
//! The kernel lists every PMU it registered under
//! `/sys/bus/event_source/devices/<name>`: `type` holds the number that goes
//! in `perf_event_attr.type`, `format/` has one file per term (the notation
//! [`super::format`] reads), `events/` the PMU's named events (aliases such
//! as `cpu-cycles` = `event=0x3c`, with `.scale`, `.unit`, `.per-pkg` and
//! `.snapshot` companions), and `cpumask` or `cpus` the CPUs an uncore or
//! hybrid PMU counts on.
//!
//! Reading and parsing are apart: [`SysfsPmu::parse_format_file`] and
//! [`SysfsPmu::parse_alias`] take file contents, so they are tested without
//! files; [`SysfsPmu::load`], [`discover`] and [`find`] do the reading and
//! take the root as an argument, so tests point them at fixture trees.
//!
//! A missing PMU is `Error::Pmu`; a malformed file is an `Error::Syscall`
//! that names it, with the [`PmuError`] as its source; [`pmu_error_of`]
//! gets the typed error back from either.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Encoding, PmuError, PmuFormat, Term, TermFormat};
use crate::cpu::CpuList;
use crate::Error;

/// Where the kernel lists its PMUs.
pub const DEFAULT_ROOT: &str = "/sys/bus/event_source/devices";

/// Endings of the files in `events/` that describe an alias rather than
/// name one; perf skips the same four.
const ATTRIBUTE_SUFFIXES: [&str; 4] = [".scale", ".unit", ".per-pkg", ".snapshot"];

/// A PMU the kernel offers, from `/sys/bus/event_source/devices/<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct SysfsPmu {
    /// The directory's name: `cpu`, `power`, `armv8_pmuv3_0`, `cpu_core`.
    pub name: String,
    /// The value for `perf_event_attr.type`.
    pub type_: u32,
    /// The terms of `format/`, sorted by name; empty for PMUs such as
    /// `software` that take a bare config.
    pub format: PmuFormat,
    /// The events of `events/`, sorted by name.
    pub aliases: Vec<EventAlias>,
    /// The CPUs the PMU counts on, from `cpumask` or `cpus`; `None` when
    /// neither file is there, which means every CPU.
    pub cpus: Option<CpuList>,
}

/// A named event from a PMU's `events/` directory, such as `cpu-cycles` =
/// `event=0x3c` or `energy-pkg` = `event=0x02` scaled to Joules.
#[derive(Debug, Clone, PartialEq)]
pub struct EventAlias {
    /// The file's name.
    pub name: String,
    /// The terms it stands for.
    pub terms: Vec<Term>,
    /// Terms written `name=?`: the alias fixes no value for them and the
    /// user must give one (`ldlat=?`, hv_24x7's `core=?`).
    pub required_terms: Vec<String>,
    /// What one count is worth in `unit`, from `<name>.scale`.
    pub scale: Option<f64>,
    /// The unit of a scaled count (`Joules`, `MiB`), from `<name>.unit`.
    pub unit: Option<String>,
    /// `<name>.per-pkg` is 1: the count covers a whole package, so one CPU
    /// per package is read.
    pub per_pkg: bool,
    /// `<name>.snapshot` is 1: the counter reads a current value (a
    /// temperature), not an accumulating count.
    pub snapshot: bool,
}

impl SysfsPmu {
    /// Reads one PMU directory.
    ///
    /// `type` must be there and every `format/` file must parse, since a
    /// PMU without them cannot be encoded for. An alias file that is
    /// unreadable or malformed only leaves that alias out, with a warning,
    /// as perf does: the PMU's other events still work.
    pub fn load(dir: &Path) -> Result<SysfsPmu, Error> {
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let type_path = dir.join("type");
        let type_text = read(&type_path)?;
        let type_ = type_text.trim().parse().map_err(|_| {
            invalid_data(
                &type_path,
                format!(
                    "`{}` is not a PMU type number; is this a PMU directory like those in {DEFAULT_ROOT}?",
                    type_text.trim()
                ),
            )
        })?;
        Ok(SysfsPmu {
            name,
            type_,
            format: load_format(&dir.join("format"))?,
            aliases: load_aliases(&dir.join("events"))?,
            cpus: load_cpus(dir)?,
        })
    }

    /// The alias called `name`, ignoring ASCII case as perf does
    /// (`cpu/CPU-CYCLES/` works).
    pub fn alias(&self, name: &str) -> Option<&EventAlias> {
        self.aliases
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Encodes a term list such as `mem-loads,ldlat=5` for this PMU.
    ///
    /// A bare name that is not one of the PMU's terms but names an alias
    /// is replaced, in place, by the alias's terms, so terms after it
    /// override the alias's values (`mem-loads,ldlat=5` counts loads of
    /// at least 5 cycles). A term the alias leaves to the user (`ldlat=?`)
    /// must be given somewhere in the list.
    pub fn encode(&self, terms: &[Term]) -> Result<Encoding, PmuError> {
        let mut expanded = Vec::with_capacity(terms.len());
        for term in terms {
            let Some(alias) = self.alias_named_by(term) else {
                expanded.push(term.clone());
                continue;
            };
            if let Some(missing) = alias
                .required_terms
                .iter()
                .find(|required| !terms.iter().any(|t| &t.name == *required))
            {
                return Err(PmuError::MissingTermValue {
                    pmu: self.name.clone(),
                    alias: alias.name.clone(),
                    term: missing.clone(),
                });
            }
            expanded.extend(alias.terms.iter().cloned());
        }
        self.format.encode(&expanded)
    }

    /// The alias a term stands for. Term parsing turns a bare `name` into
    /// `name=1`, so only a value of 1 can be a bare name; and a term of the
    /// format wins over an alias of the same name, as in perf.
    fn alias_named_by(&self, term: &Term) -> Option<&EventAlias> {
        if term.value != 1 || self.format.term(&term.name).is_some() {
            return None;
        }
        self.alias(&term.name)
    }

    /// Parses the content of `format/<name>`, such as `config:0-7,32-35`.
    /// The trailing newlines the kernel adds (two, for arm64's single-bit
    /// terms) are ignored.
    pub fn parse_format_file(name: &str, text: &str) -> Result<TermFormat, PmuError> {
        TermFormat::parse(name, text)
    }

    /// Parses the content of `events/<name>`: comma-separated terms with
    /// decimal or `0x` values (`event=0xcd,umask=0x1,ldlat=3`), bare terms
    /// (`any`), and `term=?` for a value the user must give. The scale,
    /// unit and flags come from companion files, so they are left unset.
    pub fn parse_alias(name: &str, text: &str) -> Result<EventAlias, PmuError> {
        let mut terms = Vec::new();
        let mut required_terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((term, value)) if value.trim() == "?" => {
                    let term = term.trim();
                    if term.is_empty() {
                        return Err(PmuError::BadTerm(part.to_string()));
                    }
                    required_terms.push(term.to_string());
                }
                _ => terms.extend(Term::parse_list(part)?),
            }
        }
        if terms.is_empty() && required_terms.is_empty() {
            return Err(PmuError::BadTerm(text.trim().to_string()));
        }
        Ok(EventAlias {
            name: name.to_string(),
            terms,
            required_terms,
            scale: None,
            unit: None,
            per_pkg: false,
            snapshot: false,
        })
    }
}

/// Every PMU under `root` (normally [`DEFAULT_ROOT`]), sorted by name.
///
/// A PMU directory that cannot be read or is malformed is left out with a
/// warning: one odd driver should not hide the others. Only an unreadable
/// `root` is an error.
pub fn discover(root: &Path) -> Result<Vec<SysfsPmu>, Error> {
    let mut pmus = Vec::new();
    for (name, dir) in pmu_dirs(root)? {
        match SysfsPmu::load(&dir) {
            Ok(pmu) => pmus.push(pmu),
            Err(e) => log::warn!("PMU `{name}` left out: {e}"),
        }
    }
    Ok(pmus)
}

/// The PMU called `name` under `root`. A missing one is a
/// [`PmuError::NoSuchPmu`] (see [`pmu_error_of`]) that lists the PMUs
/// there are.
pub fn find(root: &Path, name: &str) -> Result<SysfsPmu, Error> {
    let dir = root.join(name);
    // A name with a slash or a dot-dot would reach outside `root`.
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains('/');
    if plain && dir.is_dir() {
        return SysfsPmu::load(&dir);
    }
    let available = pmu_dirs(root)?.into_iter().map(|(n, _)| n).collect();
    Err(Error::Pmu {
        context: None,
        source: PmuError::NoSuchPmu {
            name: name.to_string(),
            available,
        },
    })
}

/// The PMU error inside `error`, if it is one.
pub fn pmu_error_of(error: &Error) -> Option<&PmuError> {
    match error {
        Error::Pmu { source, .. } => Some(source),
        Error::Syscall { source, .. } => source.get_ref()?.downcast_ref(),
        _ => None,
    }
}

/// The PMU directories under `root`, by name. Entries that are not
/// directories (after following sysfs's symlinks) are not PMUs.
fn pmu_dirs(root: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let entries = list_dir(root)?.ok_or_else(|| Error::Syscall {
        call: "opendir",
        context: root.display().to_string(),
        source: io::Error::from_raw_os_error(libc::ENOENT),
        hint: "; the kernel lists its PMUs there when it has perf events (CONFIG_PERF_EVENTS) and sysfs is mounted at /sys".to_string(),
    })?;
    Ok(entries
        .into_iter()
        .filter(|(_, path)| path.is_dir())
        .collect())
}

/// `format/`'s terms, sorted by name; no directory means no terms.
fn load_format(dir: &Path) -> Result<PmuFormat, Error> {
    let mut terms = Vec::new();
    for (name, path) in list_dir(dir)?.unwrap_or_default() {
        let text = read(&path)?;
        let term = SysfsPmu::parse_format_file(&name, &text).map_err(|e| invalid_data(&path, e))?;
        terms.push(term);
    }
    Ok(PmuFormat { terms })
}

/// `events/`'s aliases with their companion files, sorted by name.
fn load_aliases(dir: &Path) -> Result<Vec<EventAlias>, Error> {
    let mut aliases = Vec::new();
    for (name, path) in list_dir(dir)?.unwrap_or_default() {
        if name.starts_with('.') || ATTRIBUTE_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let parsed = read(&path).and_then(|text| {
            SysfsPmu::parse_alias(&name, &text).map_err(|e| invalid_data(&path, e))
        });
        let mut alias = match parsed {
            Ok(alias) => alias,
            Err(e) => {
                log::warn!("event `{name}` left out: {e}");
                continue;
            }
        };
        let scale_path = dir.join(format!("{name}.scale"));
        alias.scale = companion(&scale_path).and_then(|text| {
            let scale = text.trim().parse::<f64>().ok().filter(|s| s.is_finite());
            if scale.is_none() {
                log::warn!(
                    "{}: `{}` is not a number; counts of `{name}` are shown unscaled",
                    scale_path.display(),
                    text.trim()
                );
            }
            scale
        });
        alias.unit = companion(&dir.join(format!("{name}.unit")))
            .map(|text| text.trim().to_string())
            .filter(|unit| !unit.is_empty());
        alias.per_pkg =
            companion(&dir.join(format!("{name}.per-pkg"))).is_some_and(|text| text.trim() == "1");
        alias.snapshot =
            companion(&dir.join(format!("{name}.snapshot"))).is_some_and(|text| text.trim() == "1");
        aliases.push(alias);
    }
    Ok(aliases)
}

/// An alias's companion file, if there is one. One that exists but cannot
/// be read is only worth a warning: the alias itself is still usable.
fn companion(path: &Path) -> Option<String> {
    match fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            log::warn!("cannot read {}: {e}", path.display());
            None
        }
    }
}

/// `cpumask` (uncore PMUs) or `cpus` (arm64 and Intel hybrid core PMUs);
/// perf looks in the same order.
fn load_cpus(dir: &Path) -> Result<Option<CpuList>, Error> {
    for file in ["cpumask", "cpus"] {
        let path = dir.join(file);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_error(&path, e)),
        };
        return CpuList::parse(&text)
            .map(Some)
            .map_err(|e| Error::CpuList(format!("{}: {e}", path.display())));
    }
    Ok(None)
}

/// A directory's entries as (name, path), sorted by name; `None` if the
/// directory does not exist.
fn list_dir(dir: &Path) -> Result<Option<Vec<(String, PathBuf)>>, Error> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Syscall {
                call: "opendir",
                context: dir.display().to_string(),
                source: e,
                hint: String::new(),
            })
        }
    };
    let mut list = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::Syscall {
            call: "readdir",
            context: dir.display().to_string(),
            source: e,
            hint: String::new(),
        })?;
        list.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    list.sort();
    Ok(Some(list))
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| read_error(path, e))
}

fn read_error(path: &Path, source: io::Error) -> Error {
    Error::Syscall {
        call: "read",
        context: path.display().to_string(),
        source,
        hint: String::new(),
    }
}

/// A file that was read but says something this module cannot use.
fn invalid_data(path: &Path, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    read_error(path, io::Error::new(io::ErrorKind::InvalidData, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(alias: &EventAlias) -> Vec<(&str, u64)> {
        alias
            .terms
            .iter()
            .map(|t| (t.name.as_str(), t.value))
            .collect()
    }

    #[test]
    fn alias_values_as_each_architecture_writes_them() {
        // x86_event_sysfs_show(): hex with a newline, bare flags.
        let a = SysfsPmu::parse_alias("mem-loads", "event=0xcd,umask=0x1,ldlat=3\n").unwrap();
        assert_eq!(terms(&a), [("event", 0xcd), ("umask", 1), ("ldlat", 3)]);
        assert!(a.required_terms.is_empty());
        let a = SysfsPmu::parse_alias("t", "event=0x3c,umask=0x0,any=1").unwrap();
        assert_eq!(terms(&a), [("event", 0x3c), ("umask", 0), ("any", 1)]);
        let a = SysfsPmu::parse_alias("x", "event=0xd,umask=0x3,edge,cmask=1").unwrap();
        assert_eq!(
            terms(&a),
            [("event", 0xd), ("umask", 3), ("edge", 1), ("cmask", 1)]
        );
        // arm64 pads to four digits, POWER writes codes wider than 32 bits.
        let a = SysfsPmu::parse_alias("cpu_cycles", "event=0x0011\n").unwrap();
        assert_eq!(terms(&a), [("event", 0x11)]);
        let a = SysfsPmu::parse_alias("mem-loads", "event=0x34340401e0\n").unwrap();
        assert_eq!(terms(&a), [("event", 0x34_3404_01e0)]);
        let a = SysfsPmu::parse_alias("c", "config=0x1001e").unwrap();
        assert_eq!(terms(&a), [("config", 0x1001e)]);
    }

    #[test]
    fn placeholder_values_are_required_terms() {
        // hv_24x7 publishes events like this one.
        let a = SysfsPmu::parse_alias("PM_X", "domain=0x1,offset=0x8,core=?,lpar=0x0\n").unwrap();
        assert_eq!(terms(&a), [("domain", 1), ("offset", 8), ("lpar", 0)]);
        assert_eq!(a.required_terms, ["core"]);
    }

    #[test]
    fn malformed_aliases() {
        for text in [
            "",
            "\n",
            "event=zz",
            "=3",
            "=?",
            "event=",
            "event=0x3c,,umask=q",
        ] {
            assert!(
                SysfsPmu::parse_alias("x", text).is_err(),
                "`{text}` should not parse"
            );
        }
    }

    #[test]
    fn format_files_with_kernel_newlines() {
        // GEN_PMU_FORMAT_ATTR's single-bit strings carry their own newline
        // and PMU_FORMAT_ATTR adds another.
        let long = SysfsPmu::parse_format_file("long", "config1:0\n\n").unwrap();
        assert_eq!(long.width(), 1);
        assert!(SysfsPmu::parse_format_file("event", "config:0-7,").is_err());
    }

    fn in_memory_pmu() -> SysfsPmu {
        let alias = |name: &str, text: &str| SysfsPmu::parse_alias(name, text).unwrap();
        SysfsPmu {
            name: "cpu".into(),
            type_: 4,
            format: PmuFormat::from_pairs([
                ("event", "config:0-7"),
                ("umask", "config:8-15"),
                ("any", "config:21"),
                ("ldlat", "config1:0-15"),
            ])
            .unwrap(),
            aliases: vec![
                alias("mem-loads", "event=0xcd,umask=0x1,ldlat=3"),
                alias("loads-over", "event=0xcd,umask=0x1,ldlat=?"),
                // An alias named like a term never hides the term.
                alias("any", "event=0x99"),
            ],
            cpus: None,
        }
    }

    #[test]
    fn aliases_expand_in_place() {
        let pmu = in_memory_pmu();
        let encode = |text: &str| pmu.encode(&Term::parse_list(text).unwrap());
        let e = encode("mem-loads").unwrap();
        assert_eq!((e.config, e.config1), (0x1cd, 3));
        assert_eq!(encode("MEM-LOADS").unwrap(), e);
        // Later terms override the alias's; earlier ones are overridden.
        assert_eq!(encode("mem-loads,ldlat=50").unwrap().config1, 50);
        assert_eq!(encode("ldlat=50,mem-loads").unwrap().config1, 3);
        assert_eq!(encode("event=0x3c,any").unwrap().config, 0x20_003c);
        // With a value, a name is a term, never an alias.
        assert!(matches!(
            encode("mem-loads=2"),
            Err(PmuError::UnknownTerm { .. })
        ));
    }

    #[test]
    fn placeholder_terms_must_be_given() {
        let pmu = in_memory_pmu();
        let encode = |text: &str| pmu.encode(&Term::parse_list(text).unwrap());
        let err = encode("loads-over").unwrap_err();
        assert_eq!(
            err,
            PmuError::MissingTermValue {
                pmu: "cpu".into(),
                alias: "loads-over".into(),
                term: "ldlat".into(),
            }
        );
        assert!(err.to_string().contains("`cpu/loads-over,ldlat=<value>/`"));
        let e = encode("loads-over,ldlat=7").unwrap();
        assert_eq!((e.config, e.config1), (0x1cd, 7));
        let e = encode("ldlat=7,loads-over").unwrap();
        assert_eq!((e.config, e.config1), (0x1cd, 7));
    }
}
