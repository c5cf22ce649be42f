//! A client of one registry (OCI distribution API): manifests and blobs,
//! monolithic and chunked uploads, cross-repository mounts; anonymous,
//! basic and bearer-token auth (answering `WWW-Authenticate`); retries with
//! backoff on 5xx, 429 and dropped connections.
//!
//! A registry is not trusted with more than it needs (docs/transports.md,
//! "Timeouts and credentials"):
//! - credentials and tokens go only to the registry's own origin (scheme,
//!   host and port): an upload `Location` elsewhere gets no `Authorization`,
//!   nor does a redirect; a token realm on another host (any port of the
//!   registry's host counts as its own) gets the credentials only over
//!   https;
//! - every request has a connect timeout, an idle timeout (no byte sent or
//!   received for [`Timeouts::idle`]) and an overall deadline that grows
//!   with the bytes it carries ([`deadline`]); a timed-out request is tried
//!   at most [`TIMEOUT_ATTEMPTS`] times;
//! - a blob's body is cut at its descriptor's size + 1 byte
//!   ([`Client::get_blob`]), a manifest's at 4 MiB.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use ureq::config::RedirectAuthHeaders;
use ureq::http::{self, Response};
use ureq::{Body, BodyReader, SendBody};

use super::RegistryError;
use super::auth::{self, Challenge, Credentials};
use crate::digest::Digest;
use crate::oci::media;
use crate::oci::registry_reference::{DOCKER_HUB, Reference};

/// Manifests and configs larger than this are refused.
pub(super) const MAX_MANIFEST: u64 = 4 << 20;
/// Blobs up to this size go up in one PUT; larger ones in chunks of it.
const CHUNK: u64 = 32 << 20;
const ATTEMPTS: u32 = 5;
/// A request that timed out is tried at most this many times in all (each
/// with the same bounds), so a stalling registry costs a few timeouts, not
/// [`ATTEMPTS`] of them.
const TIMEOUT_ATTEMPTS: u32 = 3;
/// Every request's overall deadline, from connecting to its body's last
/// byte: a manifest of 4 MiB arrives within it at 16 KiB/s.
const BASE_DEADLINE: Duration = Duration::from_secs(300);
/// The slowest link a blob transfer is given time for: its deadline grows
/// by one second per this many bytes (a 1 GiB layer gets ~18 hours).
const SLOWEST_RATE: u64 = 16 << 10;
/// The `tokens` key of basic credentials, which serve every scope.
const ANY_SCOPE: &str = "";

/// How long a registry may keep a request waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Resolving the host and connecting (TCP and TLS handshake).
    pub connect: Duration,
    /// No byte received, or none sent, for this long (`--timeout`).
    pub idle: Duration,
}

impl Timeouts {
    pub(crate) const DEFAULT_CONNECT: Duration = Duration::from_secs(30);
    pub(crate) const DEFAULT_IDLE: Duration = Duration::from_secs(60);

    /// `--timeout`: the idle timeout, and connecting no longer than it.
    pub(crate) fn with_idle(idle: Duration) -> Timeouts {
        Timeouts { connect: Timeouts::DEFAULT_CONNECT.min(idle), idle }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::with_idle(Timeouts::DEFAULT_IDLE)
    }
}

/// The overall deadline of a request that carries `bytes` (a blob's size,
/// up or down; 0 for documents): [`BASE_DEADLINE`] plus one second per
/// [`SLOWEST_RATE`] bytes. Large, because a slow link is no attack: the
/// idle timeout catches a registry that stops, this one a registry that
/// trickles, and the descriptor's size bounds what it may send.
fn deadline(bytes: u64) -> Duration {
    BASE_DEADLINE.saturating_add(Duration::from_secs(bytes.div_ceil(SLOWEST_RATE)))
}

