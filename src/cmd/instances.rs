//! `--instances FILE`: the GREEN-API instances a run sends from, a CSV line each
//! (docs/instances.md): `apiUrl,idInstance,apiTokenInstance`, and optionally `name` and
//! `rate`. A token may be `env:NAME`, read from that environment variable, so the file holds
//! no secret; a file that does hold one must be readable by its owner alone, as ssh asks of
//! a private key. No message repeats a token.

use std::path::Path;

use crate::client::{Credentials, Names};
use crate::send::{ApiInstance, Rate};
use crate::term::{shown, shown_path};

/// The columns a file must have, and those it may.
const REQUIRED: [&str; 3] = ["apiUrl", "idInstance", "apiTokenInstance"];
const OPTIONAL: [&str; 2] = ["name", "rate"];

/// The largest instances file read: 100 instances take a few kilobytes.
const MOST_BYTES: u64 = 1 << 20;

/// The most instances one run sends from.
const MOST: usize = crate::sandbox::MOST_INSTANCES;

/// Reads the instances file at `path`, each instance's calls shared through `state_dir`.
pub(crate) fn read(path: &Path, state_dir: &Path) -> Result<Vec<ApiInstance>, String> {
    let shown_file = shown_path(path);
    let unreadable = |e: std::io::Error| format!("cannot read --instances {shown_file}: {e}");
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(format!(
            "--instances {shown_file} is not a file; give the CSV file that lists the instances"
        ));
    }
    if meta.len() > MOST_BYTES {
        return Err(format!(
            "--instances {shown_file} is {} bytes; a file of instances is a few lines (at most \
             {MOST_BYTES} bytes)",
            meta.len()
        ));
    }
    let text = std::fs::read(path).map_err(unreadable)?;
    let text = String::from_utf8(text).map_err(|_| {
        format!("--instances {shown_file} is not UTF-8 text; save it as UTF-8 (CSV)")
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("--instances {shown_file}: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name);
    let missing: Vec<&str> = REQUIRED.into_iter().filter(|c| at(c).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "--instances {shown_file}: its header lacks {}; the first line is \
             apiUrl,idInstance,apiTokenInstance (and optionally name,rate), then one instance \
             a line",
            missing.join(", ")
        ));
    }
    if let Some(twice) = header
        .iter()
        .enumerate()
        .find(|(i, h)| header[..*i].contains(h))
        .map(|(_, h)| h)
    {
        return Err(format!(
            "--instances {shown_file}: the column '{}' is there twice; keep one",
            shown(twice)
        ));
    }
    if let Some(odd) = header
        .iter()
        .find(|h| !REQUIRED.contains(&h.as_str()) && !OPTIONAL.contains(&h.as_str()))
    {
        return Err(format!(
            "--instances {shown_file}: unknown column '{}'; the columns are apiUrl, idInstance, \
             apiTokenInstance, name and rate",
            shown(odd)
        ));
    }
    let (url_at, id_at, token_at) = (
        at("apiUrl").expect("checked"),
        at("idInstance").expect("checked"),
        at("apiTokenInstance").expect("checked"),
    );
    let (name_at, rate_at) = (at("name"), at("rate"));
    let mut instances: Vec<(u64, ApiInstance)> = Vec::new();
    let mut holds_token = false;
    for record in reader.records() {
        let record = record.map_err(|e| format!("--instances {shown_file}: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        let place = format!("--instances {shown_file}, line {line}");
        let cell = |at: usize| record.get(at).unwrap_or("");
        let token = match cell(token_at).strip_prefix("env:") {
            Some(variable) if variable.trim().is_empty() => {
                return Err(format!(
                    "{place}, apiTokenInstance: env: names no variable; write env:NAME (the \
                     environment variable holding the token), or the token itself"
                ));
            }
            Some(variable) => std::env::var(variable.trim()).map_err(|_| {
                format!(
                    "{place}, apiTokenInstance: the environment variable {} (named by \
                     env:{}) is not set; export it, or write the token there instead",
                    shown(variable.trim()),
                    shown(variable.trim())
                )
            })?,
            None => {
                holds_token |= !cell(token_at).is_empty();
                cell(token_at).to_string()
            }
        };
        let credentials = Credentials::named(cell(url_at), cell(id_at), &token, Names::COLUMNS)
            .map_err(|e| format!("{place}: {e}"))?;
        let rate = match rate_at.map(cell).filter(|r| !r.is_empty()) {
            Some(rate) => Some(
                rate.parse::<Rate>()
                    .map_err(|e| format!("{place}, rate: {e}"))?,
            ),
            None => None,
        };
        let name = name_at.map(cell).filter(|n| !n.is_empty());
        if let Some((earlier, _)) = instances
            .iter()
            .find(|(_, i)| i.credentials.id_instance() == credentials.id_instance())
        {
            return Err(format!(
                "{place}: idInstance {} is on line {earlier} already; list each instance once",
                credentials.id_instance()
            ));
        }
        instances.push((
            line,
            ApiInstance {
                shared_calls: Some(crate::send::shared_calls_file(state_dir, &credentials)),
                emulated: crate::sandbox::serves(state_dir, credentials.api_url())
                    .map_err(|e| format!("{place}: {e}"))?,
                credentials,
                name: name.map(str::to_string),
                rate,
            },
        ));
    }
    if instances.is_empty() {
        return Err(format!(
            "--instances {shown_file} lists no instance: after the header line \
             apiUrl,idInstance,apiTokenInstance, give one instance a line"
        ));
    }
    if instances.len() > MOST {
        return Err(format!(
            "--instances {shown_file} lists {} instances; one run sends from at most {MOST}",
            instances.len()
        ));
    }
    // A token anywhere in the file — a line put aside with `#`, say — is a secret too.
    if holds_token || holds_hex(&text) {
        private(path)?;
    }
    Ok(instances.into_iter().map(|(_, i)| i).collect())
}

/// Whether the text has a run of 32 or more hexadecimal digits: what a token looks like.
fn holds_hex(text: &str) -> bool {
    let mut run = 0;
    for b in text.bytes() {
        run = if b.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 32 {
            return true;
        }
    }
    false
}

/// A file that holds a token must be readable by its owner alone.
#[cfg(unix)]
fn private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read --instances {}: {e}", shown_path(path)))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let quoted = shlex::try_quote(&path.to_string_lossy())
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| path.to_string_lossy().into_owned());
    Err(format!(
        "--instances {} holds tokens and other users of this machine can read it (mode {:03o}): \
         run `chmod 600 {}`, or write env:NAME in place of each token and put the token in \
         that environment variable",
        shown_path(path),
        mode & 0o777,
        shown(&quoted)
    ))
}

