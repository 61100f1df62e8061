//! The output file of `record` and `trace`: an existing file is renamed to
//! FILE.old, but only once the recording can start, and put back if it
//! cannot.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

pub struct OutputFile {
    path: PathBuf,
    previous: PathBuf,
    created: Cell<bool>,
    renamed: Cell<bool>,
}

impl OutputFile {
    pub fn new(path: &Path) -> Self {
        let mut previous = path.to_path_buf().into_os_string();
        previous.push(".old");
        OutputFile {
            path: path.to_path_buf(),
            previous: PathBuf::from(previous),
            created: Cell::new(false),
            renamed: Cell::new(false),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames an existing file to FILE.old and creates FILE.
    pub fn create(&self) -> std::io::Result<File> {
        let output = &self.path;
        if output.exists() {
            std::fs::rename(output, &self.previous).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot rename {} to {}: {e}",
                        output.display(),
                        self.previous.display()
                    ),
                )
            })?;
            self.renamed.set(true);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(output)
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create {}: {e}", output.display()))
            })?;
        self.created.set(true);
        Ok(file)
    }

    /// Leaves things as they were before [`OutputFile::create`]: a recording
    /// that could not start removes its file and puts the old one back.
    pub fn restore(&self) {
        if self.created.get() {
            let _ = std::fs::remove_file(&self.path);
        }
        if self.renamed.get() {
            let _ = std::fs::rename(&self.previous, &self.path);
        }
    }
}