#[derive(Clone, Debug)]
pub(crate) struct ClientOptions {
    /// `false`: plain http or unverified TLS (`--tls-verify=false`).
    pub tls_verify: bool,
    pub credential_files: Vec<PathBuf>,
    pub timeouts: Timeouts,
    /// Clients connected with these options, shared by their clones (so
    /// other options take a new `ClientOptions`, not a changed clone).
    pub connected: Connected,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            tls_verify: true,
            credential_files: auth::credential_files(),
            timeouts: Timeouts::default(),
            connected: Connected::default(),
        }
    }
}

/// Clients by registry and repository: a command that reads or writes
/// several manifests of one repository (an index and its platforms, their
/// signatures) pings and authenticates once.
#[derive(Clone, Default)]
pub(crate) struct Connected(Arc<Mutex<BTreeMap<RepositoryKey, Arc<Client>>>>);

/// Registry and repository.
type RepositoryKey = (String, String);

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connected")
    }
}

impl ClientOptions {
    /// The client of `reference`'s repository, connected on first use.
    pub(crate) fn client(&self, reference: &Reference) -> Result<Arc<Client>, RegistryError> {
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

pub(crate) struct Client {
    agent: ureq::Agent,
    /// `https://host` or `http://host`.
    base: String,
    registry: String,
    timeouts: Timeouts,
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
    /// The bytes the request carries (a blob's size, up or down), which
    /// stretch its [`deadline`].
    carries: u64,
    /// What an error message names (a reference, a blob).
    target: String,
}

impl Client {
    /// A client for `reference`'s registry, with the credentials found for
    /// its repository. With `tls_verify` off, https is tried without
    /// verification first and plain http when TLS cannot be spoken.
    pub(crate) fn connect(reference: &Reference, options: &ClientOptions) -> Result<Client, RegistryError> {
        let credentials = auth::lookup(&options.credential_files, &reference.registry, &reference.repository)
            .map_err(|e| RegistryError::new(&reference.registry, e.to_string()))?;
        let tls = ureq::tls::TlsConfig::builder().disable_verification(!options.tls_verify).build();
        let timeouts = options.timeouts;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_resolve(Some(timeouts.connect))
            .timeout_connect(Some(timeouts.connect))
            .timeout_per_read(Some(timeouts.idle))
            .timeout_per_write(Some(timeouts.idle))
            .timeout_global(Some(deadline(0)))
            // A redirect (a blob served from elsewhere) never carries the
            // `Authorization` header (ureq's default, pinned).
            .redirect_auth_headers(RedirectAuthHeaders::Never)
            .user_agent(concat!("compose-img/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let host = if reference.registry == DOCKER_HUB { "registry-1.docker.io" } else { &reference.registry };
        let mut client = Client {
            agent,
            base: format!("https://{host}"),
            registry: reference.registry.clone(),
            timeouts,
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
        let response =
            self.agent.get(&url).call().map_err(|e| self.transport_error(&self.registry, &url, &e, deadline(0)))?;
        if response.status() == 401 {
            self.remember_challenge(&response);
        }
        Ok(())
    }

    /// The manifest or index `reference` (a tag or digest) of `repo`: its
    /// exact bytes and media type.
    pub(crate) fn get_manifest(&self, repo: &str, reference: &str) -> Result<(Vec<u8>, String), RegistryError> {
        let target = format!("{}/{repo}:{reference}", self.registry);
        let accept = [media::MANIFEST, media::INDEX, media::DOCKER_MANIFEST, media::DOCKER_LIST].join(", ");
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let mut response = self.call(Call {
            method: http::Method::GET,
            url: url.clone(),
            scopes: vec![pull(repo)],
            headers: vec![("Accept", accept)],
            payload: Payload::Empty,
            carries: 0,
            target: target.clone(),
        })?;
        let media_type = header(&response, "content-type").unwrap_or_default();
        let bytes = response.body_mut().with_config().limit(MAX_MANIFEST).read_to_vec().map_err(|e| {
            let message = match e {
                ureq::Error::BodyExceedsLimit(_) => format!("the manifest at {url} is over the 4 MiB limit"),
                ureq::Error::Timeout(kind) => self.timed_out(&url, kind, deadline(0)),
                e => format!("cannot read the manifest at {url}: {e}"),
            };
            RegistryError::new(&target, message)
        })?;
        Ok((bytes, media_type))
    }

    /// What the referrers API (`GET /v2/REPO/referrers/DIGEST`) lists for
    /// the manifest `digest`: the index's bytes, or `None` when the
    /// registry does not answer that API (404; it then keeps no referrers
    /// and clients keep the referrers tag `sha256-<hex>` instead).
    pub(crate) fn get_referrers(&self, repo: &str, digest: &Digest) -> Result<Option<Vec<u8>>, RegistryError> {
        let target = format!("{}/{repo}@{digest} (referrers)", self.registry);
        let url = format!("{}/v2/{repo}/referrers/{digest}", self.base);
        let mut response = self.call_allowing(
            Call {
                method: http::Method::GET,
                url: url.clone(),
                scopes: vec![pull(repo)],
                headers: vec![("Accept", media::INDEX.to_owned())],
                payload: Payload::Empty,
                carries: 0,
                target: target.clone(),
            },
            &[404],
        )?;
        // A registry answers the API with an index; anything else (an
        // error document, a page) means it has none.
        let is_index = header(&response, "content-type").is_some_and(|t| t.starts_with(media::INDEX));
        if response.status() == 404 || !is_index {
            return Ok(None);
        }
        let bytes = response.body_mut().with_config().limit(MAX_MANIFEST).read_to_vec().map_err(|e| {
            let message = match e {
                ureq::Error::BodyExceedsLimit(_) => format!("the referrers index at {url} is over the 4 MiB limit"),
                ureq::Error::Timeout(kind) => self.timed_out(&url, kind, deadline(0)),
                e => format!("cannot read the referrers index at {url}: {e}"),
            };
            RegistryError::new(&target, message)
        })?;
        Ok(Some(bytes))
    }

    pub(crate) fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let response = self.call_allowing(
            Call {
                method: http::Method::HEAD,
                url: format!("{}/v2/{repo}/blobs/{digest}", self.base),
                scopes: vec![pull(repo)],
                headers: vec![],
                payload: Payload::Empty,
                carries: 0,
                target: format!("{}/{repo}@{digest}", self.registry),
            },
            &[404],
        )?;
        Ok(response.status() == 200)
    }

    /// A reader of blob `digest`, whose descriptor says it has `size`
    /// bytes: a read fails as soon as the registry sends a byte more (the
    /// caller checks the digest, and that no byte is missing), or when the
    /// body stalls, naming the URL.
    pub(crate) fn get_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<impl Read + use<>, RegistryError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let response = self.call(Call {
            method: http::Method::GET,
            url: url.clone(),
            scopes: vec![pull(repo)],
            headers: vec![],
            payload: Payload::Empty,
            carries: size,
            target: format!("{}/{repo}@{digest}", self.registry),
        })?;
        let body = response.into_body().into_with_config().limit(u64::MAX).reader();
        Ok(BlobBody { body, url, size, received: 0, timeouts: self.timeouts })
    }

    /// Asks the registry to mount `digest` from repository `from`; false
    /// if it answers with an upload session instead (the blob is not there).
    pub(crate) fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let response = self.call(Call {
            method: http::Method::POST,
            url: format!("{}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}", self.base),
            scopes: vec![push(repo), pull(from)],
            headers: vec![("Content-Length", "0".into())],
            payload: Payload::Empty,
            carries: 0,
            target: format!("{}/{repo}@{digest}", self.registry),
        })?;
        Ok(response.status() == 201)
    }

    /// Uploads `len` bytes of the file at `path` as blob `digest`: in one
    /// PUT when small, else in chunks (PATCH) closed by a PUT.
    pub(crate) fn upload_blob(&self, repo: &str, digest: &Digest, path: &Path, len: u64) -> Result<(), RegistryError> {
        self.upload_blob_gated(repo, digest, path, len, None)
    }

    /// Like [`Client::upload_blob`]; with a `gate`, the closing PUT, which
    /// makes the blob exist (after the chunks of a large blob, or carrying
    /// a small one), waits for the gate to accept it; a gate that
    /// refuses cancels the upload (the registry keeps nothing).
    pub(crate) fn upload_blob_gated(
        &self,
        repo: &str,
        digest: &Digest,
        path: &Path,
        len: u64,
        gate: Option<&mut dyn FnMut() -> Result<(), RegistryError>>,
    ) -> Result<(), RegistryError> {
        let target = format!("{}/{repo}@{digest}", self.registry);
        let call = |method, url: String, headers, payload| Call {
            method,
            url,
            scopes: vec![push(repo)],
            headers,
            carries: carried(&payload),
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
        if let Some(gate) = gate
            && let Err(refused) = gate()
        {
            // Best effort: a session left open expires at the registry.
            let _ = self.call(call(http::Method::DELETE, location, vec![], Payload::Empty));
            return Err(refused);
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
    pub(crate) fn put_manifest(
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
            carries: 0,
            target: format!("{}/{repo}:{reference}", self.registry),
        })?;
        Ok(())
    }

    /// The absolute URL of an upload session's `Location` (which may name
    /// another host: [`Client::send`] sends it no credentials).
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
    /// failures (timeouts fewer times); a status other than 2xx and
    /// `allowed` is an error.
    fn call_allowing(&self, call: Call<'_>, allowed: &[u16]) -> Result<Response<Body>, RegistryError> {
        let mut authenticated = false;
        let mut attempt = 0;
        let mut timeouts = 0;
        loop {
            let result = self.send(&call);
            let retry = match &result {
                Err(ureq::Error::Timeout(_)) => {
                    timeouts += 1;
                    timeouts < TIMEOUT_ATTEMPTS
                }
                Err(_) => true,
                Ok(response) => response.status() == 429 || response.status().is_server_error(),
            };
            if retry && attempt + 1 < ATTEMPTS {
                std::thread::sleep(Duration::from_millis(250 << attempt));
                attempt += 1;
                continue;
            }
            let response =
                result.map_err(|e| self.transport_error(&call.target, &call.url, &e, deadline(call.carries)))?;
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

    /// One attempt at `call`, within its [`deadline`]. Credentials and
    /// tokens go only to the registry's own origin: an upload `Location`
    /// on another host (or port, or scheme) is sent no `Authorization`.
    fn send(&self, call: &Call<'_>) -> Result<Response<Body>, ureq::Error> {
        let mut request = http::Request::builder().method(call.method.clone()).uri(&call.url);
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if same_origin(&call.url, &self.base) {
            let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(auth) = tokens.get(&call.scopes.join(" ")).or_else(|| tokens.get(ANY_SCOPE)) {
                request = request.header("Authorization", auth);
            }
        }
        let within = Some(deadline(call.carries));
        match call.payload {
            Payload::Empty => {
                self.agent.run(self.agent.configure_request(request.body(())?).timeout_global(within).build())
            }
            Payload::Bytes(bytes) => {
                self.agent.run(self.agent.configure_request(request.body(bytes)?).timeout_global(within).build())
            }
            Payload::File { path, offset, len } => {
                let mut file = File::open(path)?;
                file.seek(SeekFrom::Start(offset))?;
                let mut reader = file.take(len);
                let request = request.body(SendBody::from_reader(&mut reader))?;
                self.agent.run(self.agent.configure_request(request).timeout_global(within).build())
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
        let withheld = self.credentials.is_some() && !realm_gets_credentials(realm, &self.base);
        if let Some(credentials) = &self.credentials
            && !withheld
        {
            request = request.header("Authorization", &credentials.basic_header());
        }
        let mut response = request.call().map_err(|e| self.transport_error(realm, realm, &e, deadline(0)))?;
        if response.status() == 401 || response.status() == 403 {
            if withheld {
                return Err(RegistryError::new(
                    target,
                    format!(
                        "authentication required (401): the token service {realm} refused an anonymous request \
                         (the credentials for {} go to a token service on another host only over https)",
                        self.registry
                    ),
                ));
            }
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
            .map_err(|e| match e {
                ureq::Error::Timeout(kind) => RegistryError::new(realm, self.timed_out(realm, kind, deadline(0))),
                e => RegistryError::new(realm, format!("the token service answered nonsense: {e}")),
            })
            .and_then(|body| {
                serde_json::from_slice(&body)
                    .map_err(|e| RegistryError::new(realm, format!("the token service answered nonsense: {e}")))
            })?;
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

    /// A request to `url` failed without an answer; a timeout names the
    /// URL and the bound it broke.
    fn transport_error(&self, target: &str, url: &str, error: &ureq::Error, within: Duration) -> RegistryError {
        match error {
            ureq::Error::Timeout(kind) => RegistryError::new(target, self.timed_out(url, *kind, within)),
            error if self.base.starts_with("https://") && looks_like_plain_http(error) => RegistryError::new(
                target,
                format!(
                    "cannot reach the registry at {}: it answered TLS with something else, as a plain-HTTP registry does ({error}); for a registry without TLS, pass --tls-verify=false",
                    self.base
                ),
            ),
            error => RegistryError::new(target, format!("cannot reach the registry at {}: {error}", self.base)),
        }
    }

    fn timed_out(&self, url: &str, kind: ureq::Timeout, within: Duration) -> String {
        timed_out(url, kind, &self.timeouts, within)
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

/// Blob `GET` bodies: cut at the descriptor's size + 1 byte, and errors
/// that name the URL.
struct BlobBody {
    body: BodyReader<'static>,
    url: String,
    /// What the descriptor says.
    size: u64,
    received: u64,
    timeouts: Timeouts,
}

impl Read for BlobBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the size is asked for, to tell a blob that is too
        // long; never more, whatever the registry sends.
        let room = self.size.saturating_add(1).saturating_sub(self.received);
        let want = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        let n = self.body.read(&mut buf[..want]).map_err(|error| {
            let timeout = error.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()).and_then(|e| match e {
                ureq::Error::Timeout(kind) => Some(*kind),
                _ => None,
            });
            match timeout {
                Some(kind) => io::Error::new(
                    io::ErrorKind::TimedOut,
                    timed_out(&self.url, kind, &self.timeouts, deadline(self.size)),
                ),
                None => io::Error::new(error.kind(), format!("{}: {error}", self.url)),
            }
        })?;
        self.received += n as u64;
        if self.received > self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: the registry sends more than the {} bytes the descriptor gives", self.url, self.size),
            ));
        }
        Ok(n)
    }
}

/// What a timeout of a request to `url` broke.
fn timed_out(url: &str, kind: ureq::Timeout, timeouts: &Timeouts, within: Duration) -> String {
    let how = match kind {
        ureq::Timeout::PerRead => format!("nothing received for {} (--timeout)", seconds(timeouts.idle)),
        ureq::Timeout::PerWrite => format!("nothing could be sent for {} (--timeout)", seconds(timeouts.idle)),
        ureq::Timeout::Resolve | ureq::Timeout::Connect => {
            format!("no connection within {}", seconds(timeouts.connect))
        }
        _ => format!("not done within {}", seconds(within)),
    };
    format!("{url}: timed out: {how}")
}

fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

/// The bytes a payload carries.
fn carried(payload: &Payload<'_>) -> u64 {
    match payload {
        Payload::File { len, .. } => *len,
        Payload::Empty | Payload::Bytes(_) => 0,
    }
}

/// Scheme, host (lowercased) and port (explicit or the scheme's default).
fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some((scheme, uri.host()?.to_ascii_lowercase(), port))
}

/// Both URLs have the same scheme, host and port.
fn same_origin(url: &str, base: &str) -> bool {
    origin(url).is_some_and(|a| origin(base).is_some_and(|b| a == b))
}

/// Whether the token realm `realm` of the registry at `base` may be sent
/// the registry's credentials: on the registry's host (any port: a token
/// service beside the registry on the same machine), or on another host
/// over https; a realm on another host over plain http is asked
/// anonymously.
fn realm_gets_credentials(realm: &str, base: &str) -> bool {
    match (origin(realm), origin(base)) {
        (Some(realm), Some(base)) => realm.1 == base.1 || realm.0 == "https",
        _ => false,
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

/// Whether a failed TLS handshake is what a plain-HTTP server's answer
/// gives (rustls: "received corrupt message of type InvalidContentType").
fn looks_like_plain_http(error: &ureq::Error) -> bool {
    let text = error.to_string();
    text.contains("InvalidContentType") || text.contains("corrupt message")
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
    fn credentials_stay_on_their_origin() {
        let base = "http://127.0.0.1:5000";
        assert!(same_origin("http://127.0.0.1:5000/v2/x/blobs/uploads/1?a=b", base));
        assert!(same_origin("HTTP://127.0.0.1:5000/v2/", base));
        assert!(same_origin("https://r.io/v2/", "https://R.io:443"));
        assert!(!same_origin("http://127.0.0.1:5001/upload", base));
        assert!(!same_origin("https://127.0.0.1:5000/upload", base));
        assert!(!same_origin("http://localhost:5000/upload", base));
        assert!(!same_origin("not a url", base));
        assert!(realm_gets_credentials("http://127.0.0.1:5000/token", base));
        assert!(realm_gets_credentials("https://auth.example.com/token", base));
        assert!(realm_gets_credentials("http://127.0.0.1:5001/token", base));
        assert!(!realm_gets_credentials("http://localhost:5001/token", base));
        assert!(!realm_gets_credentials("http://auth.example.com/token", "https://r.io"));
        assert!(!realm_gets_credentials("/token", base));
    }

    #[test]
    fn deadlines_grow_with_the_bytes_carried() {
        assert_eq!(deadline(0), Duration::from_secs(300));
        assert_eq!(deadline(1 << 30), Duration::from_secs(300 + 65536));
        assert!(deadline(u64::MAX) > deadline(1 << 40), "saturates, never overflows");
        assert_eq!(Timeouts::with_idle(Duration::from_secs(5)).connect, Duration::from_secs(5));
        assert_eq!(Timeouts::default(), Timeouts { connect: Timeouts::DEFAULT_CONNECT, idle: Timeouts::DEFAULT_IDLE });
    }

    #[test]
    fn a_blob_read_stops_one_byte_past_its_size_naming_the_url() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let blob = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                    5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
        let host = serve(vec![Some(ok), Some(blob), Some(blob)]);
        let options = ClientOptions {
            tls_verify: false,
            credential_files: Vec::new(),
            timeouts: Timeouts::with_idle(Duration::from_millis(300)),
            ..ClientOptions::default()
        };
        let client = Client::connect(&Reference::parse(&format!("{host}/x:1")).unwrap(), &options).unwrap();
        let digest = Digest::of(b"hello");
        let mut bytes = Vec::new();
        let error = client.get_blob("x", &digest, 5).unwrap().read_to_end(&mut bytes).unwrap_err();
        assert!(bytes.len() <= 5, "{bytes:?}");
        let url = format!("http://{host}/v2/x/blobs/{digest}");
        assert_eq!(error.to_string(), format!("{url}: the registry sends more than the 5 bytes the descriptor gives"));
        let mut bytes = Vec::new();
        client.get_blob("x", &digest, 10).unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"helloworld");
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
