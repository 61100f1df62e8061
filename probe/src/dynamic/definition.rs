//! Dynamic probe definitions in perf probe's syntax, and their tracefs form.
//!
//! `[[GROUP:]EVENT=]FUNC[+OFFS|%return] [ARG...]`, each ARG
//! `[NAME=]FETCH[:TYPE]` with FETCH one of `%REG`, `+OFFS(FETCH)`,
//! `-OFFS(FETCH)`, `$retval`, `$argN`, `$stackN`, `$stack`, `$comm`,
//! `@SYMBOL[+OFFS]`, and TYPE one of `u8..u64`, `s8..s64`, `x8..x64`,
//! `string`, `ustring`, `symbol`. This module is pure: it parses and
//! renders, and the caller resolves uprobe targets in the ELF file
//! ([`super::elf`]) and writes tracefs ([`super::ProbeEvents`]).

use std::fmt;

/// The architectures whose register names strobe knows, so that a
/// definition for any of them is checked and written as its kernel wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86-64: `%ax` .. `%r15`, arguments in di, si, dx, cx, r8, r9.
    X86_64,
    /// arm64: `%x0` .. `%x30`, arguments in x0 .. x7.
    Arm64,
    /// 64-bit POWER: `%r0`/`%gpr0` .. `%r31`, arguments in r3 .. r10.
    Powerpc64,
}

const X86_64_REGISTERS: &[&str] = &[
    "ax", "bx", "cx", "dx", "si", "di", "bp", "sp", "ip", "flags", "cs", "ss", "ds", "es", "fs",
    "gs", "orig_ax", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
];

impl Arch {
    /// The architecture of a `uname -m` machine name.
    pub fn from_machine(machine: &str) -> Option<Arch> {
        match machine {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Arm64),
            "ppc64" | "ppc64le" | "powerpc64" | "powerpc64le" => Some(Arch::Powerpc64),
            _ => None,
        }
    }

    /// The architecture strobe was built for.
    pub fn host() -> Option<Arch> {
        Arch::from_machine(std::env::consts::ARCH)
    }

    /// The kernel's name for a register, accepting the usual aliases
    /// (`rdi` for `di`, `gpr3` for `r3`), or `None` if there is no such
    /// register.
    pub fn register(self, name: &str) -> Option<String> {
        match self {
            Arch::X86_64 => {
                let name = name.to_ascii_lowercase();
                // %rax, %rdi, %rip, %eflags are what a disassembler shows.
                let kernel = match name.as_str() {
                    "rflags" | "eflags" => "flags".to_string(),
                    n if n.len() == 3
                        && n.starts_with('r')
                        && !n[1..].starts_with(['1', '8', '9']) =>
                    {
                        n[1..].to_string()
                    }
                    n => n.to_string(),
                };
                X86_64_REGISTERS
                    .contains(&kernel.as_str())
                    .then_some(kernel)
            }
            Arch::Arm64 => {
                let name = name.to_ascii_lowercase();
                if matches!(name.as_str(), "sp" | "pc" | "pstate") {
                    return Some(name);
                }
                let number: u32 = name.strip_prefix('x')?.parse().ok()?;
                (number <= 30).then_some(name)
            }
            Arch::Powerpc64 => {
                let name = name.to_ascii_lowercase();
                const SPECIAL: &[&str] = &[
                    "nip",
                    "msr",
                    "orig_gpr3",
                    "ctr",
                    "link",
                    "xer",
                    "ccr",
                    "softe",
                    "trap",
                    "dar",
                    "dsisr",
                ];
                if SPECIAL.contains(&name.as_str()) {
                    return Some(name);
                }
                let digits = name
                    .strip_prefix("gpr")
                    .or_else(|| name.strip_prefix('r'))?;
                let number: u32 = digits.parse().ok()?;
                (number <= 31).then(|| format!("r{number}"))
            }
        }
    }

    /// The register that holds integer argument `n` (from 1) at a
    /// function's entry, by the ABI.
    pub fn argument_register(self, n: u32) -> Option<&'static str> {
        let registers: &[&str] = match self {
            Arch::X86_64 => &["di", "si", "dx", "cx", "r8", "r9"],
            Arch::Arm64 => &["x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"],
            Arch::Powerpc64 => &["r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10"],
        };
        registers.get((n as usize).checked_sub(1)?).copied()
    }

    fn register_examples(self) -> &'static str {
        match self {
            Arch::X86_64 => "%ax %bx %cx %dx %si %di %bp %sp %ip %r8..%r15",
            Arch::Arm64 => "%x0..%x30 %sp %pc %pstate",
            Arch::Powerpc64 => "%r0..%r31 (or %gpr0..) %nip %msr %ctr %link",
        }
    }
}

