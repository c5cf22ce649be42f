//! A hostile registry must not take the user's password, disk or time.
//! Small HTTP servers written here (127.0.0.1, plain http, each one
//! stopping by itself) play registries that send credentials elsewhere,
//! stall, or never stop sending; the real binary runs against them.

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Sandbox, assert_success};
use compose_img::digest::Digest;

const NO_TLS: &str = "--tls-verify=false";
/// No server (or connection of one) lives longer than this.
const LIFETIME: Duration = Duration::from_secs(30);
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const USER: &str = "builder";
const PASSWORD: &str = "s3cret";

/// A request a server received (its body read and dropped).
#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Request, &mut TcpStream) + Send + Sync;

/// A plain-http server on 127.0.0.1: one thread per connection, one
/// request per connection (answers close it), every request recorded. It
/// stops accepting when dropped or after [`LIFETIME`]; a TLS hello (the
/// client trying https first) is dropped unanswered.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(handler: impl Fn(&Request, &mut TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (seen, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            let started = Instant::now();
            while !stopped.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (handler, seen) = (Arc::clone(&handler), Arc::clone(&seen));
                        std::thread::spawn(move || serve_one(stream, &*handler, &seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { port, requests, stop }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_one(mut stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Request>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut first = [0u8; 1];
    if stream.peek(&mut first).is_err() || first[0] == 0x16 {
        return;
    }
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else { return };
    let mut request = Request { method: method.to_owned(), path: path.to_owned(), headers: Vec::new() };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            request.headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length: u64 = request.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let _ = std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink());
    seen.lock().unwrap().push(request.clone());
    handler(&request, &mut stream);
}

/// A whole answer, closing the connection.
fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// Waits until the client hangs up (or [`LIFETIME`] passes), answering nothing more.
fn stall(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(LIFETIME));
    let _ = stream.read(&mut [0u8; 1]);
}

/// A one-platform image: its manifest, and its config and layers by digest.
struct Image {
    manifest: Vec<u8>,
    blobs: BTreeMap<String, Vec<u8>>,
}

impl Image {
    fn new(layers: &[&[u8]]) -> Image {
        let digest = |bytes: &[u8]| Digest::of(bytes).to_string();
        let diff_ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let descriptor = |media: &str, bytes: &[u8]| serde_json::json!({"mediaType": media, "digest": digest(bytes), "size": bytes.len()});
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": layers.iter().map(|l| descriptor(LAYER, l)).collect::<Vec<_>>(),
        }))
        .unwrap();
        let mut blobs = BTreeMap::new();
        blobs.insert(digest(&config), config);
        for layer in layers {
            blobs.insert(digest(layer), layer.to_vec());
        }
        Image { manifest, blobs }
    }

    /// The image as the OCI layout `dir`, tagged `1`.
    fn write_layout(&self, dir: &Path) {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let manifest_digest = Digest::of(&self.manifest);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": MANIFEST,
                "digest": manifest_digest.to_string(),
                "size": self.manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": "1"},
            }],
        });
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        std::fs::write(dir.join("blobs/sha256").join(manifest_digest.hex()), &self.manifest).unwrap();
        for (digest, bytes) in &self.blobs {
            std::fs::write(dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        }
    }

    /// `GET .../manifests/...` and `GET .../blobs/DIGEST` of this image;
    /// nothing is attached to it (its `sha256-<hex>` tags are unknown).
    fn serve(&self, request: &Request, stream: &mut TcpStream) -> bool {
        if request.method != "GET" {
            return false;
        }
        if request.path.contains("/manifests/sha256-") {
            respond(stream, "404 Not Found", &[], b"");
            return true;
        }
        if request.path.contains("/manifests/") {
            respond(stream, "200 OK", &[("Content-Type", MANIFEST)], &self.manifest);
            return true;
        }
        match self.blobs.get(request.path.rsplit('/').next().unwrap_or_default()) {
            Some(blob) => respond(stream, "200 OK", &[], blob),
            None => respond(stream, "404 Not Found", &[], b""),
        }
        true
    }
}

fn basic() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")))
}

