//! Where a job's outputs go, checked before anything is read: an output must not be one of
//! the job's inputs or its list of inputs (it would be overwritten with counts), nor
//! another output (one would replace the other).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{shown, Error, Result};
use crate::input::Input;
use crate::output::atomic::directory_of;

/// Checks `outputs` (flag, path) against each other, the `inputs` and their `list`.
/// Returns each input's size, where it could be read (they are read anyway), for progress.
pub fn check(
    outputs: &[(&'static str, &Path)],
    inputs: &[Input],
    list: Option<&Path>,
) -> Result<Vec<Option<u64>>> {
    for (i, &(first, a)) in outputs.iter().enumerate() {
        for &(second, b) in &outputs[i + 1..] {
            if same_destination(a, b) {
                return Err(Error::Usage(format!(
                    "{first} and {second} name the same file ({})",
                    shown(a)
                )));
            }
        }
    }
    // Outputs that exist as regular files, by identity: only those can be inputs.
    let existing: Vec<(&str, &Path, (u64, u64))> = outputs
        .iter()
        .filter_map(|&(flag, path)| {
            let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
            Some((flag, path, (meta.dev(), meta.ino())))
        })
        .collect();
    let mut ids = HashSet::new();
    let mut sizes = Vec::with_capacity(inputs.len());
    let paths = inputs.iter().map(|i| i.path.as_path()).chain(list);
    for (n, path) in paths.enumerate() {
        let meta = std::fs::metadata(path).ok();
        if n < inputs.len() {
            sizes.push(meta.as_ref().map(|m| m.len()));
        }
        if let Some(meta) = meta.filter(|_| !existing.is_empty()) {
            ids.insert((meta.dev(), meta.ino()));
        }
    }
    for (flag, path, id) in existing {
        if ids.contains(&id) {
            return Err(Error::Usage(format!(
                "{flag} {} is one of the inputs: it would be overwritten",
                shown(path)
            )));
        }
    }
    Ok(sizes)
}

/// Whether two output paths end up at the same file (an existing one by identity, a new
/// one by its directory's real path and its name).
fn same_destination(a: &Path, b: &Path) -> bool {
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    let resolved = |p: &Path| {
        let dir = std::fs::canonicalize(directory_of(p)).ok()?;
        Some((dir, p.file_name()?.to_owned()))
    };
    match (resolved(a), resolved(b)) {
        (Some(ra), Some(rb)) => ra == rb,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_new_file_by_two_spellings() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("out.tsv");
        let b = dir.path().join(".").join("out.tsv");
        assert!(same_destination(&a, &b));
        assert!(!same_destination(&a, &dir.path().join("other.tsv")));
    }
}