/// Where a probe goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A kernel function (or any kernel symbol), plus a byte offset.
    Kernel {
        /// The symbol, optionally `MODULE:SYMBOL`.
        symbol: String,
        /// Bytes past the symbol.
        offset: u64,
    },
    /// A function of an executable or shared object, resolved to an offset
    /// in the file, which is what the kernel's uprobes take.
    User {
        /// The file's absolute path.
        path: String,
        /// The function's name, as given.
        function: String,
        /// Bytes past the function, as given.
        offset: u64,
        /// The file offset of the probed instruction, once resolved.
        file_offset: Option<u64>,
    },
}

/// A probe's type: whether it fires on entry or on return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// `p:`: the probed instruction is about to run.
    Entry,
    /// `r:` (`FUNC%return`): the function returns.
    Return,
}

/// One argument to fetch when the probe hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeArg {
    /// `NAME=`, if given; the kernel names the others `argN`.
    pub name: Option<String>,
    /// What to fetch, in the kernel's syntax (registers already renamed).
    pub fetch: String,
    /// `:TYPE`, if given.
    pub type_: Option<String>,
}

impl fmt::Display for ProbeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.name {
            write!(f, "{name}=")?;
        }
        f.write_str(&self.fetch)?;
        if let Some(type_) = &self.type_ {
            write!(f, ":{type_}")?;
        }
        Ok(())
    }
}

/// A parsed probe definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeDefinition {
    /// The event's group (tracepoint system): `probe` for kernel probes,
    /// `probe_BINARY` for user ones, unless given.
    pub group: String,
    /// The event's name: the function's, with `__return` for a return
    /// probe, unless given.
    pub event: String,
    /// Entry or return.
    pub kind: ProbeKind,
    /// Where it goes.
    pub location: Location,
    /// What it fetches.
    pub args: Vec<ProbeArg>,
}

/// Why a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefinitionError {
    /// Something in the definition is malformed; the message says what.
    #[error("bad probe definition `{definition}`: {reason}")]
    Syntax {
        /// The definition, or the argument at fault.
        definition: String,
        /// What is wrong and how to write it.
        reason: String,
    },
}

fn syntax(definition: &str, reason: impl Into<String>) -> DefinitionError {
    DefinitionError::Syntax {
        definition: definition.to_string(),
        reason: reason.into(),
    }
}

const TYPES: &[&str] = &[
    "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "x8", "x16", "x32", "x64", "string",
    "ustring", "symbol",
];

/// Whether `name` is a valid tracefs event or group name.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Makes a name valid for tracefs, as perf does: every other character
/// becomes `_`, and a leading digit gets one before it.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

/// perf's group for probes on a file: `probe_` and the file's name up to
/// its first `-` or `.` (`libc.so.6` gives `probe_libc`).
pub fn user_group(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split(['-', '.']).next().unwrap_or(base);
    format!("probe_{}", sanitize(stem).trim_start_matches('_'))
}