/// An auth file with `USER:PASSWORD` for `host`.
fn auth_file(sandbox: &Sandbox, host: &str) -> std::path::PathBuf {
    sandbox.write("auth.json", &format!(r#"{{"auths":{{"{host}":{{"username":"{USER}","password":"{PASSWORD}"}}}}}}"#))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs compose-img, returning its output and how long it took.
fn timed(cmd: &mut std::process::Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (out, started.elapsed())
}

fn no_authorization(server: &Server) {
    let requests = server.requests();
    assert!(!requests.is_empty(), "the other host saw no request");
    let leaked: Vec<&Request> = requests.iter().filter(|r| r.header("authorization").is_some()).collect();
    assert!(leaked.is_empty(), "credentials sent to another host: {leaked:?}");
}

#[test]
fn basic_credentials_go_to_no_upload_location_or_redirect_on_another_host() {
    let image = Arc::new(Image::new(&[b"first layer", b"second layer"]));
    // B: where the registry sends uploads and blob downloads.
    let served = Arc::clone(&image);
    let other = Server::start(move |request, stream| {
        if request.method == "PUT" {
            respond(stream, "201 Created", &[], b"");
        } else if !served.serve(request, stream) {
            respond(stream, "405 Method Not Allowed", &[], b"");
        }
    });
    let other_host = other.host();
    // A: basic auth; uploads go to B, to a relative and to an absolute
    // Location on A in turn; blob downloads are redirected to B.
    let uploads = Arc::new(AtomicUsize::new(0));
    let port = Arc::new(AtomicUsize::new(0));
    let (served, own_port) = (Arc::clone(&image), Arc::clone(&port));
    let registry = Server::start(move |request, stream| {
        if request.header("authorization") != Some(basic().as_str()) {
            return respond(stream, "401 Unauthorized", &[("WWW-Authenticate", r#"Basic realm="a""#)], b"");
        }
        let path = request.path.as_str();
        match request.method.as_str() {
            "HEAD" => respond(stream, "404 Not Found", &[], b""),
            "POST" if path.starts_with("/v2/x/blobs/uploads/") => {
                let n = uploads.fetch_add(1, Ordering::SeqCst);
                let location = match n % 3 {
                    0 => format!("http://{other_host}/upload/{n}"),
                    1 => format!("/v2/x/blobs/uploads/{n}"),
                    _ => format!("http://127.0.0.1:{}/v2/x/blobs/uploads/{n}", own_port.load(Ordering::SeqCst)),
                };
                respond(stream, "202 Accepted", &[("Location", &location)], b"");
            }
            "PUT" => respond(stream, "201 Created", &[], b""),
            "GET" if path.contains("/blobs/") => {
                let location = format!("http://{other_host}{path}");
                respond(stream, "307 Temporary Redirect", &[("Location", &location)], b"");
            }
            _ => {
                served.serve(request, stream);
            }
        }
    });
    port.store(registry.port as usize, Ordering::SeqCst);
    let sandbox = Sandbox::new();
    image.write_layout(&sandbox.path().join("src"));
    let auth = auth_file(&sandbox, &registry.host());
    let target = format!("docker://{}/x:1", registry.host());
    let push = sandbox.cmd().env("REGISTRY_AUTH_FILE", &auth).args(["copy", "oci:src:1", &target, NO_TLS]).output();
    assert_success(&push.unwrap());
    // Pulled into an empty store, so that every blob is downloaded.
    let fresh = Sandbox::new();
    let auth = auth_file(&fresh, &registry.host());
    let pull = fresh.cmd().env("REGISTRY_AUTH_FILE", &auth).args(["copy", &target, "oci:out", NO_TLS]).output();
    assert_success(&pull.unwrap());

    let to_other = other.requests();
    assert_eq!(to_other.iter().filter(|r| r.method == "PUT").count(), 1, "{to_other:?}");
    let downloaded: std::collections::BTreeSet<&str> =
        to_other.iter().filter(|r| r.method == "GET").map(|r| r.path.as_str()).collect();
    assert_eq!(downloaded.len(), 3, "every blob is downloaded from B: {to_other:?}");
    no_authorization(&other);
    // Relative and same-host Locations keep the credentials.
    let own: Vec<Request> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with("/v2/x/blobs/uploads/"))
        .collect();
    assert_eq!(own.len(), 2, "{own:?}");
    assert!(own.iter().all(|r| r.header("authorization") == Some(basic().as_str())), "{own:?}");
}

#[test]
fn a_token_realm_on_another_host_over_plain_http_is_asked_anonymously() {
    let image = Arc::new(Image::new(&[b"a layer"]));
    let tokens = Server::start(|request, stream| {
        let body = if request.header("authorization").is_some() { "password-token" } else { "anonymous-token" };
        respond(
            stream,
            "200 OK",
            &[("Content-Type", "application/json")],
            format!(r#"{{"token":"{body}"}}"#).as_bytes(),
        );
    });
    // Another host name for the same machine: another host to the client.
    let challenge = format!(r#"Bearer realm="http://localhost:{}/token",service="a""#, tokens.port);
    let served = Arc::clone(&image);
    let registry = Server::start(move |request, stream| match request.header("authorization") {
        Some(auth) if auth.starts_with("Bearer ") => {
            served.serve(request, stream);
        }
        _ => respond(stream, "401 Unauthorized", &[("WWW-Authenticate", &challenge)], b""),
    });
    let sandbox = Sandbox::new();
    let auth = auth_file(&sandbox, &registry.host());
    let source = format!("docker://{}/x:1", registry.host());
    let out = sandbox.cmd().env("REGISTRY_AUTH_FILE", &auth).args(["copy", &source, "oci:out", NO_TLS]).output();
    assert_success(&out.unwrap());
    no_authorization(&tokens);
    let used: Vec<Request> = registry.requests().into_iter().filter(|r| r.header("authorization").is_some()).collect();
    assert!(!used.is_empty() && used.iter().all(|r| r.header("authorization") == Some("Bearer anonymous-token")));
}

/// A registry that answers `/v2/` and serves `image`, except what `hostile`
/// takes over (returning true).
fn fake_registry(image: Image, hostile: impl Fn(&Request, &mut TcpStream) -> bool + Send + Sync + 'static) -> Server {
    Server::start(move |request, stream| {
        if request.path == "/v2/" {
            respond(stream, "200 OK", &[], b"{}");
        } else if !hostile(request, stream) {
            image.serve(request, stream);
        }
    })
}

/// `compose-img copy docker://HOST/x:1 oci:out --timeout 1`: fails (exit 1)
/// within a few seconds, naming `url` and the timeout.
fn times_out(server: &Server, path: &str) -> Duration {
    let sandbox = Sandbox::new();
    let source = format!("docker://{}/x:1", server.host());
    let (out, took) = timed(sandbox.cmd().args(["copy", &source, "oci:out", NO_TLS, "--timeout", "1"]));
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    let url = format!("http://{}{path}", server.host());
    assert!(message.contains(&url) && message.contains("timed out"), "{message}");
    assert!(took < Duration::from_secs(8), "took {took:?}: {message}");
    assert!(!sandbox.path().join("out").exists());
    eprintln!("{path}: failed after {took:?}: {}", message.trim());
    took
}

#[test]
fn stalling_registries_time_out_naming_the_url() {
    // A manifest sent one byte per 5 s.
    let image = Image::new(&[b"a layer"]);
    let manifest = image.manifest.clone();
    let trickle = fake_registry(image, move |request, stream| {
        if !request.path.contains("/manifests/") {
            return false;
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {MANIFEST}\r\nContent-Length: {}\r\n\r\n", manifest.len());
        let _ = stream.write_all(head.as_bytes());
        let started = Instant::now();
        for byte in &manifest {
            if stream.write_all(&[*byte]).is_err() || started.elapsed() > LIFETIME {
                break;
            }
            std::thread::sleep(Duration::from_secs(5));
        }
        true
    });
    times_out(&trickle, "/v2/x/manifests/1");

    // A layer announced with a Content-Length of 1e12 that never comes.
    let image = Image::new(&[b"a layer"]);
    let layer = Digest::of(b"a layer").to_string();
    let stalled_path = format!("/v2/x/blobs/{layer}");
    let stalled = fake_registry(image, {
        let path = stalled_path.clone();
        move |request, stream| {
            if request.path != path {
                return false;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n");
            stall(stream);
            true
        }
    });
    times_out(&stalled, &stalled_path);

    // A registry that takes the manifest request and never answers: tried
    // three times, each bounded by the idle timeout.
    let silent = fake_registry(Image::new(&[b"a layer"]), |request, stream| {
        if !request.path.contains("/manifests/") {
            return false;
        }
        stall(stream);
        true
    });
    times_out(&silent, "/v2/x/manifests/1");
    let asked = silent.requests().iter().filter(|r| r.path.contains("/manifests/")).count();
    assert_eq!(asked, 3, "a timed-out request is tried 3 times in all");
}

#[test]
fn an_endless_or_oversized_blob_stops_at_its_size_and_leaves_no_temp_file() {
    let layer: &[u8] = b"0123456789";
    let digest = Digest::of(layer).to_string();
    let layer_path = format!("/v2/x/blobs/{digest}");
    // An endless chunked body, then a Content-Length larger than the descriptor's.
    let endless = fake_registry(Image::new(&[layer]), {
        let path = layer_path.clone();
        move |request, stream| {
            if request.path != path {
                return false;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            let chunk = [b'0'; 4096];
            let started = Instant::now();
            while started.elapsed() < LIFETIME {
                let sent = stream
                    .write_all(b"1000\r\n")
                    .and_then(|()| stream.write_all(&chunk))
                    .and_then(|()| stream.write_all(b"\r\n"));
                if sent.is_err() {
                    break;
                }
            }
            true
        }
    });
    let oversized = fake_registry(Image::new(&[layer]), {
        let path = layer_path.clone();
        move |request, stream| {
            if request.path != path {
                return false;
            }
            respond(stream, "200 OK", &[], &[b'0'; 1 << 20]);
            true
        }
    });
    for server in [&endless, &oversized] {
        let sandbox = Sandbox::new();
        let source = format!("docker://{}/x:1", server.host());
        let (out, took) = timed(sandbox.cmd().args(["copy", &source, "oci:out", NO_TLS]));
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{message}");
        assert!(message.contains(&digest) && message.contains("more than the 10 bytes"), "{message}");
        assert!(took < Duration::from_secs(8), "took {took:?}: {message}");
        #[allow(clippy::disallowed_methods, reason = "only whether it is empty: order does not matter")]
        let tmp: Vec<_> = std::fs::read_dir(sandbox.store().join("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "left in the store's tmp: {tmp:?}");
        assert!(!sandbox.store().join("blobs-v1/sha256").join(digest.trim_start_matches("sha256:")).exists());
        assert!(!sandbox.path().join("out").exists());
        eprintln!("{}: failed after {took:?}: {}", server.host(), message.trim());
    }
}

/// A registry that answers the referrers API (`GET /v2/x/referrers/DIGEST`,
/// which docker-registry 2.8 lacks) serving a signed layout: `verify`
/// finds the bundle through the API, and a push of a signed image keeps no
/// referrers tag there (the registry lists the pushed referrer itself).
#[test]
fn a_registry_with_the_referrers_api_is_asked_and_no_referrers_tag_is_kept() {
    let sandbox = Sandbox::new();
    let cmd = || {
        let mut cmd = sandbox.cmd();
        cmd.env("COSIGN_PASSWORD", "pw");
        cmd
    };
    assert_success(&cmd().args(["keygen", "--output-prefix", "k"]).output().unwrap());
    let hello = common::repo().join("recipes/hello.toml");
    let out = cmd().arg("build").arg(&hello).args(["--sign-key", "k.key", "--output", "oci:src:1"]).output().unwrap();
    assert_success(&out);
    let digest = common::first_digest(&out);
    let layout = sandbox.path().join("src");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let referrers: Vec<serde_json::Value> =
        index["manifests"].as_array().unwrap().iter().filter(|e| e.get("artifactType").is_some()).cloned().collect();
    // The signature's bundle and the provenance's.
    assert_eq!(referrers.len(), 2, "{index}");
    let listed = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": referrers,
    }))
    .unwrap();
    let image = common::blob(&layout, &digest);
    let (blobs, subject) = (layout.join("blobs/sha256"), format!("/v2/x/referrers/{digest}"));
    let registry = Server::start(move |request, stream| {
        let path = request.path.as_str();
        let stored = |d: &str| std::fs::read(blobs.join(d.trim_start_matches("sha256:"))).ok();
        let found = path.rsplit('/').next().and_then(stored);
        match (request.method.as_str(), found) {
            (_, _) if path == "/v2/" => respond(stream, "200 OK", &[], b"{}"),
            ("GET", _) if path == subject => {
                respond(stream, "200 OK", &[("Content-Type", "application/vnd.oci.image.index.v1+json")], &listed);
            }
            ("GET", _) if path.starts_with("/v2/x/referrers/") => {
                let empty =
                    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
                respond(stream, "200 OK", &[("Content-Type", "application/vnd.oci.image.index.v1+json")], empty);
            }
            ("GET", _) if path == "/v2/x/manifests/1" => {
                respond(stream, "200 OK", &[("Content-Type", MANIFEST)], &image)
            }
            ("GET", Some(bytes)) if path.contains("/manifests/") => {
                respond(stream, "200 OK", &[("Content-Type", MANIFEST)], &bytes);
            }
            ("GET" | "HEAD", Some(bytes)) => respond(stream, "200 OK", &[], &bytes),
            ("PUT", _) if path.contains("/manifests/") => respond(stream, "201 Created", &[], b""),
            _ => respond(stream, "404 Not Found", &[], b""),
        }
    });
    let target = format!("docker://{}/x:1", registry.host());
    let out =
        sandbox.cmd().args(["verify", &target, "--key", "k.pub", "--identity", "localhost/hello", NO_TLS]).output();
    let out = out.unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("(identity localhost/hello; bundle)"), "{out:?}");
    let asked = registry.requests();
    assert!(asked.iter().any(|r| r.path == format!("/v2/x/referrers/{digest}")), "{asked:?}");

    // Pushed: the referrer by its digest, the registry asked, no
    // `sha256-<hex>` index written (the image's `.sig` tag is).
    let copy = sandbox.cmd().args(["copy", "oci:src:1", &target, NO_TLS]).output().unwrap();
    assert_success(&copy);
    let puts: Vec<String> = registry.requests().into_iter().filter(|r| r.method == "PUT").map(|r| r.path).collect();
    let hex = digest.trim_start_matches("sha256:");
    let referrer = referrers_digest(&index);
    assert!(puts.contains(&format!("/v2/x/manifests/{referrer}")), "{puts:?}");
    assert!(puts.contains(&format!("/v2/x/manifests/sha256-{hex}.sig")), "{puts:?}");
    assert!(!puts.contains(&format!("/v2/x/manifests/sha256-{hex}")), "{puts:?}");
}

/// The digest of the one artifact entry of a layout's `index.json`.
fn referrers_digest(index: &serde_json::Value) -> String {
    let entries = index["manifests"].as_array().unwrap();
    let entry = entries.iter().find(|e| e.get("artifactType").is_some()).unwrap();
    entry["digest"].as_str().unwrap().to_owned()
}

/// A registry that refuses every cross-repository mount (it answers with
/// an upload session, as registries without mounts do): a child of its
/// `base` image pushed to `child` in it, whose parent layer the build did
/// not download (only documents are fetched for a push to the parent's
/// registry), gets the layer downloaded once, checked, and uploaded.
#[test]
fn a_refused_mount_falls_back_to_download_and_upload() {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, "etc/base", &b"base\n"[..]).unwrap();
    let layer = tar.into_inner().unwrap();
    let layer_digest = Digest::of(&layer).to_string();
    let image = Image::new(&[&layer]);
    let registry = fake_registry(image, |request, stream| {
        let path = request.path.as_str();
        match request.method.as_str() {
            "HEAD" if path.starts_with("/v2/child/blobs/") => respond(stream, "404 Not Found", &[], b""),
            "POST" if path.starts_with("/v2/child/blobs/uploads/") => {
                let location =
                    if path.contains("mount=") { "/v2/child/blobs/uploads/m" } else { "/v2/child/blobs/uploads/u" };
                respond(stream, "202 Accepted", &[("Location", location)], b"");
            }
            "PATCH" if path.starts_with("/v2/child/blobs/uploads/") => {
                respond(stream, "202 Accepted", &[("Location", "/v2/child/blobs/uploads/u")], b"");
            }
            "PUT" if path.starts_with("/v2/child/") => respond(stream, "201 Created", &[], b""),
            "GET" if path.starts_with("/v2/child/manifests/") => respond(stream, "404 Not Found", &[], b""),
            _ => return false,
        }
        true
    });
    let sandbox = Sandbox::new();
    let host = registry.host();
    sandbox.write(
        "child.toml",
        &format!(
            "[image]\nname = \"{host}/child\"\n[from]\nimage = \"{host}/base:1\"\n\
             [[layer]]\nname = \"app\"\n[[layer.file]]\npath = \"/etc/app\"\ncontent = \"app\\n\"\n"
        ),
    );
    let target = format!("docker://{host}/child:1");
    let out = sandbox.cmd().args(["build", "child.toml", "--output", &target, NO_TLS]).output().unwrap();
    assert_success(&out);
    let requests = registry.requests();
    let count = |method: &str, path: &str| requests.iter().filter(|r| r.method == method && r.path == path).count();
    assert_eq!(count("GET", &format!("/v2/base/blobs/{layer_digest}")), 1, "downloaded once: {requests:#?}");
    let mounts = requests.iter().filter(|r| r.method == "POST" && r.path.contains("mount=")).count();
    assert!(mounts >= 1, "a mount was tried first: {requests:#?}");
    let uploaded = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with("/v2/child/blobs/uploads/"))
        .any(|r| r.path.contains(&layer_digest.replace(':', "%3A")) || r.path.contains(&layer_digest));
    assert!(uploaded, "the parent layer was uploaded: {requests:#?}");
    assert_eq!(count("PUT", "/v2/child/manifests/1"), 1);
}

/// A registry that counts the uploads it serves at once (each held a
/// while): a push of four layers has at most `--jobs` in flight.
#[test]
fn blob_uploads_of_a_push_are_bounded_by_jobs() {
    let most_in_flight = |jobs: &str| -> usize {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (seen_now, seen_most) = (Arc::clone(&now), Arc::clone(&most));
        let registry = Server::start(move |request, stream| {
            let path = request.path.as_str();
            match request.method.as_str() {
                _ if path == "/v2/" => respond(stream, "200 OK", &[], b"{}"),
                "POST" if path.contains("/blobs/uploads/") => {
                    let in_flight = seen_now.fetch_add(1, Ordering::SeqCst) + 1;
                    seen_most.fetch_max(in_flight, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    seen_now.fetch_sub(1, Ordering::SeqCst);
                    respond(stream, "202 Accepted", &[("Location", "/v2/m/blobs/uploads/u")], b"");
                }
                "PUT" | "PATCH" => respond(stream, "201 Created", &[], b""),
                _ => respond(stream, "404 Not Found", &[], b""),
            }
        });
        let sandbox = Sandbox::new();
        let layers: String = (0..4)
            .map(|i| format!("[[layer]]\nname = \"l{i}\"\n[[layer.file]]\npath = \"/f{i}\"\ncontent = \"{i}\"\n"))
            .collect();
        sandbox.write("m.toml", &format!("[image]\nname = \"localhost/m\"\n[from]\nscratch = true\n{layers}"));
        let target = format!("docker://{}/m:1", registry.host());
        let out = sandbox.cmd().args(["build", "m.toml", "--jobs", jobs, "--output", &target, NO_TLS]).output();
        assert_success(&out.unwrap());
        most.load(Ordering::SeqCst)
    };
    assert_eq!(most_in_flight("1"), 1);
    assert!(most_in_flight("4") >= 2, "uploads run in parallel with more jobs");
}
