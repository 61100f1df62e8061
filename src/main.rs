//! The `strobe` command. This is the only place that prints to stdout and
//! stderr and decides exit codes; the library crates return values and errors.

mod cli;
mod cmd_info;
mod cmd_record;
mod cmd_report;
mod signals;
mod units;

use clap::Parser;
use std::io::Write;

fn main() {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Record(args) => cmd_record::run(args),
        cli::Command::Report(args) => cmd_report::run(args),
        cli::Command::Info(args) => cmd_info::run(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`strobe info | head`) is not an error.
            let broken_pipe = err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
                    || e.downcast_ref::<serde_json::Error>()
                        .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
            });
            if broken_pipe {
                0
            } else {
                // Causes are appended unless a message already quotes them.
                let mut message = format!("strobe: {err}");
                for cause in err.chain().skip(1) {
                    let cause = cause.to_string();
                    if !message.contains(&cause) {
                        message.push_str(&format!(": {cause}"));
                    }
                }
                let _ = writeln!(std::io::stderr(), "{message}");
                1
            }
        }
    };
    std::process::exit(code);
}