/// Windows keeps no such mode bits; the folder's permissions protect the file.
#[cfg(not(unix))]
fn private(_: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, text: &str, mode: u32) -> std::path::PathBuf {
        let path = dir.join("instances.csv");
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let _ = mode;
        path
    }

    #[test]
    fn an_instances_file_is_read_checked_and_never_shows_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let text = "apiUrl,idInstance,apiTokenInstance,name,rate\n\
                    https://7103.api.greenapi.com,7103000001,abc123def,shop,5/s\n\
                    # paused: https://7103.api.greenapi.com,7103000009,abc,old,\n\
                    https://7103.api.greenapi.com,7103000002,env:GREENBULK_TEST_TOKEN_2,,\n";
        // SAFETY: the only test that sets this variable; read back in the same thread.
        unsafe { std::env::set_var("GREENBULK_TEST_TOKEN_2", "fedcba987") };
        let path = file(dir.path(), text, 0o600);
        let instances = read(&path, dir.path()).unwrap();
        assert_eq!(instances.len(), 2);
        assert_eq!(instances[0].name.as_deref(), Some("shop"));
        assert_eq!(instances[0].rate.unwrap().to_string(), "5/s");
        assert_eq!(instances[1].credentials.id_instance(), "7103000002");
        assert_eq!(instances[1].rate, None);

        #[cfg(unix)]
        {
            let open = file(dir.path(), text, 0o644);
            let err = read(&open, dir.path()).unwrap_err();
            assert!(err.contains("chmod 600") && err.contains("644"), "{err}");
            assert!(!err.contains("abc123def"), "{err}");
            // A token kept on a line put aside is a secret all the same.
            let aside = file(
                dir.path(),
                "apiUrl,idInstance,apiTokenInstance\n\
                 https://7103.api.greenapi.com,7103000002,env:GREENBULK_TEST_TOKEN_2\n\
                 # https://7103.api.greenapi.com,7103000009,5a4db0c2d4e6f8a0b1c3d5e7f9a1b3c5\n",
                0o644,
            );
            assert!(read(&aside, dir.path()).unwrap_err().contains("chmod 600"));
            // Tokens only in the environment: nothing secret, any mode.
            let env_only = file(
                dir.path(),
                "apiUrl,idInstance,apiTokenInstance\n\
                 https://7103.api.greenapi.com,7103000002,env:GREENBULK_TEST_TOKEN_2\n",
                0o644,
            );
            assert_eq!(read(&env_only, dir.path()).unwrap().len(), 1);
        }
        for (text, says) in [
            ("apiUrl,idInstance\nx,1\n", "lacks apiTokenInstance"),
            (
                "apiUrl,idInstance,apiTokenInstance,colour\n",
                "unknown column 'colour'",
            ),
            ("apiUrl,idInstance,apiTokenInstance\n", "lists no instance"),
            (
                "apiUrl,idInstance,apiTokenInstance\nhttps://a.example,12x,ab\n",
                "line 2: idInstance '12x' is not an idInstance",
            ),
            (
                "apiUrl,idInstance,apiTokenInstance\nhttps://a.example,1,Sec/ret\n",
                "line 2: apiTokenInstance is not an apiTokenInstance",
            ),
            (
                "apiUrl,idInstance,apiTokenInstance\nhttps://a.example,1,env:GREENBULK_NO_SUCH\n",
                "GREENBULK_NO_SUCH (named by env:GREENBULK_NO_SUCH) is not set",
            ),
            (
                "apiUrl,idInstance,apiTokenInstance\nhttps://a.example,1,env:\n",
                "env: names no variable",
            ),
            (
                "apiUrl,idInstance,apiTokenInstance,rate\nhttps://a.example,1,ab,fast\n",
                "line 2, rate:",
            ),
            (
                "apiUrl,idInstance,apiTokenInstance,apiTokenInstance\nhttps://a.example,1,ab,cd\n",
                "'apiTokenInstance' is there twice",
            ),
            (
                "apiUrl,idInstance,apiTokenInstance\nhttps://a.example,1,ab\nhttps://b.example,1,cd\n",
                "line 3: idInstance 1 is on line 2 already",
            ),
        ] {
            let err = read(&file(dir.path(), text, 0o600), dir.path()).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("Sec/ret"), "{err}");
        }
    }
}
