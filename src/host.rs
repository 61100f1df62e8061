//! The machine strobe runs on, as results files name it.

use strobe_analyze::results::Host;
use strobe_record::format::SessionMeta;

/// This machine: host name, kernel, architecture, CPU model, online CPUs
/// and this strobe's version.
pub fn current() -> Host {
    let mut meta = SessionMeta::default();
    strobe_record::procfs::describe_host(&mut meta);
    Host {
        hostname: meta.hostname,
        kernel: meta.kernel_release,
        arch: meta.arch,
        cpu_model: meta.cpu_model,
        cpus: strobe_probe::CpuList::online()
            .map(|c| c.as_slice().len() as u32)
            .unwrap_or(0),
        strobe_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}
