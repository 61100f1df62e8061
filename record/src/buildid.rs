//! Build-ids of ELF files, from their GNU build-id note.

use object::{Object, ObjectSection};
use std::fs::File;

/// The build-id of the ELF file at `path`, or `None` if it has none or
/// cannot be read (a vanished file, a pseudo-path like `[vdso]`).
pub fn read_build_id(path: &str) -> Option<Vec<u8>> {
    if !path.starts_with('/') {
        return None;
    }
    let file = File::open(path).ok()?;
    // SAFETY: the mapping is read-only and private; a file truncated under us
    // could fault, which is the same risk every ELF reader takes.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let elf = object::File::parse(&*map).ok()?;
    if let Ok(Some(id)) = elf.build_id() {
        return Some(id.to_vec());
    }
    // Some toolchains put the note in a section with another name.
    let section = elf.section_by_name(".note.gnu.build-id")?;
    let data = section.data().ok()?;
    // Note: namesz, descsz, type, "GNU\0", desc.
    let descsz = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?) as usize;
    data.get(16..16 + descsz).map(|d| d.to_vec())
}
