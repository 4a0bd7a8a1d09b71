//! `stratum admin key create|list|delete`: key file edits that are safe beside a running
//! server (the key file has its own writer lock; the metadata store is never opened).

use std::io::Write;

use anyhow::{bail, Context};

use crate::cli::{KeyCommand, Location};
use crate::keys::KeyFile;
use crate::serve::ACCESS_KEY_ENV;

fn key_file(location: &Location) -> anyhow::Result<(KeyFile, crate::config::Config)> {
    let config = location.load()?;
    Ok((KeyFile::new(&config.data_dir), config))
}

/// Runs one key command, writing its report to `out`.
pub fn key_command(command: &KeyCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            access_key,
            secret_key,
            location,
        } => {
            let (file, _) = key_file(location)?;
            let pair = match (access_key, secret_key) {
                (Some(a), Some(s)) => Some((a.clone(), s.clone())),
                (None, None) => None,
                _ => bail!("give both --access-key and --secret-key, or neither"),
            };
            let entry = file
                .create(pair)
                .with_context(|| format!("adding a key to {}", file.path().display()))?;
            writeln!(out, "access key: {}", entry.access_key)?;
            writeln!(out, "secret key: {}", entry.secret_key)?;
        }
        KeyCommand::List { location } => {
            let (file, config) = key_file(location)?;
            let keys = file
                .read()
                .with_context(|| format!("reading {}", file.path().display()))?;
            writeln!(out, "{:<24} {:<22} ROOT", "ACCESS KEY", "CREATED")?;
            for k in &keys {
                let root = if k.root { "yes" } else { "" };
                writeln!(
                    out,
                    "{:<24} {:<22} {root}",
                    k.access_key,
                    k.created_rfc3339()
                )?;
            }
            // In-memory root keys are not in the file; say where the root key comes from.
            if let Ok(ak) = std::env::var(ACCESS_KEY_ENV) {
                if !ak.is_empty() {
                    writeln!(out, "{ak:<24} {:<22} yes (from {ACCESS_KEY_ENV})", "-")?;
                }
            } else if let Some(c) = &config.credentials {
                writeln!(
                    out,
                    "{:<24} {:<22} yes (from the config file)",
                    c.access_key, "-"
                )?;
            }
        }
        KeyCommand::Delete {
            access_key,
            location,
        } => {
            let (file, _) = key_file(location)?;
            match file
                .delete(access_key)
                .with_context(|| format!("updating {}", file.path().display()))?
            {
                Some(entry) => {
                    writeln!(out, "deleted access key {}", entry.access_key)?;
                    if entry.root {
                        writeln!(
                            out,
                            "note: that was the stored root key; the next start without \
                             {ACCESS_KEY_ENV} or [credentials] generates a new one"
                        )?;
                    }
                }
                None => bail!("no access key {access_key} in {}", file.path().display()),
            }
        }
    }
    Ok(())
}
