//! Write-then-rename file replacement.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `path` through `fill`. A regular file (or a new one) is replaced atomically:
/// either the whole new content is in place afterwards or the old file is untouched. A
/// symbolic link is followed, so the file it points to is replaced, not the link. Anything
/// else that exists — `/dev/null`, `/dev/stdout`, a FIFO — is written in place, since
/// renaming over it would destroy it.
pub fn write_atomically(
    what: &'static str,
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
) -> Result<()> {
    let err = |source| Error::Output {
        what,
        path: path.to_path_buf(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            let mut file = OpenOptions::new().write(true).open(path).map_err(err)?;
            let mut writer = BufWriter::with_capacity(1 << 20, &mut file);
            fill(&mut writer).map_err(err)?;
            return writer.flush().map_err(err);
        }
        _ => {}
    }
    let target = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path).map_err(err)?,
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.as_deref().unwrap_or("wetmr")))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    {
        let mut writer = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        fill(&mut writer).map_err(err)?;
        writer.flush().map_err(err)?;
    }
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&target).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_written_in_place_not_replaced() {
        let null = Path::new("/dev/null");
        if !null.exists() {
            eprintln!("SKIPPED: no /dev/null");
            return;
        }
        write_atomically("writing", null, |w| w.write_all(b"data")).unwrap();
        let meta = std::fs::metadata(null).unwrap();
        assert!(!meta.is_file(), "/dev/null must stay a device");
    }

    #[test]
    fn symlinks_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.tsv");
        let link = dir.path().join("link.tsv");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically("writing", &link, |w| w.write_all(b"new")).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tsv");
        std::fs::write(&path, "old").unwrap();
        let got = write_atomically("writing", &path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(got.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left"
        );
        write_atomically("writing", &path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }
}
