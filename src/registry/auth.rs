//! Registry credentials and challenges: `auth.json`-style credential files
//! (the first of `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`
//! and `~/.docker/config.json` that has an entry for the registry) and the
//! `WWW-Authenticate` header of a 401 answer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use thiserror::Error;

#[derive(Clone)]
pub(crate) struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub(crate) fn basic_header(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.username, self.password)))
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <password>)", self.username)
    }
}

/// The credential files to look in, in order of precedence.
pub(crate) fn credential_files() -> Vec<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut files = Vec::new();
    files.extend(var("REGISTRY_AUTH_FILE"));
    files.extend(var("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    files.extend(var("HOME").map(|h| h.join(".docker/config.json")));
    files
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// A credentials file that cannot be used, named. The cause is part of the
/// message (these errors are shown as one line).
#[derive(Debug, Error)]
pub(crate) enum CredentialsError {
    #[error("cannot read credentials file {}: {error}", file.display())]
    Read { file: PathBuf, error: std::io::Error },
    #[error("credentials file {} is not valid JSON: {error}", file.display())]
    Json { file: PathBuf, error: serde_json::Error },
    #[error("credentials file {}: {registry}: {problem}", file.display())]
    Entry { file: PathBuf, registry: String, problem: BadEntry },
}

/// What is wrong with a credentials entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub(crate) enum BadEntry {
    #[error("the entry has no `auth` value")]
    NoAuth,
    #[error("`auth` is not base64")]
    NotBase64,
    #[error("`auth` is not UTF-8")]
    NotUtf8,
    #[error("`auth` is not USER:PASSWORD")]
    NotUserPassword,
}

/// Credentials for `registry`/`repository` from the first file that has
/// an entry for it; the most specific key (`host/namespace`) wins within a
/// file. Unreadable or malformed files are an error naming the file.
pub(crate) fn lookup(
    files: &[PathBuf],
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    for file in files {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(CredentialsError::Read { file: file.clone(), error }),
        };
        let parsed: AuthFile =
            serde_json::from_slice(&bytes).map_err(|error| CredentialsError::Json { file: file.clone(), error })?;
        let full = format!("{registry}/{repository}");
        let best = parsed
            .auths
            .iter()
            .filter_map(|(key, entry)| {
                let key = normalise_key(key);
                let matches =
                    key == registry || (full.starts_with(&key) && full.as_bytes().get(key.len()) == Some(&b'/'));
                matches.then_some((key.len(), entry))
            })
            .max_by_key(|(len, _)| *len);
        if let Some((_, entry)) = best {
            return decode(entry).map(Some).map_err(|problem| CredentialsError::Entry {
                file: file.clone(),
                registry: registry.to_owned(),
                problem,
            });
        }
    }
    Ok(None)
}

/// `https://index.docker.io/v1/` → `docker.io`; schemes and API suffixes go.
fn normalise_key(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let key = key.trim_end_matches('/');
    let key = key.strip_suffix("/v1").or_else(|| key.strip_suffix("/v2")).unwrap_or(key);
    match key {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

fn decode(entry: &AuthEntry) -> Result<Credentials, BadEntry> {
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Credentials { username: username.clone(), password: password.clone() });
    }
    let auth = entry.auth.as_deref().ok_or(BadEntry::NoAuth)?;
    let decoded = STANDARD.decode(auth.trim()).map_err(|_| BadEntry::NotBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| BadEntry::NotUtf8)?;
    let (username, password) = text.split_once(':').ok_or(BadEntry::NotUserPassword)?;
    Ok(Credentials { username: username.to_owned(), password: password.to_owned() })
}

/// A parsed `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            Some(Challenge::Bearer { realm: params.get("realm")?.clone(), service: params.get("service").cloned() })
        }
        _ => None,
    }
}

/// `key="quoted, value",key2=token` → a map (keys lowercased).
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.insert(key, value);
        rest = tail.trim_start().trim_start_matches(',');
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#;
        assert_eq!(
            parse_challenge(header),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn finds_the_most_specific_entry() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        let b64 = |s: &str| STANDARD.encode(s);
        let text = format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"r.io":{{"auth":"{}"}},"r.io/team":{{"auth":"{}"}}}}}}"#,
            b64("hub:1"),
            b64("any:2"),
            b64("team:3")
        );
        std::fs::write(&file, text).unwrap();
        let files = [dir.path().join("missing.json"), file];
        let user = |reg, repo| lookup(&files, reg, repo).unwrap().map(|c| c.username);
        assert_eq!(user("docker.io", "library/busybox").as_deref(), Some("hub"));
        assert_eq!(user("r.io", "team/app").as_deref(), Some("team"));
        assert_eq!(user("r.io", "teamx/app").as_deref(), Some("any"));
        assert_eq!(user("other.io", "a"), None);
    }

    #[test]
    fn names_the_file_and_entry_it_cannot_use() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        std::fs::write(&file, r#"{"auths":{"r.io":{"auth":"%%%"}}}"#).unwrap();
        let error = lookup(std::slice::from_ref(&file), "r.io", "a").unwrap_err();
        assert_eq!(error.to_string(), format!("credentials file {}: r.io: `auth` is not base64", file.display()));
        std::fs::write(&file, "{").unwrap();
        let error = lookup(std::slice::from_ref(&file), "r.io", "a").unwrap_err().to_string();
        assert!(error.starts_with(&format!("credentials file {} is not valid JSON: ", file.display())), "{error}");
    }
}