/// Parses a number as the kernel's probe syntax writes them: decimal or
/// `0x` hexadecimal.
fn parse_offset(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

impl ProbeDefinition {
    /// Parses a definition and its arguments. `binary` is the `-x` file for
    /// a uprobe (already made absolute), `None` for a kernel probe; `arch`
    /// checks and renames registers.
    pub fn parse(
        definition: &str,
        args: &[String],
        binary: Option<&str>,
        arch: Arch,
    ) -> Result<ProbeDefinition, DefinitionError> {
        let definition = definition.trim();
        // `perf probe 'func arg1 arg2'` takes the arguments in one word too.
        let mut words = definition.split_whitespace();
        let head = words.next().ok_or_else(|| {
            syntax(
                definition,
                "it is empty; write FUNC, FUNC+OFFS or FUNC%return",
            )
        })?;
        let all_args: Vec<String> = words
            .map(str::to_string)
            .chain(args.iter().cloned())
            .collect();

        let (names, target) = match head.split_once('=') {
            Some((names, target)) => (Some(names), target),
            None => (None, head),
        };
        if target.contains(['@', ':']) {
            return Err(syntax(
                definition,
                "source files and lines (FUNC@FILE, FUNC:LINE) need debug information strobe does not read; use FUNC or FUNC+OFFS",
            ));
        }
        let (target, kind) = match target.strip_suffix("%return") {
            Some(function) => (function, ProbeKind::Return),
            None if target.contains('%') => {
                return Err(syntax(definition, "the only `%` suffix is %return"))
            }
            None => (target, ProbeKind::Entry),
        };
        let (function, offset) = match target.split_once('+') {
            Some((function, offset)) => {
                let offset = parse_offset(offset).ok_or_else(|| {
                    syntax(
                        definition,
                        format!("`{offset}` is not an offset (decimal or 0x hex)"),
                    )
                })?;
                (function, offset)
            }
            None => (target, 0),
        };
        if function.is_empty() {
            return Err(syntax(
                definition,
                "no function named; write FUNC, FUNC+OFFS or FUNC%return",
            ));
        }
        if kind == ProbeKind::Return && offset != 0 {
            return Err(syntax(
                definition,
                "a return probe goes on a function, not on FUNC+OFFS",
            ));
        }

        let default_group = match binary {
            Some(path) => user_group(path),
            None => "probe".to_string(),
        };
        let default_event = {
            let base = sanitize(function);
            match kind {
                ProbeKind::Entry => base,
                ProbeKind::Return => format!("{base}__return"),
            }
        };
        let (group, event) = match names {
            None => (default_group, default_event),
            Some(names) => {
                let (group, event) = match names.split_once(':') {
                    Some((group, event)) => (group.to_string(), event.to_string()),
                    None => (default_group, names.to_string()),
                };
                for name in [&group, &event] {
                    if !valid_name(name) {
                        return Err(syntax(
                            definition,
                            format!("`{name}` is not a valid group or event name (letters, digits and _, not starting with a digit)"),
                        ));
                    }
                }
                (group, event)
            }
        };

        let location = match binary {
            Some(path) => Location::User {
                path: path.to_string(),
                function: function.to_string(),
                offset,
                file_offset: None,
            },
            None => Location::Kernel {
                symbol: function.to_string(),
                offset,
            },
        };
        let user = binary.is_some();
        let args = all_args
            .iter()
            .map(|arg| parse_arg(arg, kind, user, arch))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProbeDefinition {
            group,
            event,
            kind,
            location,
            args,
        })
    }

    /// `GROUP:EVENT`, as the event is named in `-e` lists.
    pub fn name(&self) -> String {
        format!("{}:{}", self.group, self.event)
    }

    /// Whether this is a uprobe.
    pub fn is_user(&self) -> bool {
        matches!(self.location, Location::User { .. })
    }

    /// The line to write to `kprobe_events` or `uprobe_events`. A uprobe
    /// must have been resolved (its `file_offset` set) first.
    pub fn tracefs_line(&self) -> Result<String, DefinitionError> {
        let letter = match self.kind {
            ProbeKind::Entry => 'p',
            ProbeKind::Return => 'r',
        };
        let mut line = format!("{letter}:{}/{} ", self.group, self.event);
        match &self.location {
            Location::Kernel { symbol, offset } => {
                line.push_str(symbol);
                if *offset != 0 {
                    line.push_str(&format!("+{offset}"));
                }
            }
            Location::User {
                path,
                function,
                file_offset,
                ..
            } => {
                let file_offset = file_offset.ok_or_else(|| {
                    syntax(function, "the function's place in the file is not resolved")
                })?;
                line.push_str(&format!("{path}:{file_offset:#x}"));
            }
        }
        for arg in &self.args {
            line.push(' ');
            line.push_str(&arg.to_string());
        }
        Ok(line)
    }

    /// How perf probe describes the probe: `hot%return in /bin/x with $retval`.
    pub fn describe(&self) -> String {
        let mut text = match &self.location {
            Location::Kernel { symbol, offset } => probe_point(symbol, *offset, self.kind),
            Location::User {
                path,
                function,
                offset,
                ..
            } => format!("{} in {path}", probe_point(function, *offset, self.kind)),
        };
        if !self.args.is_empty() {
            text.push_str(" with");
            for arg in &self.args {
                text.push(' ');
                text.push_str(&arg.to_string());
            }
        }
        text
    }
}

fn probe_point(function: &str, offset: u64, kind: ProbeKind) -> String {
    match (kind, offset) {
        (ProbeKind::Return, _) => format!("{function}%return"),
        (ProbeKind::Entry, 0) => function.to_string(),
        (ProbeKind::Entry, offset) => format!("{function}+{offset}"),
    }
}

