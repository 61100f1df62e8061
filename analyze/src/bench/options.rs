//! The benchmarks' own options, parsed the way perf's `parse-options`
//! parses them, so that a perf bench command line works unchanged after
//! `strobe bench`: `-l 1000`, `-l1000`, `--loop 1000`, `--loop=1000`,
//! clustered flags (`-pt`), and long names shortened to any unambiguous
//! prefix (`--thr`).
//!
//! Each benchmark declares its options once, in a table of [`OptionDef`]s;
//! the same table drives parsing, the usage text and the error messages.

use super::BenchError;
use std::fmt::Write as _;

/// One option a benchmark accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OptionDef {
    /// The one-letter name, if it has one.
    pub short: Option<char>,
    /// The long name, without the dashes. Benchmarks look options up by it.
    pub long: &'static str,
    /// The placeholder of the value (`n`, `SIZE`), or `None` for a flag.
    pub value: Option<&'static str>,
    /// One line of help, as `--help` shows it.
    pub help: &'static str,
}

impl OptionDef {
    /// A flag: an option without a value.
    pub const fn flag(short: char, long: &'static str, help: &'static str) -> Self {
        Self {
            short: Some(short),
            long,
            value: None,
            help,
        }
    }

    /// An option that takes a value.
    pub const fn value(
        short: char,
        long: &'static str,
        placeholder: &'static str,
        help: &'static str,
    ) -> Self {
        Self {
            short: Some(short),
            long,
            value: Some(placeholder),
            help,
        }
    }

    /// `-l/--loop` as error messages name it.
    fn display_name(&self) -> String {
        match self.short {
            Some(short) => format!("-{short}/--{}", self.long),
            None => format!("--{}", self.long),
        }
    }
}

/// The options found on one command line.
#[derive(Debug, Default)]
pub(crate) struct ParsedOptions {
    /// `-h` or `--help` was given: show the usage instead of running.
    pub help: bool,
    /// Each option given, by long name, with its value; later ones win.
    given: Vec<(&'static str, Option<String>)>,
}

impl ParsedOptions {
    /// Whether the flag with this long name was given.
    pub fn flag(&self, long: &str) -> bool {
        self.given.iter().any(|(name, _)| *name == long)
    }

    /// The last value given for this long name.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.given
            .iter()
            .rev()
            .find(|(name, _)| *name == long)
            .and_then(|(_, value)| value.as_deref())
    }

    /// The value of a whole-number option, or `default` when it is absent.
    /// `bench` names the benchmark in the error message.
    pub fn number(&self, bench: &str, long: &str, default: u64) -> Result<u64, BenchError> {
        match self.value(long) {
            None => Ok(default),
            Some(text) => text.trim().parse::<u64>().map_err(|_| {
                BenchError::BadOption(format!(
                    "{bench}: `--{long} {text}`: expected a whole number such as 1000"
                ))
            }),
        }
    }

    /// Like [`number`](Self::number), but 0 is refused: loop counts and
    /// durations of zero would divide by zero where perf prints `nan`.
    pub fn positive(&self, bench: &str, long: &str, default: u64) -> Result<u64, BenchError> {
        let n = self.number(bench, long, default)?;
        if n == 0 {
            return Err(BenchError::BadOption(format!(
                "{bench}: `--{long} 0`: must be at least 1"
            )));
        }
        Ok(n)
    }
}

/// Parses `args` against `defs`. `bench` (`sched/pipe`) names the
/// benchmark in error messages, which also list the options it takes, so a
/// user can fix the command without looking anything up.
pub(crate) fn parse(
    bench: &str,
    defs: &'static [OptionDef],
    args: &[String],
) -> Result<ParsedOptions, BenchError> {
    let mut parsed = ParsedOptions::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "-h" || arg == "--help" {
            parsed.help = true;
        } else if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let def = find_long(bench, defs, name)?;
            let value = match (def.value, inline) {
                (None, None) => None,
                (None, Some(_)) => {
                    return Err(BenchError::BadOption(format!(
                        "{bench}: option `--{}` takes no value",
                        def.long
                    )))
                }
                (Some(_), Some(value)) => Some(value),
                (Some(_), None) => Some(next_value(bench, def, &mut rest)?),
            };
            parsed.given.push((def.long, value));
        } else if let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) {
            // A cluster of one-letter options: flags may be grouped (`-pt`),
            // and the first option that takes a value takes the rest of the
            // cluster as that value (`-l1000`), or else the next argument.
            for (at, letter) in cluster.char_indices() {
                let def = defs
                    .iter()
                    .find(|d| d.short == Some(letter))
                    .ok_or_else(|| unknown(bench, defs, &format!("-{letter}")))?;
                if def.value.is_none() {
                    parsed.given.push((def.long, None));
                    continue;
                }
                let attached = &cluster[at + letter.len_utf8()..];
                let value = if attached.is_empty() {
                    next_value(bench, def, &mut rest)?
                } else {
                    attached.to_string()
                };
                parsed.given.push((def.long, Some(value)));
                break;
            }
        } else {
            return Err(BenchError::BadOption(format!(
                "{bench}: unexpected argument `{arg}`; {}",
                takes(defs)
            )));
        }
    }
    Ok(parsed)
}

