//! `wetmr keygen`: a new cluster secret (see [`crate::net::auth`]), written to a new file
//! or to standard output. Either way a file that receives it is left readable by its owner
//! only, since the workers refuse any other.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::net::auth::Secret;

/// Writes a new secret to `output` (a new file, mode 0600) or to standard output.
pub fn keygen(output: Option<&Path>) -> Result<()> {
    let secret = Secret::generate().map_err(|e| Error::Resources(format!("keygen: {e}")))?;
    let text = secret.to_hex();
    match output {
        Some(path) => {
            let fail = |source| Error::Output {
                what: "cannot write the key to",
                path: path.to_path_buf(),
                source,
            };
            // A new file only: overwriting a key would lock its cluster out.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(fail)?;
            file.write_all(text.as_bytes()).map_err(fail)?;
            file.sync_all().map_err(fail)
        }
        None => {
            let stdout = std::io::stdout();
            // Redirected to a file (`> cluster.key`), whose mode the shell chose: make it
            // private before the key is in it.
            let file =
                std::fs::File::from(stdout.as_fd().try_clone_to_owned().map_err(Error::Stdout)?);
            if file.metadata().is_ok_and(|m| m.is_file()) {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(Error::Stdout)?;
            }
            let mut out = stdout.lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(Error::Stdout)
        }
    }
}
