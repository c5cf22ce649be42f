//! A bearer-token service for a real docker-registry: an ES256 key and a
//! self-signed certificate made with openssl (the registry trusts the
//! certificate), and a small HTTP server on 127.0.0.1 that issues a JWT for
//! whatever scopes are asked, to a client that sends the expected basic
//! credentials. The tokens carry the certificate in `x5c`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::{run, tool};

pub const SERVICE: &str = "compose-img-test";
const ISSUER: &str = "compose-img-test-issuer";

pub struct TokenServer {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    realm: String,
    /// The query strings of the token requests served.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    /// Issues tokens to `user`:`password` (basic auth on the token request).
    pub fn start(user: &str, password: &str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        run(Command::new(tool("openssl"))
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "2", "-subj", "/CN=compose-img-test-token", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = run(Command::new(tool("openssl")).args(["x509", "-outform", "PEM", "-in"]).arg(&cert));
        let der_b64: String = der.lines().filter(|l| !l.starts_with("-----")).collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let query =
                    line.split_whitespace().nth(1).unwrap_or("").split_once('?').map_or("", |(_, q)| q).to_owned();
                let mut authorized = false;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorized = value.trim() == expected;
                    }
                }
                seen.lock().unwrap().push(query.clone());
                let (status, body) = if authorized {
                    ("200 OK", format!("{{\"token\":\"{}\"}}", jwt(&query, &key, &der_b64)))
                } else {
                    ("401 Unauthorized", "{}".to_owned())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenServer { _dir: dir, cert, realm, requests }
    }

    /// The `auth:` section of a registry config that trusts this server.
    pub fn registry_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.realm,
            self.cert.display()
        )
    }
}

/// A JWT granting every scope of `query` (`scope=repository:NAME:ACTIONS`).
fn jwt(query: &str, key: &Path, cert_b64: &str) -> String {
    let mut access = Vec::new();
    for pair in query.split('&') {
        let Some(scope) = pair.strip_prefix("scope=") else { continue };
        let scope = scope.replace("%3A", ":").replace("%2F", "/").replace("%2C", ",");
        let parts: Vec<&str> = scope.split(':').collect();
        if let [kind, name, actions] = parts[..] {
            let actions: Vec<String> = actions.split(',').map(|a| format!("\"{a}\"")).collect();
            access.push(format!(r#"{{"type":"{kind}","name":"{name}","actions":[{}]}}"#, actions.join(",")));
        }
    }
    #[allow(clippy::disallowed_methods, reason = "a token's validity window needs the real clock")]
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = format!(r#"{{"alg":"ES256","typ":"JWT","x5c":["{cert_b64}"]}}"#);
    let claims = format!(
        r#"{{"iss":"{ISSUER}","sub":"builder","aud":"{SERVICE}","exp":{},"nbf":{},"iat":{now},"jti":"{now}","access":[{}]}}"#,
        now + 600,
        now - 60,
        access.join(",")
    );
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let mut child = Command::new(tool("openssl"))
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(signing_input.as_bytes()).unwrap();
    let der = child.wait_with_output().unwrap().stdout;
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(der_to_raw(&der)))
}

/// An ECDSA signature in DER (SEQUENCE of two INTEGERs) → r || s, 32 bytes each.
fn der_to_raw(der: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut i = 2; // SEQUENCE tag and (short) length
    for _ in 0..2 {
        assert_eq!(der[i], 0x02, "not an INTEGER");
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        raw.extend(std::iter::repeat_n(0, 32 - int.len()));
        raw.extend_from_slice(int);
        i += 2 + len;
    }
    raw
}