/// One `[NAME=]FETCH[:TYPE]` argument.
fn parse_arg(
    text: &str,
    kind: ProbeKind,
    user: bool,
    arch: Arch,
) -> Result<ProbeArg, DefinitionError> {
    let (name, rest) = match text.split_once('=') {
        // `=` inside a fetch never happens, so the first one names the arg.
        Some((name, rest)) => {
            if !valid_name(name) {
                return Err(syntax(
                    text,
                    format!("`{name}` is not a valid argument name"),
                ));
            }
            (Some(name.to_string()), rest)
        }
        None => (None, text),
    };
    // The type follows the last colon, outside any parentheses.
    let (fetch, type_) = match rest.rsplit_once(':') {
        Some((fetch, type_)) if !type_.contains(')') => (fetch, Some(type_.to_string())),
        _ => (rest, None),
    };
    if let Some(type_) = &type_ {
        let base = type_.split('[').next().unwrap_or(type_);
        if !TYPES.contains(&base) {
            return Err(syntax(
                text,
                format!("unknown type `{type_}`; types are {}", TYPES.join(" ")),
            ));
        }
    }
    let fetch = parse_fetch(text, fetch, kind, user, arch)?;
    Ok(ProbeArg { name, fetch, type_ })
}

/// A fetch expression, with registers renamed for the kernel.
fn parse_fetch(
    arg: &str,
    fetch: &str,
    kind: ProbeKind,
    user: bool,
    arch: Arch,
) -> Result<String, DefinitionError> {
    if let Some(register) = fetch.strip_prefix('%') {
        return arch
            .register(register)
            .map(|r| format!("%{r}"))
            .ok_or_else(|| {
                syntax(
                    arg,
                    format!(
                        "`%{register}` is not a register of this architecture; registers are {}",
                        arch.register_examples()
                    ),
                )
            });
    }
    if fetch.starts_with(['+', '-']) {
        // +OFFS(FETCH) or -OFFS(FETCH), nestable.
        let open = fetch
            .find('(')
            .ok_or_else(|| syntax(arg, "a memory fetch is +OFFS(FETCH), such as +8(%di)"))?;
        let inner = fetch[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| syntax(arg, "unbalanced parentheses"))?;
        let offset = &fetch[1..open];
        if parse_offset(offset).is_none() {
            return Err(syntax(arg, format!("`{offset}` is not an offset")));
        }
        let inner = parse_fetch(arg, inner, kind, user, arch)?;
        return Ok(format!("{}{offset}({inner})", &fetch[..1]));
    }
    if let Some(variable) = fetch.strip_prefix('$') {
        return match variable {
            "retval" if kind == ProbeKind::Return => Ok(fetch.to_string()),
            "retval" => Err(syntax(
                arg,
                "$retval is only there for return probes (FUNC%return)",
            )),
            "stack" | "comm" => Ok(fetch.to_string()),
            v if v
                .strip_prefix("stack")
                .is_some_and(|n| n.parse::<u32>().is_ok()) =>
            {
                Ok(fetch.to_string())
            }
            v if v
                .strip_prefix("arg")
                .is_some_and(|n| n.parse::<u32>().is_ok()) =>
            {
                let n: u32 = v["arg".len()..].parse().unwrap_or(0);
                if kind == ProbeKind::Return {
                    return Err(syntax(
                        arg,
                        "function arguments ($argN) are fetched at entry, not on return",
                    ));
                }
                if user {
                    // uprobes have no $argN: take the ABI's register.
                    arch.argument_register(n)
                        .map(|r| format!("%{r}"))
                        .ok_or_else(|| {
                            syntax(
                                arg,
                                format!(
                                    "argument {n} is not passed in a register on this architecture"
                                ),
                            )
                        })
                } else if n == 0 {
                    Err(syntax(arg, "arguments count from $arg1"))
                } else {
                    Ok(fetch.to_string())
                }
            }
            _ => Err(syntax(
                arg,
                "variables are $retval, $argN, $stack, $stackN and $comm",
            )),
        };
    }
    if let Some(symbol) = fetch.strip_prefix('@') {
        if symbol.is_empty() {
            return Err(syntax(arg, "@ needs a symbol or an address"));
        }
        return Ok(fetch.to_string());
    }
    Err(syntax(
        arg,
        "an argument is %REG, +OFFS(%REG), $retval, $argN or @SYMBOL, with an optional :TYPE",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(def: &str, args: &[&str]) -> Result<ProbeDefinition, DefinitionError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        ProbeDefinition::parse(def, &args, None, Arch::X86_64)
    }

    #[test]
    fn kernel_probes_render_as_the_kernel_takes_them() {
        let d = kernel(
            "do_sys_openat2",
            &["dfd=%di:s32", "filename=+0(%si):string"],
        )
        .unwrap();
        assert_eq!(d.name(), "probe:do_sys_openat2");
        assert_eq!(
            d.tracefs_line().unwrap(),
            "p:probe/do_sys_openat2 do_sys_openat2 dfd=%di:s32 filename=+0(%si):string"
        );
        let r = kernel("do_sys_openat2%return", &["$retval"]).unwrap();
        assert_eq!(r.event, "do_sys_openat2__return");
        assert_eq!(
            r.tracefs_line().unwrap(),
            "r:probe/do_sys_openat2__return do_sys_openat2 $retval"
        );
        let o = kernel("my:opt=ksys_read+0x10", &[]).unwrap();
        assert_eq!(o.tracefs_line().unwrap(), "p:my/opt ksys_read+16");
        let one_word = kernel("vfs_read %di %si:x64", &[]).unwrap();
        assert_eq!(one_word.args.len(), 2);
        assert_eq!(kernel("f", &["%rdi"]).unwrap().args[0].fetch, "%di");
        assert_eq!(kernel("f", &["$arg2"]).unwrap().args[0].fetch, "$arg2");
    }

    #[test]
    fn user_probes_take_perfs_group_and_the_file_offset() {
        let mut d = ProbeDefinition::parse(
            "hot%return",
            &["$retval".into()],
            Some("/tmp/my-prog.x"),
            Arch::X86_64,
        )
        .unwrap();
        assert_eq!(d.name(), "probe_my:hot__return");
        assert!(d.tracefs_line().is_err(), "unresolved");
        if let Location::User { file_offset, .. } = &mut d.location {
            *file_offset = Some(0x11b0);
        }
        assert_eq!(
            d.tracefs_line().unwrap(),
            "r:probe_my/hot__return /tmp/my-prog.x:0x11b0 $retval"
        );
        assert_eq!(
            user_group("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            "probe_libc"
        );
        assert_eq!(user_group("/tmp/uprobed_pie"), "probe_uprobed_pie");
        // uprobes have no $argN: the ABI's registers stand in.
        let a = ProbeDefinition::parse(
            "f",
            &["$arg1".into(), "$arg6".into()],
            Some("/x"),
            Arch::X86_64,
        )
        .unwrap();
        assert_eq!(a.args[0].fetch, "%di");
        assert_eq!(a.args[1].fetch, "%r9");
    }

    #[test]
    fn registers_of_each_architecture() {
        assert_eq!(Arch::X86_64.register("rax").as_deref(), Some("ax"));
        assert_eq!(Arch::X86_64.register("r12").as_deref(), Some("r12"));
        assert_eq!(Arch::X86_64.register("x0"), None);
        assert_eq!(Arch::Arm64.register("x30").as_deref(), Some("x30"));
        assert_eq!(Arch::Arm64.register("x31"), None);
        assert_eq!(Arch::Arm64.register("di"), None);
        assert_eq!(Arch::Powerpc64.register("gpr3").as_deref(), Some("r3"));
        assert_eq!(Arch::Powerpc64.register("nip").as_deref(), Some("nip"));
        let arm = ProbeDefinition::parse(
            "do_sys_openat2",
            &["dfd=%x0:s32".into(), "name=+0(%x1):string".into()],
            None,
            Arch::Arm64,
        )
        .unwrap();
        assert_eq!(
            arm.tracefs_line().unwrap(),
            "p:probe/do_sys_openat2 do_sys_openat2 dfd=%x0:s32 name=+0(%x1):string"
        );
        let ppc = ProbeDefinition::parse("f", &["$arg2".into()], Some("/bin/x"), Arch::Powerpc64)
            .unwrap();
        assert_eq!(ppc.args[0].fetch, "%r4");
        assert_eq!(Arch::from_machine("aarch64"), Some(Arch::Arm64));
        assert_eq!(Arch::from_machine("ppc64le"), Some(Arch::Powerpc64));
    }

    #[test]
    fn bad_definitions_say_what_to_write() {
        for (def, args, needle) in [
            ("", &[][..], "empty"),
            ("f+zz", &[], "not an offset"),
            ("f+4%return", &[], "return probe"),
            ("f%entry", &[], "%return"),
            ("f:12", &[], "debug information"),
            ("f@a.c", &[], "debug information"),
            ("1bad=f", &[], "valid group or event"),
            ("f", &["%zz"], "not a register"),
            ("f", &["$retval"], "return probes"),
            ("f%return", &["$arg1"], "at entry"),
            ("f", &["x=%di:u7"], "unknown type"),
            ("f", &["+8%di"], "+OFFS(FETCH)"),
            ("f", &["+8(%di"], "parentheses"),
            ("f", &["$foo"], "variables are"),
            ("f", &["di"], "an argument is"),
        ] {
            let e = kernel(def, args).unwrap_err().to_string();
            assert!(e.contains(needle), "{def} {args:?}: {e}");
        }
    }
}