/// The option a long name (or an unambiguous prefix of one) names.
fn find_long(
    bench: &str,
    defs: &'static [OptionDef],
    name: &str,
) -> Result<&'static OptionDef, BenchError> {
    if let Some(def) = defs.iter().find(|d| d.long == name) {
        return Ok(def);
    }
    let prefixed: Vec<&OptionDef> = defs
        .iter()
        .filter(|d| !name.is_empty() && d.long.starts_with(name))
        .collect();
    match prefixed.as_slice() {
        [one] => Ok(one),
        [] => Err(unknown(bench, defs, &format!("--{name}"))),
        many => Err(BenchError::BadOption(format!(
            "{bench}: option `--{name}` is ambiguous: it could be {}",
            many.iter()
                .map(|d| format!("--{}", d.long))
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
    }
}

/// The value of `def`, taken from the next argument.
fn next_value<'a>(
    bench: &str,
    def: &OptionDef,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<String, BenchError> {
    rest.next().cloned().ok_or_else(|| {
        BenchError::BadOption(format!(
            "{bench}: option `{}` needs a value ({})",
            def.display_name(),
            def.value.unwrap_or("value")
        ))
    })
}

fn unknown(bench: &str, defs: &[OptionDef], option: &str) -> BenchError {
    BenchError::BadOption(format!(
        "{bench}: unknown option `{option}`; {}",
        takes(defs)
    ))
}

/// `it takes -l/--loop N, -T/--threaded`, for error messages.
fn takes(defs: &[OptionDef]) -> String {
    if defs.is_empty() {
        return "it takes no options".to_string();
    }
    let list: Vec<String> = defs
        .iter()
        .map(|d| match d.value {
            Some(placeholder) => format!("{} {placeholder}", d.display_name()),
            None => d.display_name(),
        })
        .collect();
    format!("it takes {}", list.join(", "))
}

/// The usage text of a benchmark, in perf's layout:
///
/// ```text
///  Usage: strobe bench sched pipe <options>
///
///     -l, --loop <n>        Specify number of loops
/// ```
pub(crate) fn usage(command: &str, defs: &[OptionDef]) -> String {
    let mut text = format!("\n Usage: {command} <options>\n\n");
    for def in defs {
        let mut left = match def.short {
            Some(short) => format!("    -{short}, --{}", def.long),
            None => format!("    --{}", def.long),
        };
        if let Some(placeholder) = def.value {
            let _ = write!(left, " <{placeholder}>");
        }
        // perf pads the left column to 26 characters and moves the help to
        // a line of its own when the option does not fit.
        if left.len() <= 24 {
            let _ = writeln!(text, "{left:<26}{}", def.help);
        } else {
            let _ = writeln!(text, "{left}\n{:26}{}", "", def.help);
        }
    }
    text.push('\n');
    text
}

/// Parses a buffer size as perf's `perf_atoll` does: a whole number and an
/// optional unit `B`, `KB`, `MB`, `GB` or `TB`, powers of 1024. perf wants
/// both letters of a unit in the same case (`kb` or `KB`); strobe takes any
/// case, as perf's help text promises. Zero and overflowing sizes are
/// refused.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return None;
    }
    let number: u64 = text[..digits_end].parse().ok()?;
    let shift = match text[digits_end..].to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "KB" => 10,
        "MB" => 20,
        "GB" => 30,
        "TB" => 40,
        _ => return None,
    };
    let size = number.checked_mul(1u64 << shift)?;
    (size > 0).then_some(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    static DEFS: &[OptionDef] = &[
        OptionDef::value('l', "loop", "n", "Specify number of loops"),
        OptionDef::flag('p', "pipe", "Use pipe() instead of socketpair()"),
        OptionDef::flag('t', "thread", "Be multi thread instead of multi process"),
        OptionDef::value('g', "group", "n", "Specify number of groups"),
    ];

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn perf_spellings_of_options() {
        for spelling in [
            &["-l", "7"][..],
            &["-l7"],
            &["--loop", "7"],
            &["--loop=7"],
            &["--lo", "7"],
            &["-l", "3", "-l", "7"],
        ] {
            let parsed = parse("t/t", DEFS, &args(spelling)).unwrap();
            assert_eq!(parsed.number("t/t", "loop", 1).unwrap(), 7, "{spelling:?}");
        }
        let parsed = parse("t/t", DEFS, &args(&["-pt", "-g2"])).unwrap();
        assert!(parsed.flag("pipe") && parsed.flag("thread"));
        assert_eq!(parsed.number("t/t", "group", 10).unwrap(), 2);
        assert_eq!(parsed.number("t/t", "loop", 100).unwrap(), 100);
        // A value-taking option in a cluster takes the rest of it.
        let parsed = parse("t/t", DEFS, &args(&["-pl50"])).unwrap();
        assert!(parsed.flag("pipe"));
        assert_eq!(parsed.value("loop"), Some("50"));
        assert!(parse("t/t", DEFS, &args(&["--help"])).unwrap().help);
    }

    #[test]
    fn bad_options_say_what_to_do() {
        let message = |list: &[&str]| match parse("sched/messaging", DEFS, &args(list)) {
            Err(e) => e.to_string(),
            Ok(p) => match p.positive("sched/messaging", "loop", 1) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{list:?} parsed"),
            },
        };
        assert_eq!(
            message(&["-x"]),
            "sched/messaging: unknown option `-x`; it takes -l/--loop n, -p/--pipe, \
             -t/--thread, -g/--group n"
        );
        assert!(message(&["--bogus"]).contains("unknown option `--bogus`"));
        assert_eq!(
            message(&["-l"]),
            "sched/messaging: option `-l/--loop` needs a value (n)"
        );
        assert_eq!(
            message(&["-l", "ten"]),
            "sched/messaging: `--loop ten`: expected a whole number such as 1000"
        );
        assert_eq!(
            message(&["-l", "0"]),
            "sched/messaging: `--loop 0`: must be at least 1"
        );
        assert_eq!(
            message(&["--pipe=1"]),
            "sched/messaging: option `--pipe` takes no value"
        );
        assert!(message(&["extra"]).starts_with("sched/messaging: unexpected argument `extra`"));
        // `--t` could be --thread only; `--` alone names nothing.
        assert!(parse("t/t", DEFS, &args(&["--t"])).unwrap().flag("thread"));
        assert!(message(&["--"]).contains("unknown option `--`"));
    }

    #[test]
    fn ambiguous_prefix() {
        static TWO: &[OptionDef] = &[
            OptionDef::flag('s', "silent", ""),
            OptionDef::flag('S', "shared", ""),
        ];
        let err = parse("futex/hash", TWO, &args(&["--s"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "futex/hash: option `--s` is ambiguous: it could be --silent or --shared"
        );
    }

    #[test]
    fn usage_in_perf_layout() {
        assert_eq!(
            usage("strobe bench sched messaging", DEFS),
            "\n Usage: strobe bench sched messaging <options>\n\n\
             \x20   -l, --loop <n>        Specify number of loops\n\
             \x20   -p, --pipe            Use pipe() instead of socketpair()\n\
             \x20   -t, --thread          Be multi thread instead of multi process\n\
             \x20   -g, --group <n>       Specify number of groups\n\n"
        );
    }

    #[test]
    fn sizes_as_perf_atoll() {
        assert_eq!(parse_size("1MB"), Some(1 << 20));
        assert_eq!(parse_size("1mb"), Some(1 << 20));
        assert_eq!(parse_size("4KB"), Some(4096));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("100B"), Some(100));
        assert_eq!(parse_size("2GB"), Some(2 << 30));
        assert_eq!(parse_size("1TB"), Some(1 << 40));
        for bad in [
            "",
            "MB",
            "1XB",
            "1M",
            "-1KB",
            "0",
            "0MB",
            "99999999999TB",
            "1 MB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
