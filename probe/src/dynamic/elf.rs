//! Where a function of an ELF file is, as the kernel's uprobes want it: an
//! offset in the file. Pure: it reads the bytes it is given.

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// Why a function could not be placed in a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElfError {
    /// The file is not an ELF file `object` can read.
    #[error("{path} is not an ELF executable or shared object: {reason}")]
    NotElf {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// No defined function of that name.
    #[error("{path} has no function `{function}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_else(|| "; its symbol table may be stripped".into()))]
    NoFunction {
        /// The file.
        path: String,
        /// The name given.
        function: String,
        /// The closest function name, if one is close.
        suggestion: Option<String>,
    },
    /// The address is in no loadable segment.
    #[error("{function} in {path} is at {address:#x}, which no loadable segment maps")]
    NotLoaded {
        /// The file.
        path: String,
        /// The function.
        function: String,
        /// Its address.
        address: u64,
    },
}

/// The file offset of `function + offset` in the ELF image `data` (read
/// from `path`, which only names it in errors). Symbols come from
/// `.symtab`, else `.dynsym`; the address maps to the file through the
/// loadable segment that holds it, which handles executables, PIE and
/// shared objects alike.
pub fn function_file_offset(
    data: &[u8],
    path: &str,
    function: &str,
    offset: u64,
) -> Result<u64, ElfError> {
    let file = object::File::parse(data).map_err(|e| ElfError::NotElf {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    let functions = || {
        file.symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
    };
    let symbol = functions()
        .find(|s| s.name() == Ok(function))
        .ok_or_else(|| ElfError::NoFunction {
            path: path.to_string(),
            function: function.to_string(),
            suggestion: crate::spec::closest(
                function,
                functions().filter_map(|s| s.name().ok().map(str::to_string)),
            ),
        })?;
    let address = symbol.address().wrapping_add(offset);
    file.segments()
        .find_map(|segment| {
            let (file_start, file_size) = segment.file_range();
            let start = segment.address();
            (address >= start && address - start < file_size)
                .then(|| file_start + (address - start))
        })
        .ok_or_else(|| ElfError::NotLoaded {
            path: path.to_string(),
            function: function.to_string(),
            address,
        })
}

/// The function that holds file offset `file_offset` of the ELF image
/// `data`, and how far into it that is: the inverse of
/// [`function_file_offset`], to show a uprobe as `FUNC+OFFS`.
pub fn function_at(data: &[u8], file_offset: u64) -> Option<(String, u64)> {
    let file = object::File::parse(data).ok()?;
    let address = file.segments().find_map(|segment| {
        let (file_start, file_size) = segment.file_range();
        (file_offset >= file_start && file_offset - file_start < file_size)
            .then(|| segment.address() + (file_offset - file_start))
    })?;
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
        .filter(|s| address >= s.address() && address - s.address() < s.size().max(1))
        .find_map(|s| Some((s.name().ok()?.to_string(), address - s.address())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_of_this_test_binary_resolve_and_misses_suggest() {
        let exe = std::env::current_exe().unwrap();
        let data = std::fs::read(&exe).unwrap();
        let path = exe.to_string_lossy();
        // `main` is in every executable and maps to its text.
        let at = function_file_offset(&data, &path, "main", 0).unwrap();
        assert!(at > 0 && (at as usize) < data.len());
        assert_eq!(
            function_file_offset(&data, &path, "main", 4).unwrap(),
            at + 4
        );
        assert_eq!(function_at(&data, at + 4), Some(("main".to_string(), 4)));
        let e = function_file_offset(&data, &path, "mainn", 0).unwrap_err();
        assert!(e.to_string().contains("did you mean `main`"), "{e}");
        let e = function_file_offset(b"not elf", "x", "main", 0).unwrap_err();
        assert!(matches!(e, ElfError::NotElf { .. }));
    }
}
