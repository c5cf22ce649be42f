//! A client of one registry (OCI distribution API): manifests and blobs,
//! monolithic and chunked uploads, cross-repository mounts; anonymous,
//! basic and bearer-token auth (answering `WWW-Authenticate`); retries with
//! backoff on 5xx, 429 and dropped connections.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{self, Response};
use ureq::{Body, SendBody};

use super::RegistryError;
use super::auth::{self, Challenge, Credentials};
use crate::digest::Digest;
use crate::oci::media;
use crate::oci::registry_reference::{DOCKER_HUB, Reference};

/// Manifests and configs larger than this are refused.
pub const MAX_MANIFEST: u64 = 4 << 20;
/// Blobs up to this size go up in one PUT; larger ones in chunks of it.
const CHUNK: u64 = 32 << 20;
const ATTEMPTS: u32 = 5;
/// The `tokens` key of basic credentials, which serve every scope.
const ANY_SCOPE: &str = "";

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// `false`: plain http or unverified TLS (`--tls-verify=false`).
    pub tls_verify: bool,
    pub credential_files: Vec<PathBuf>,
    /// Clients connected with these options, shared by their clones (so
    /// other options take a new `ClientOptions`, not a changed clone).
    pub connected: Connected,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { tls_verify: true, credential_files: auth::credential_files(), connected: Connected::default() }
    }
}

/// Clients by registry and repository: a command that reads or writes
/// several manifests of one repository (an index and its platforms, their
/// signatures) pings and authenticates once.
#[derive(Clone, Default)]
pub struct Connected(Arc<Mutex<BTreeMap<RepositoryKey, Arc<Client>>>>);

/// Registry and repository.
type RepositoryKey = (String, String);

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connected")
    }
}

impl ClientOptions {
    /// The client of `reference`'s repository, connected on first use.
    pub fn client(&self, reference: &Reference) -> Result<Arc<Client>, RegistryError> {
        let key = (reference.registry.clone(), reference.repository.clone());
        let lock = || self.connected.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = lock().get(&key) {
            return Ok(Arc::clone(client));
        }
        // Connected unlocked, so one slow registry holds up no other; a
        // client connected meanwhile by another thread wins.
        let client = Arc::new(Client::connect(reference, self)?);
        Ok(Arc::clone(lock().entry(key).or_insert(client)))
    }
}

pub struct Client {
    agent: ureq::Agent,
    /// `https://host` or `http://host`.
    base: String,
    registry: String,
    credentials: Option<Credentials>,
    challenge: Mutex<Option<Challenge>>,
    /// `Authorization` values by the scopes they were issued for.
    tokens: Mutex<BTreeMap<String, String>>,
}

enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset` (re-opened on a retry).
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

struct Call<'a> {
    method: http::Method,
    url: String,
    scopes: Vec<String>,
    headers: Vec<(&'static str, String)>,
    payload: Payload<'a>,
    /// What an error message names (a reference, a blob).
    target: String,
}

impl Client {
    /// A client for `reference`'s registry, with the credentials found for
    /// its repository. With `tls_verify` off, https is tried without
    /// verification first and plain http when TLS cannot be spoken.
    pub fn connect(reference: &Reference, options: &ClientOptions) -> Result<Client, RegistryError> {
        let credentials = auth::lookup(&options.credential_files, &reference.registry, &reference.repository)
            .map_err(|message| RegistryError::new(&reference.registry, message))?;
        let tls = ureq::tls::TlsConfig::builder().disable_verification(!options.tls_verify).build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .user_agent(concat!("compose-img/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let host = if reference.registry == DOCKER_HUB { "registry-1.docker.io" } else { &reference.registry };
        let mut client = Client {
            agent,
            base: format!("https://{host}"),
            registry: reference.registry.clone(),
            credentials,
            challenge: Mutex::new(None),
            tokens: Mutex::new(BTreeMap::new()),
        };
        if let Err(e) = client.ping() {
            if options.tls_verify {
                return Err(e);
            }
            client.base = format!("http://{host}");
            client.ping()?;
        }
        Ok(client)
    }

    /// `GET /v2/`: checks the registry answers and learns how it authenticates.
    fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        let response = self.agent.get(&url).call().map_err(|e| self.transport_error(&self.registry, &e))?;
        if response.status() == 401 {
            self.remember_challenge(&response);
        }
        Ok(())
    }

    /// The manifest or index `reference` (a tag or digest) of `repo`: its
    /// exact bytes and media type.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<(Vec<u8>, String), RegistryError> {
        let target = format!("{}/{repo}:{reference}", self.registry);
        let accept = [media::MANIFEST, media::INDEX, media::DOCKER_MANIFEST, media::DOCKER_LIST].join(", ");
        let mut response = self.call(Call {
            method: http::Method::GET,
            url: format!("{}/v2/{repo}/manifests/{reference}", self.base),
            scopes: vec![pull(repo)],
            headers: vec![("Accept", accept)],
            payload: Payload::Empty,
            target: target.clone(),
        })?;
        let media_type = header(&response, "content-type").unwrap_or_default();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_vec()
            .map_err(|e| RegistryError::new(&target, format!("cannot read the manifest (over 4 MiB?): {e}")))?;
        Ok((bytes, media_type))
    }

    pub fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let response = self.call_allowing(
            Call {
                method: http::Method::HEAD,
                url: format!("{}/v2/{repo}/blobs/{digest}", self.base),
                scopes: vec![pull(repo)],
                headers: vec![],
                payload: Payload::Empty,
                target: format!("{}/{repo}@{digest}", self.registry),
            },
            &[404],
        )?;
        Ok(response.status() == 200)
    }

    /// A reader of blob `digest` (the caller checks digest and size).
    pub fn get_blob(&self, repo: &str, digest: &Digest) -> Result<impl Read + use<>, RegistryError> {
        let response = self.call(Call {
            method: http::Method::GET,
            url: format!("{}/v2/{repo}/blobs/{digest}", self.base),
            scopes: vec![pull(repo)],
            headers: vec![],
            payload: Payload::Empty,
            target: format!("{}/{repo}@{digest}", self.registry),
        })?;
        Ok(response.into_body().into_with_config().limit(u64::MAX).reader())
    }

    /// Asks the registry to mount `digest` from repository `from`; false
    /// if it answers with an upload session instead (the blob is not there).
    pub fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let response = self.call(Call {
            method: http::Method::POST,
            url: format!("{}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}", self.base),
            scopes: vec![push(repo), pull(from)],
            headers: vec![("Content-Length", "0".into())],
            payload: Payload::Empty,
            target: format!("{}/{repo}@{digest}", self.registry),
        })?;
        Ok(response.status() == 201)
    }

    /// Uploads `len` bytes of the file at `path` as blob `digest`: in one
    /// PUT when small, else in chunks (PATCH) closed by a PUT.
    pub fn upload_blob(&self, repo: &str, digest: &Digest, path: &Path, len: u64) -> Result<(), RegistryError> {
        let target = format!("{}/{repo}@{digest}", self.registry);
        let call = |method, url: String, headers, payload| Call {
            method,
            url,
            scopes: vec![push(repo)],
            headers,
            payload,
            target: target.clone(),
        };
        let started = self.call(call(
            http::Method::POST,
            format!("{}/v2/{repo}/blobs/uploads/", self.base),
            vec![("Content-Length", "0".into())],
            Payload::Empty,
        ))?;
        let mut location = self.location(&started, &target)?;
        let mut offset = 0;
        while len > CHUNK && offset < len {
            let part = CHUNK.min(len - offset);
            let response = self.call(call(
                http::Method::PATCH,
                location.clone(),
                vec![
                    ("Content-Type", "application/octet-stream".into()),
                    ("Content-Range", format!("{offset}-{}", offset + part - 1)),
                    ("Content-Length", part.to_string()),
                ],
                Payload::File { path, offset, len: part },
            ))?;
            location = self.location(&response, &target)?;
            offset += part;
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let (payload, sent) =
            if offset < len { (Payload::File { path, offset, len }, len) } else { (Payload::Empty, 0) };
        self.call(call(
            http::Method::PUT,
            url,
            vec![("Content-Type", "application/octet-stream".into()), ("Content-Length", sent.to_string())],
            payload,
        ))?;
        Ok(())
    }

    /// Pushes a manifest or index with its exact bytes under `reference`
    /// (a tag or its digest).
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        self.call(Call {
            method: http::Method::PUT,
            url: format!("{}/v2/{repo}/manifests/{reference}", self.base),
            scopes: vec![push(repo)],
            headers: vec![("Content-Type", media_type.to_owned()), ("Content-Length", bytes.len().to_string())],
            payload: Payload::Bytes(bytes),
            target: format!("{}/{repo}:{reference}", self.registry),
        })?;
        Ok(())
    }

    /// The absolute URL of an upload session's `Location`.
    fn location(&self, response: &Response<Body>, target: &str) -> Result<String, RegistryError> {
        let location = header(response, "location")
            .ok_or_else(|| RegistryError::new(target, "the registry answered an upload without a Location"))?;
        Ok(if location.starts_with("http://") || location.starts_with("https://") {
            location
        } else {
            format!("{}{location}", self.base)
        })
    }

    fn call(&self, call: Call<'_>) -> Result<Response<Body>, RegistryError> {
        self.call_allowing(call, &[])
    }

    /// Sends `call`, authenticating on a 401 and retrying transient
    /// failures; a status other than 2xx and `allowed` is an error.
    fn call_allowing(&self, call: Call<'_>, allowed: &[u16]) -> Result<Response<Body>, RegistryError> {
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            let result = self.send(&call);
            let retry = match &result {
                Err(_) => true,
                Ok(response) => response.status() == 429 || response.status().is_server_error(),
            };
            if retry && attempt + 1 < ATTEMPTS {
                std::thread::sleep(Duration::from_millis(250 << attempt));
                attempt += 1;
                continue;
            }
            let response = result.map_err(|e| self.transport_error(&call.target, &e))?;
            let status = response.status().as_u16();
            if status == 401 && !authenticated {
                self.remember_challenge(&response);
                self.authenticate(&call.scopes, &call.target)?;
                authenticated = true;
                continue;
            }
            if response.status().is_success() || allowed.contains(&status) {
                return Ok(response);
            }
            return Err(self.status_error(&call.target, response));
        }
    }

    fn send(&self, call: &Call<'_>) -> Result<Response<Body>, ureq::Error> {
        let mut request = http::Request::builder().method(call.method.clone()).uri(&call.url);
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(auth) = tokens.get(&call.scopes.join(" ")).or_else(|| tokens.get(ANY_SCOPE)) {
            request = request.header("Authorization", auth);
        }
        drop(tokens);
        match call.payload {
            Payload::Empty => self.agent.run(request.body(())?),
            Payload::Bytes(bytes) => self.agent.run(request.body(bytes)?),
            Payload::File { path, offset, len } => {
                let mut file = File::open(path)?;
                file.seek(SeekFrom::Start(offset))?;
                let mut reader = file.take(len);
                self.agent.run(request.body(SendBody::from_reader(&mut reader))?)
            }
        }
    }

    fn remember_challenge(&self, response: &Response<Body>) {
        if let Some(challenge) = header(response, "www-authenticate").and_then(|h| auth::parse_challenge(&h)) {
            *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(challenge);
        }
    }

    /// Gets an `Authorization` value for `scopes`: basic credentials, or a
    /// bearer token from the realm the registry named.
    fn authenticate(&self, scopes: &[String], target: &str) -> Result<(), RegistryError> {
        let challenge = self.challenge.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (key, value) = match challenge {
            Some(Challenge::Basic) | None => match &self.credentials {
                Some(credentials) => (ANY_SCOPE.to_owned(), credentials.basic_header()),
                None => return Err(self.unauthorized(target)),
            },
            Some(Challenge::Bearer { realm, service }) => {
                let token = self.fetch_token(&realm, service.as_deref(), scopes, target)?;
                (scopes.join(" "), format!("Bearer {token}"))
            }
        };
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(key, value);
        Ok(())
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        target: &str,
    ) -> Result<String, RegistryError> {
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let mut request = self.agent.get(realm);
        if let Some(service) = service {
            request = request.query("service", service);
        }
        for scope in scopes {
            request = request.query("scope", scope);
        }
        if let Some(credentials) = &self.credentials {
            request = request.header("Authorization", &credentials.basic_header());
        }
        let mut response = request.call().map_err(|e| self.transport_error(realm, &e))?;
        if response.status() == 401 || response.status() == 403 {
            return Err(self.unauthorized(target));
        }
        if !response.status().is_success() {
            return Err(self.status_error(realm, response));
        }
        let answer: TokenAnswer = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| e.to_string())
            .and_then(|body| serde_json::from_slice(&body).map_err(|e| e.to_string()))
            .map_err(|e| RegistryError::new(realm, format!("the token service answered nonsense: {e}")))?;
        answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| RegistryError::new(realm, "the token service answered without a token"))
    }

    fn unauthorized(&self, target: &str) -> RegistryError {
        let how = if self.credentials.is_some() {
            "the credentials found for it were refused"
        } else {
            "no credentials for it in $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json or ~/.docker/config.json"
        };
        RegistryError::new(target, format!("authentication required (401): {how} ({})", self.registry))
    }

    fn transport_error(&self, target: &str, error: &ureq::Error) -> RegistryError {
        RegistryError::new(target, format!("cannot reach the registry at {}: {error}", self.base))
    }

    fn status_error(&self, target: &str, mut response: Response<Body>) -> RegistryError {
        #[derive(Deserialize)]
        struct Errors {
            errors: Vec<ErrorEntry>,
        }
        #[derive(Deserialize)]
        struct ErrorEntry {
            code: Option<String>,
            message: Option<String>,
        }
        let status = response.status();
        let detail = response
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_vec()
            .ok()
            .and_then(|body| serde_json::from_slice::<Errors>(&body).ok())
            .map(|e| {
                e.errors
                    .iter()
                    .map(|e| format!(": {}", e.message.as_deref().or(e.code.as_deref()).unwrap_or("")))
                    .collect::<String>()
            })
            .unwrap_or_default();
        let what = match status.as_u16() {
            401 => return self.unauthorized(target),
            403 => "access denied (403)".to_owned(),
            404 => "not found (404)".to_owned(),
            code => format!("the registry answered {code} {}", status.canonical_reason().unwrap_or("")),
        };
        RegistryError { not_found: status == 404, ..RegistryError::new(target, format!("{what}{detail}")) }
    }
}

fn pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// A scripted server: each HTTP request gets the next answer (`None`
    /// drops the connection unanswered); anything else (a TLS hello) is
    /// dropped without using up an answer.
    fn serve(answers: Vec<Option<&'static str>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || !line.contains("HTTP/1.1") {
                    continue;
                }
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                match answers.next() {
                    Some(Some(answer)) => {
                        let _ = stream.write_all(answer.as_bytes());
                    }
                    Some(None) => {}
                    None => break,
                }
            }
        });
        host
    }

    #[test]
    fn retries_server_errors_throttling_and_dropped_connections() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let manifest = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
                        Content-Length: 4\r\nConnection: close\r\n\r\nbody";
        let busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let slow_down = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let host = serve(vec![Some(ok), None, Some(busy), Some(slow_down), Some(manifest)]);
        let options = ClientOptions { tls_verify: false, credential_files: Vec::new(), ..ClientOptions::default() };
        let client = Client::connect(&Reference::parse(&format!("{host}/x:1")).unwrap(), &options).unwrap();
        let (bytes, media_type) = client.get_manifest("x", "1").unwrap();
        assert_eq!((bytes.as_slice(), media_type.as_str()), (&b"body"[..], media::MANIFEST));
    }

    #[test]
    fn gives_up_after_five_attempts_naming_the_reference() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let busy = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let host = serve(vec![Some(ok), Some(busy), Some(busy), Some(busy), Some(busy), Some(busy)]);
        let options = ClientOptions { tls_verify: false, credential_files: Vec::new(), ..ClientOptions::default() };
        let client = Client::connect(&Reference::parse(&format!("{host}/x:1")).unwrap(), &options).unwrap();
        let error = client.get_manifest("x", "1").unwrap_err().to_string();
        assert_eq!(error, format!("{host}/x:1: the registry answered 502 Bad Gateway"));
    }
}
