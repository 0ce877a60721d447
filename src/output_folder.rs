//! Which database an output folder belongs to, so that two databases never write into the
//! same folder (their invoice files would overwrite each other).
//!
//! Both sides keep the record:
//! - the database records the folder it writes into (`output_owner`, claimed by its first job
//!   run, under a random identity);
//! - the folder has an owner mark beside it, `.<folder name>.subsweep-owner`, naming that
//!   identity and the database (never a password). It sits beside the folder, not in it, so
//!   the folder holds only what the jobs write.
//!
//! A job refuses to run (exit 78) when the folder's mark names another database, or when this
//! database already writes into another folder that still exists. A folder whose old path is
//! gone was moved: the claim follows it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use diesel::{Connection, PgConnection};
use serde::Deserialize;

use crate::config::{Config, ConfigError};
use crate::error::{Error, Result};
use crate::store::output_owner;

/// The owner mark of a folder, as written beside it.
#[derive(Debug, Deserialize)]
struct Mark {
    database_id: String,
    database: String,
}

/// The path of the owner mark of `folder`.
pub fn mark_path(folder: &Path) -> PathBuf {
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    let parent = folder.parent().unwrap_or(folder);
    parent.join(format!(".{name}.subsweep-owner"))
}

/// Makes sure the configured output folder is this database's, claiming it on first use.
/// `database` describes the database for the mark and for messages (no password).
pub fn claim(conn: &mut PgConnection, config: &Config, database: &str) -> Result<()> {
    fs::create_dir_all(&config.output_dir).map_err(|e| {
        Error::Other(format!(
            "cannot create the output folder {}: {e}",
            config.output_dir.display()
        ))
    })?;
    let folder = fs::canonicalize(&config.output_dir)?;
    let folder_text = folder.to_string_lossy().into_owned();
    conn.transaction::<_, Error, _>(|conn| {
        let owner = match output_owner::get_for_update(conn)? {
            Some(owner) => owner,
            None => {
                if let Some(mark) = read_mark(&folder)? {
                    return Err(refuse(config, &folder, &mark.database, database));
                }
                output_owner::claim(conn, &folder_text)?
            }
        };
        match read_mark(&folder)? {
            Some(mark) if mark.database_id != owner.database_id => {
                return Err(refuse(config, &folder, &mark.database, database));
            }
            Some(_) => {}
            None => {
                if owner.output_dir != folder_text && Path::new(&owner.output_dir).exists() {
                    return Err(Error::Config(ConfigError::Invalid {
                        path: config.path.clone(),
                        message: format!(
                            "[output] dir is {}, but database {database} writes its files into \
                             {}: point [output] dir there (to move the folder, move it so the \
                             old path no longer exists)",
                            folder.display(),
                            owner.output_dir
                        ),
                    }));
                }
                write_mark(&folder, &owner.database_id, database)?;
                // The mark was written here first (create_new); a process that raced for the
                // folder with another database fails just above on its next run.
                if let Some(mark) = read_mark(&folder)?
                    && mark.database_id != owner.database_id
                {
                    return Err(refuse(config, &folder, &mark.database, database));
                }
            }
        }
        if owner.output_dir != folder_text {
            tracing::warn!(
                from = %owner.output_dir,
                to = %folder.display(),
                "the output folder moved; this database now writes there"
            );
            let _ = fs::remove_file(mark_path(Path::new(&owner.output_dir)));
            output_owner::move_to(conn, &folder_text)?;
        }
        Ok(())
    })
}

fn refuse(config: &Config, folder: &Path, owner: &str, database: &str) -> Error {
    Error::Config(ConfigError::Invalid {
        path: config.path.clone(),
        message: format!(
            "the output folder {} belongs to database {owner} (see {}); database {database} \
             refuses to write into it: give this database its own [output] dir, or run with \
             the database that owns the folder",
            folder.display(),
            mark_path(folder).display()
        ),
    })
}

fn read_mark(folder: &Path) -> Result<Option<Mark>> {
    let path = mark_path(folder);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Other(format!(
                "cannot read the output folder's owner mark {}: {e}",
                path.display()
            )));
        }
    };
    toml::from_str(&text).map(Some).map_err(|e| {
        Error::Other(format!(
            "the output folder's owner mark {} is unreadable ({e}); it says which database \
             writes into {}: restore it, or delete it if only one database ever used the folder",
            path.display(),
            folder.display()
        ))
    })
}

fn write_mark(folder: &Path, database_id: &str, database: &str) -> Result<()> {
    let path = mark_path(folder);
    let text = format!(
        "# Written by subsweep: the output folder {} belongs to one database; any other\n\
         # database refuses to write into it.\n\
         database_id = {}\n\
         database = {}\n",
        folder.display(),
        toml_string(database_id),
        toml_string(database)
    );
    let file = fs::File::options().write(true).create_new(true).open(&path);
    match file {
        Ok(mut file) => file
            .write_all(text.as_bytes())
            .map_err(|e| Error::Other(format!("cannot write owner mark {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Other(format!(
            "cannot write the output folder's owner mark {}: {e}",
            path.display()
        ))),
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_sits_beside_the_folder() {
        assert_eq!(
            mark_path(Path::new("/srv/subsweep/out")),
            Path::new("/srv/subsweep/.out.subsweep-owner")
        );
    }
}
