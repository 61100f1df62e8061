//! `strobe probe`: dynamic probes in tracefs, as `perf probe` makes them.

use crate::cli::ProbeArgs;
use anyhow::{bail, Context, Result};
use std::io::Write;
use strobe_probe::dynamic::{self, Arch, ExistingProbe, ProbeDefinition, ProbeEvents};
use strobe_probe::tracefs::Tracefs;

pub fn run(args: ProbeArgs) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    let mut did = false;
    if let Some(setting) = &args.optimize {
        let on = setting == "on";
        dynamic::set_optimization(on)?;
        writeln!(out, "kprobe jump optimisation is {setting}")?;
        did = true;
    }
    if !args.del.is_empty() {
        let fs = Tracefs::open()?;
        let events = ProbeEvents::new(&fs);
        for glob in &args.del {
            let deleted = events.delete(glob)?;
            if deleted.is_empty() {
                bail!("no probe matches `{glob}`: `strobe probe --list` shows them");
            }
            for name in deleted {
                writeln!(out, "Removed event: {name}")?;
            }
        }
        did = true;
    }
    let (definition, probe_args) = match (&args.add, args.words.split_first()) {
        (Some(definition), _) => (Some(definition.clone()), args.words.clone()),
        (None, Some((definition, rest))) => (Some(definition.clone()), rest.to_vec()),
        (None, None) => (None, Vec::new()),
    };
    if let Some(definition) = definition {
        add(&args, &definition, &probe_args, &mut out)?;
        did = true;
    }
    if args.list {
        list(&args, &mut out)?;
        did = true;
    }
    if !did {
        bail!("nothing to do: give a probe definition (strobe probe FUNC), --list, --del GLOB or --optimize on|off; `strobe probe --help` has examples");
    }
    Ok(0)
}

fn add(
    args: &ProbeArgs,
    definition: &str,
    probe_args: &[String],
    out: &mut dyn Write,
) -> Result<()> {
    let arch = match &args.arch {
        Some(name) => Arch::from_machine(name).with_context(|| {
            format!("unknown architecture `{name}`: strobe knows x86_64, arm64 and powerpc64")
        })?,
        None => Arch::host()
            .context("strobe does not know this machine's registers; give --arch with --dry-run")?,
    };
    let binary = match &args.exec {
        Some(path) => Some(
            std::fs::canonicalize(path)
                .with_context(|| format!("cannot find {}", path.display()))?
                .to_string_lossy()
                .into_owned(),
        ),
        None => None,
    };
    let mut probe = ProbeDefinition::parse(definition, probe_args, binary.as_deref(), arch)?;
    dynamic::resolve(&mut probe)?;
    if args.dry_run {
        writeln!(out, "{}", probe.tracefs_line()?)?;
        return Ok(());
    }
    let fs = Tracefs::open()?;
    let added = ProbeEvents::new(&fs).add(&probe, args.force)?;
    let name = added.name();
    writeln!(out, "Added new event:")?;
    writeln!(out, "  {name:<20} (on {})", added.describe())?;
    writeln!(out)?;
    writeln!(out, "You can now use it in all strobe tools, such as:")?;
    writeln!(out)?;
    writeln!(out, "\tstrobe record -e {name} -a -- sleep 1")?;
    writeln!(out)?;
    Ok(())
}

fn list(args: &ProbeArgs, out: &mut dyn Write) -> Result<()> {
    let fs = Tracefs::open()?;
    let probes = ProbeEvents::new(&fs).list();
    // Only kernel probes have a state; a kernel without them has no list.
    let states = if probes.iter().any(|p| !p.user) {
        dynamic::kprobe_states().unwrap_or_default()
    } else {
        Vec::new()
    };
    let state = |probe: &ExistingProbe| -> Option<String> {
        let (symbol, offset) = probe.kernel_location()?;
        Some(
            dynamic::state_of(&states, probe.kind, &symbol, offset)
                .map(|s| s.state())
                .unwrap_or_else(|| "GONE".to_string()),
        )
    };
    if args.json {
        let values: Vec<serde_json::Value> = probes
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name(),
                    "kind": match (p.user, p.kind) {
                        (false, dynamic::ProbeKind::Entry) => "kprobe",
                        (false, dynamic::ProbeKind::Return) => "kretprobe",
                        (true, dynamic::ProbeKind::Entry) => "uprobe",
                        (true, dynamic::ProbeKind::Return) => "uretprobe",
                    },
                    "target": p.target,
                    "args": p.args,
                    "definition": p.line(),
                    "state": state(p),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &values)?;
        writeln!(out)?;
        return Ok(());
    }
    if let Some(on) = dynamic::optimization() {
        let setting = if on { "on" } else { "off" };
        writeln!(out, "# kprobe jump optimisation: {setting}")?;
    }
    for probe in &probes {
        let mut text = format!("  {:<28} (on {}", probe.name(), place(probe));
        if !probe.args.is_empty() {
            text.push_str(" with ");
            text.push_str(&probe.args.join(" "));
        }
        text.push(')');
        if let Some(state) = state(probe) {
            text.push_str(&format!("  [{state}]"));
        }
        writeln!(out, "{text}")?;
    }
    Ok(())
}

/// Where a probe is, as perf probe --list shows it: `FUNC+OFFS` or
/// `FUNC%return`, then `in BINARY` for a uprobe whose file still has the
/// function.
fn place(probe: &ExistingProbe) -> String {
    let (point, binary) = match probe.target.rsplit_once(':') {
        Some((path, offset)) if probe.user => {
            let function = u64::from_str_radix(offset.trim_start_matches("0x"), 16)
                .ok()
                .and_then(|offset| {
                    let data = std::fs::read(path).ok()?;
                    dynamic::elf::function_at(&data, offset)
                });
            match function {
                Some((name, 0)) => (name, Some(path)),
                Some((name, offset)) => (format!("{name}+{offset}"), Some(path)),
                None => (probe.target.clone(), None),
            }
        }
        _ => (probe.target.clone(), None),
    };
    let mut text = point;
    if probe.kind == dynamic::ProbeKind::Return {
        text.push_str("%return");
    }
    if let Some(path) = binary {
        text.push_str(" in ");
        text.push_str(path);
    }
    text
}
