//! The shared layer cache in a registry (`--cache`, docs/cache.md), against
//! Debian's docker-registry: "machines" are sandboxes with their own empty
//! stores that share nothing but the registry; what crossed the wire is
//! counted from the registry's log.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Registry, Sandbox, assert_success, run, tool};

const NO_TLS: &str = "--tls-verify=false";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A recipe of three layers: busybox, a file of `noise_seed` noise, and a
/// small file; `name` is the image's short name.
fn recipe(sandbox: &Sandbox, name: &str, noise_seed: u64) -> String {
    sandbox.write_bytes(&format!("{name}/noise.bin"), &common::noise(noise_seed, 3 << 20));
    let text = format!(
        "[image]\nname = \"localhost/{name}\"\n[from]\nscratch = true\n[config]\nentrypoint = [\"/bin/busybox\", \"cat\"]\n\
         cmd = [\"/etc/motd\"]\n\
         [[layer]]\nname = \"busybox\"\n[[layer.copy]]\nsrc = \"/bin/busybox\"\ndest = \"/bin/\"\nmode = \"0755\"\n\
         [[layer]]\nname = \"noise\"\n[[layer.copy]]\nsrc = \"noise.bin\"\ndest = \"/data/\"\n\
         [[layer]]\nname = \"motd\"\n[[layer.file]]\npath = \"/etc/motd\"\ncontent = \"from {name}\\n\"\n"
    );
    sandbox.write(&format!("{name}/{name}.toml"), &text).display().to_string()
}

/// `build RECIPE ARGS...` in `sandbox`; the output, checked for success.
fn build(sandbox: &Sandbox, recipe: &str, args: &[&str]) -> Output {
    let out = sandbox.cmd().arg("build").arg(recipe).args(args).arg(NO_TLS).output().unwrap();
    assert_success(&out);
    out
}

/// The layer digests of the image at `reference` (docker://...), asked
/// with the environment `env` (an auth file).
fn layer_digests_with(reference: &str, env: &[(&str, &std::path::Path)]) -> Vec<String> {
    let mut cmd = Command::new(tool("skopeo"));
    for (name, value) in env {
        cmd.env(name, value);
    }
    let info = run(cmd.args(["inspect", NO_TLS, reference]));
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    info["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect()
}

fn layer_digests(reference: &str) -> Vec<String> {
    layer_digests_with(reference, &[])
}

/// The counts of the build summary line: (built, reused).
fn built_reused(out: &Output) -> (usize, usize) {
    let text = stderr(out);
    let line = text.lines().find(|l| l.starts_with("layers: ")).unwrap_or_else(|| panic!("no summary: {text}"));
    let number = |word: &str| {
        let before = line.split(word).next().unwrap();
        before.trim_end().rsplit([' ', ',']).next().unwrap().parse::<usize>().unwrap()
    };
    (number(" built"), number(" reused"))
}

/// Machine A builds with the cache and pushes; machine B, with an empty
/// store, builds nothing and downloads no layer when pushing to the same
/// registry; machine C, writing a layout, fetches the layers and checks them.
fn two_machines(registry: &Registry, env: &[(&str, &std::path::Path)]) {
    let cache = format!("docker://{}/team/cache", registry.host);
    let (a, b, c) = (Sandbox::new(), Sandbox::new(), Sandbox::new());
    let with_env = |cmd: &mut Command| {
        for (name, value) in env {
            cmd.env(name, value);
        }
    };
    let build_on = |sandbox: &Sandbox, output: &str| {
        let recipe = recipe(sandbox, "app", 7);
        let mut cmd = sandbox.cmd();
        with_env(&mut cmd);
        // gzip: umoci 0.4.7 reads no zstd layers.
        let args = ["build", &recipe, "--compression", "gzip", "--cache", &cache, "--output", output, NO_TLS];
        let out = cmd.args(args).output().unwrap();
        assert_success(&out);
        out
    };
    let first = format!("docker://{}/team/app-a:1", registry.host);
    let out = build_on(&a, &first);
    assert_eq!(built_reused(&out), (3, 0), "{}", stderr(&out));
    assert!(stderr(&out).contains("3 written to it"), "{}", stderr(&out));
    let digest = common::first_digest(&out);
    let layers = layer_digests_with(&first, env);
    assert_eq!(layers.len(), 3);
    let gets_before: usize = layers.iter().map(|l| registry.blob_gets(l)).sum();

    let second = format!("docker://{}/team/app-b:1", registry.host);
    let out = build_on(&b, &second);
    assert_eq!(built_reused(&out), (0, 3), "machine B built layers: {}", stderr(&out));
    assert!(stderr(&out).contains("3 from the shared cache"), "{}", stderr(&out));
    assert_eq!(common::first_digest(&out), digest, "the same image");
    let gets: usize = layers.iter().map(|l| registry.blob_gets(l)).sum();
    assert_eq!(gets, gets_before, "a layer blob was downloaded for a push to the same registry");
    assert_eq!(registry.mounts("team/app-b"), 3, "layers mounted from the cache: {}", stderr(&out));
    assert_eq!(registry.uploads("team/app-b"), 1, "only the config is uploaded");
    for layer in &layers {
        assert!(!b.store().join("blobs-v1/sha256").join(layer.trim_start_matches("sha256:")).exists());
    }

    let layout = c.path().join("layout");
    let out = build_on(&c, &format!("oci:{}:1", layout.display()));
    assert_eq!(built_reused(&out), (0, 3), "machine C built layers: {}", stderr(&out));
    assert_eq!(common::first_digest(&out), digest);
    for layer in &layers {
        assert_eq!(registry.blob_gets(layer), 1, "fetched once for the layout");
        let bytes = common::blob(&layout, layer);
        assert_eq!(format!("sha256:{}", sha256_hex(&bytes)), *layer);
    }
    // umoci reads the layout: the fetched layers are whole tars.
    let bundle = c.path().join("bundle");
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:1", layout.display()))
        .arg(&bundle));
    assert_eq!(std::fs::read_to_string(bundle.join("rootfs/etc/motd")).unwrap(), "from app\n");
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new(tool("sha256sum"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap().split(' ').next().unwrap().to_owned()
}

#[test]
fn a_second_machine_builds_nothing_and_downloads_nothing_for_the_same_registry() {
    let registry = Registry::start();
    two_machines(&registry, &[]);
}

#[test]
fn the_cache_behind_basic_auth_with_credentials_and_a_warning_without() {
    let registry = Registry::with_basic_auth("builder", "s3cret");
    let sandbox = Sandbox::new();
    let auth = sandbox
        .write("auth.json", &format!(r#"{{"auths":{{"{}":{{"auth":"YnVpbGRlcjpzM2NyZXQ="}}}}}}"#, registry.host));
    two_machines(&registry, &[("REGISTRY_AUTH_FILE", auth.as_path())]);

    // Without credentials: a warning, and the build goes on locally.
    let recipe = recipe(&sandbox, "app", 7);
    let cache = format!("docker://{}/team/cache", registry.host);
    let layout = format!("oci:{}:1", sandbox.path().join("out").display());
    let empty = sandbox.write("empty.json", r#"{"auths":{}}"#);
    let out = sandbox
        .cmd()
        .env("REGISTRY_AUTH_FILE", &empty)
        .args(["build", &recipe, "--cache", &cache, "--output", &layout, NO_TLS])
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(built_reused(&out), (3, 0));
    let message = stderr(&out);
    assert!(message.contains("warning: shared cache docker://"), "{message}");
    assert!(message.contains("building without it"), "{message}");
    // ... unless the cache is required.
    let out = Sandbox::new()
        .cmd()
        .env("REGISTRY_AUTH_FILE", &empty)
        .args(["build", &recipe, "--cache", &cache, "--cache-required", "--output", &layout, NO_TLS])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("authentication required"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

/// Machine B's build after a spoiled cache ([`spoiled_cache`]).
struct AfterSpoiling {
    registry: Registry,
    /// B's sandbox (its layout is `layout` in it).
    b: Sandbox,
    out: Output,
    /// The image machine A built and pushed.
    digest: String,
}

/// Machine A builds the app recipe of `seed` with the cache
/// `docker://HOST/cache` and pushes it; `spoil` then changes the
/// registry's storage (given the image's layer digests); machine B, with
/// an empty store, builds the same recipe into a layout.
fn spoiled_cache(seed: u64, spoil: impl FnOnce(&Registry, &[String])) -> AfterSpoiling {
    let registry = Registry::start();
    let cache = format!("docker://{}/cache", registry.host);
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let pushed = format!("docker://{}/app:1", registry.host);
    let out = build(&a, &recipe(&a, "app", seed), &["--cache", &cache, "--output", &pushed]);
    let digest = common::first_digest(&out);
    spoil(&registry, &layer_digests(&pushed));
    let layout = format!("oci:{}:1", b.path().join("layout").display());
    let out = build(&b, &recipe(&b, "app", seed), &["--cache", &cache, "--output", &layout]);
    AfterSpoiling { registry, b, out, digest }
}

#[test]
fn a_tampered_cache_blob_is_refused_and_the_layer_built_locally() {
    let mut noise_layer = String::new();
    let after = spoiled_cache(3, |registry, layers| {
        noise_layer = layers[1].clone();
        // The same size, other bytes: only the digest tells.
        let file = registry.blob_file(&noise_layer);
        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&file, bytes).unwrap();
    });
    let message = stderr(&after.out);
    assert_eq!(built_reused(&after.out), (1, 2), "{message}");
    assert!(message.contains(&format!("warning: shared cache docker://{}/cache", after.registry.host)), "{message}");
    assert!(message.contains("building noise locally"), "{message}");
    assert_eq!(
        common::first_digest(&after.out),
        after.digest,
        "the layer built locally is the one the cache should have had"
    );
    let blob = common::blob(&after.b.path().join("layout"), &noise_layer);
    assert_eq!(format!("sha256:{}", sha256_hex(&blob)), noise_layer);
}

/// The tag of the cache entry in `repo` whose layer is `layer`.
fn entry_tag_of(registry: &Registry, repo: &str, layer: &str) -> String {
    let tags =
        run(Command::new(tool("skopeo")).args(["list-tags", NO_TLS, &format!("docker://{}/{repo}", registry.host)]));
    let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
    let tags = tags["Tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned());
    tags.filter(|tag| tag.starts_with("layer-"))
        .find(|tag| {
            let reference = format!("docker://{}/{repo}:{tag}", registry.host);
            let raw = run(Command::new(tool("skopeo")).args(["inspect", "--raw", NO_TLS, &reference]));
            let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
            manifest["layers"][0]["digest"] == layer
        })
        .unwrap_or_else(|| panic!("no entry for {layer}"))
}

#[test]
fn an_entry_for_another_key_is_unusable_a_warning_and_a_local_build() {
    let mut tags = (String::new(), String::new());
    let after = spoiled_cache(5, |registry, layers| {
        // The noise layer's tag made to name the motd layer's entry, as a
        // registry that mixed up its tags would.
        tags = (entry_tag_of(registry, "cache", &layers[1]), entry_tag_of(registry, "cache", &layers[2]));
        let link = std::fs::read(registry.tag_link("cache", &tags.1)).unwrap();
        std::fs::write(registry.tag_link("cache", &tags.0), link).unwrap();
    });
    let message = stderr(&after.out);
    assert_eq!(built_reused(&after.out), (1, 2), "{message}");
    let key = tags.0.trim_start_matches("layer-");
    let other = tags.1.trim_start_matches("layer-");
    let warning = format!(
        "docker://{}/cache: entry for sha256:{key} unusable: it is for key sha256:{other}",
        after.registry.host
    );
    assert!(message.contains(&warning), "{message}");
    assert_eq!(common::first_digest(&after.out), after.digest, "the layer built locally is the right one");
}

/// A TCP proxy in front of `registry` that stops the registry as soon as a
/// request names one of `triggers` (before forwarding it).
fn stopping_proxy(registry: Registry, triggers: Vec<String>) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let upstream = registry.host.clone();
    let registry = Arc::new(std::sync::Mutex::new(registry));
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopped);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let (registry, triggers, upstream, flag) =
                (Arc::clone(&registry), triggers.clone(), upstream.clone(), Arc::clone(&flag));
            std::thread::spawn(move || {
                let Ok(mut server) = TcpStream::connect(&upstream) else { return };
                let mut back = server.try_clone().unwrap();
                let mut client_back = client.try_clone().unwrap();
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut back, &mut client_back);
                });
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let Ok(n) = client.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]);
                    if triggers.iter().any(|t| text.contains(t.as_str())) {
                        registry.lock().unwrap().stop();
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (host, stopped)
}

#[test]
fn the_cache_registry_stopped_mid_build_leaves_a_local_build_and_a_warning() {
    let registry = Registry::start();
    let a = Sandbox::new();
    let cache = format!("docker://{}/cache", registry.host);
    let layout_a = a.path().join("layout");
    let out =
        build(&a, &recipe(&a, "app", 5), &["--cache", &cache, "--output", &format!("oci:{}:1", layout_a.display())]);
    let digest = common::first_digest(&out);
    let manifest = common::json_blob(&layout_a, &digest);
    let layers: Vec<String> =
        manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_owned()).collect();
    // The lookups pass; the first layer fetched or blob pushed stops it.
    let mut triggers: Vec<String> = layers.iter().map(|l| format!("/blobs/{l}")).collect();
    triggers.push("/blobs/uploads/".into());
    let (proxy, stopped) = stopping_proxy(registry, triggers);

    let b = Sandbox::new();
    // Same layers and one more the cache lacks (pushed after it is built).
    let recipe_b = recipe(&b, "app", 5);
    let text = std::fs::read_to_string(&recipe_b).unwrap()
        + "[[layer]]\nname = \"extra\"\n[[layer.file]]\npath = \"/x\"\ncontent = \"x\"\n";
    std::fs::write(&recipe_b, text).unwrap();
    let layout_b = b.path().join("layout");
    let proxied = format!("docker://{proxy}/cache");
    let out = b
        .cmd()
        .args(["build", &recipe_b, "--cache", &proxied, "--output", &format!("oci:{}:1", layout_b.display()), NO_TLS])
        .args(["--timeout", "5"])
        .output()
        .unwrap();
    assert_success(&out);
    assert!(stopped.load(Ordering::SeqCst), "the registry was not stopped: {}", stderr(&out));
    assert_eq!(built_reused(&out), (4, 0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: shared cache docker://"), "{}", stderr(&out));
    // The image is what a build without the cache makes.
    let c = Sandbox::new();
    let recipe_c = recipe(&c, "app", 5);
    std::fs::copy(&recipe_b, &recipe_c).unwrap();
    let plain = build(&c, &recipe_c, &["--output", &format!("oci:{}:1", c.path().join("l").display())]);
    assert_eq!(common::first_digest(&out), common::first_digest(&plain));
}

#[test]
fn plan_says_where_each_layer_would_come_from() {
    let registry = Registry::start();
    let cache = format!("docker://{}/cache", registry.host);
    let (a, b) = (Sandbox::new(), Sandbox::new());
    build(
        &a,
        &recipe(&a, "app", 9),
        &["--cache", &cache, "--output", &format!("oci:{}:1", a.path().join("o").display())],
    );
    let recipe_b = recipe(&b, "app", 9);
    let text = std::fs::read_to_string(&recipe_b).unwrap().replace("from app", "from elsewhere");
    std::fs::write(&recipe_b, text).unwrap();
    let out = b.cmd().args(["plan", &recipe_b, "--json", "--cache", &cache, NO_TLS]).output().unwrap();
    assert_success(&out);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<(bool, Option<bool>)> = plan[0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["cached"].as_bool().unwrap(), l["remote"].as_bool()))
        .collect();
    assert_eq!(states, [(false, Some(true)), (false, Some(true)), (false, Some(false))]);
    let out = b.cmd().args(["plan", &recipe_b, "--cache", &cache, NO_TLS]).output().unwrap();
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(tree.matches(" remote ").count(), 2, "{tree}");
    assert_eq!(tree.matches(" build ").count(), 1, "{tree}");
}

#[test]
fn a_push_mounts_layers_another_repository_of_the_registry_has() {
    let registry = Registry::start();
    let sandbox = Sandbox::new();
    let recipe = recipe(&sandbox, "app", 11);
    build(&sandbox, &recipe, &["--output", &format!("docker://{}/one/app:1", registry.host)]);
    assert_eq!(registry.uploads("one/app"), 4);
    let out = build(&sandbox, &recipe, &["--output", &format!("docker://{}/two/app:1", registry.host)]);
    assert!(stderr(&out).contains("0 blobs uploaded (0 B), 0 already there, 4 mounted"), "{}", stderr(&out));
    assert_eq!(registry.uploads("two/app"), 0);
    assert_eq!(registry.mounts("two/app"), 4);
}

#[test]
fn a_child_of_a_registry_parent_pushed_there_downloads_no_parent_layer() {
    let registry = Registry::start();
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let parent = format!("docker://{}/base:1", registry.host);
    build(&a, &recipe(&a, "base", 13), &["--output", &parent]);
    let parent_layers = layer_digests(&parent);
    let child = b.write(
        "child.toml",
        &format!(
            "[image]\nname = \"localhost/child\"\n[from]\nimage = \"{}/base:1\"\n\
             [[layer]]\nname = \"extra\"\n[[layer.file]]\npath = \"/etc/child\"\ncontent = \"x\"\n",
            registry.host
        ),
    );
    let child = child.display().to_string();
    let pushed = format!("docker://{}/child:1", registry.host);
    let out = build(&b, &child, &["--output", &pushed]);
    let gets: usize = parent_layers.iter().map(|l| registry.blob_gets(l)).sum();
    assert_eq!(gets, 0, "a parent layer was downloaded: {}", stderr(&out));
    assert!(stderr(&out).contains("3 mounted"), "{}", stderr(&out));
    let layers = layer_digests(&pushed);
    assert_eq!(layers[..3], parent_layers[..]);
    // podman runs it: every layer is in the child's repository.
    let podman = common::Podman::new(b.path());
    let image = pushed.trim_start_matches("docker://");
    run(podman.cmd().args(["pull", "-q", NO_TLS, image]));
    assert_eq!(podman.run(image, &[]), "from base\n");

    // The same child to a layout needs the parent's bytes (podman pulled
    // them once already).
    let layout = b.path().join("layout");
    let before: Vec<usize> = parent_layers.iter().map(|l| registry.blob_gets(l)).collect();
    let out = build(&b, &child, &["--output", &format!("oci:{}:1", layout.display())]);
    for (layer, before) in parent_layers.iter().zip(before) {
        assert_eq!(registry.blob_gets(layer), before + 1, "{}", stderr(&out));
        assert_eq!(format!("sha256:{}", sha256_hex(&common::blob(&layout, layer))), *layer);
    }
}

/// Four machines (empty stores) build six recipes that share layers, at
/// the same time, each its own order, against one cache.
#[test]
fn a_fleet_builds_each_shared_layer_far_fewer_times() {
    let registry = Registry::start();
    let cache = format!("docker://{}/fleet/cache", registry.host);
    let recipes = Sandbox::new();
    // busybox: all six; noise: pairs (seeds 0..3); motd: each its own.
    let paths: Vec<String> = (0..6).map(|r| recipe(&recipes, &format!("app{r}"), r % 3)).collect();
    let machines: Vec<Sandbox> = (0..4).map(|_| Sandbox::new()).collect();
    let results: Vec<Vec<(usize, String, Vec<String>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = machines
            .iter()
            .enumerate()
            .map(|(m, machine)| {
                let (paths, cache) = (&paths, &cache);
                scope.spawn(move || {
                    (0..6)
                        .map(|step| {
                            let r = (m + step) % 6;
                            let layout = machine.path().join(format!("out{r}"));
                            let out = machine
                                .cmd()
                                .args(["build", &paths[r], "--verbose", "--cache", cache, NO_TLS, "--output"])
                                .arg(format!("oci:{}:1", layout.display()))
                                .output()
                                .unwrap();
                            assert_success(&out);
                            let built: Vec<String> = stderr(&out)
                                .lines()
                                .filter(|l| l.starts_with("built layer "))
                                .map(|l| l.rsplit(" key ").next().unwrap().to_owned())
                                .collect();
                            (r, common::first_digest(&out), built)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Every image is the one a build without the cache makes.
    let alone = Sandbox::new();
    let expected: Vec<String> = (0..6)
        .map(|r| {
            let out = build(
                &alone,
                &paths[r],
                &["--output", &format!("oci:{}:1", alone.path().join(format!("o{r}")).display())],
            );
            common::first_digest(&out)
        })
        .collect();
    let mut builds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (machine, steps) in results.iter().enumerate() {
        for (r, digest, built) in steps {
            assert_eq!(*digest, expected[*r], "machine {machine}, recipe app{r}");
            for key in built {
                *builds.entry(key.clone()).or_default() += 1;
            }
        }
        let fsck = machines[machine].cmd().args(["store", "fsck"]).output().unwrap();
        assert_success(&fsck);
    }
    let total: usize = builds.values().sum();
    // Without the cache each machine builds each of the 10 distinct layers once.
    let without = 4 * 10;
    eprintln!("fleet: {total} layer builds with the shared cache, {without} without; per layer: {builds:?}");
    assert!(builds.len() <= 10, "{builds:?}");
    assert!(total * 2 <= without, "{total} builds with the cache, {without} without: {builds:?}");
}

/// A layer whose plugin reads the layers below is keyed only once they are
/// built: a second machine looks it up then, and builds no layer either.
#[test]
fn a_layer_keyed_once_the_layers_below_are_built_is_found_then() {
    let registry = Registry::start();
    let cache = format!("docker://{}/team/cache", registry.host);
    let machine = |sandbox: &Sandbox| {
        sandbox.write(
            "sums.rhai",
            "fn layer(ctx, args) {\n  ctx.file(\"/etc/busybox.sha256\", ctx.sha256_lower(\"/bin/busybox\") + \"\\n\");\n}\n",
        );
        let text = "[image]\nname = \"localhost/sums\"\n[from]\nscratch = true\n\
                    [[layer]]\nname = \"busybox\"\n[[layer.copy]]\nsrc = \"/bin/busybox\"\ndest = \"/bin/\"\nmode = \"0755\"\n\
                    [[layer]]\nname = \"sums\"\n[[layer.plugin]]\nscript = \"sums.rhai\"\n";
        let recipe = sandbox.write("sums.toml", text).display().to_string();
        build(sandbox, &recipe, &["--cache", &cache, "--output", "oci:out:1"])
    };
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let first = machine(&a);
    assert_eq!(built_reused(&first), (2, 0), "{}", stderr(&first));
    assert!(stderr(&first).contains("2 written to it"), "{}", stderr(&first));
    let second = machine(&b);
    assert_eq!(built_reused(&second), (0, 2), "machine B built a layer: {}", stderr(&second));
    assert!(stderr(&second).contains("2 from the shared cache"), "{}", stderr(&second));
    assert_eq!(common::first_digest(&second), common::first_digest(&first), "the same image");
    run(b.cmd().args(["unpack", "oci:out:1", "root"]));
    let expected = format!("{}\n", sha256_hex(&std::fs::read("/bin/busybox").unwrap()));
    assert_eq!(std::fs::read_to_string(b.path().join("root/etc/busybox.sha256")).unwrap(), expected);
}

/// The image a copy takes files from (`copy.recipe`) is built with the
/// shared cache too: a second machine builds none of its layers.
#[test]
fn the_stage_a_copy_takes_files_from_is_shared_too() {
    let registry = Registry::start();
    let cache = format!("docker://{}/team/cache", registry.host);
    let machine = |sandbox: &Sandbox| {
        sandbox.write(
            "stage.toml",
            "[image]\nname = \"localhost/stage\"\n[from]\nscratch = true\n\
             [[layer]]\n[[layer.copy]]\nsrc = \"/bin/busybox\"\ndest = \"/bin/\"\nmode = \"0755\"\n\
             [[layer]]\n[[layer.file]]\npath = \"/out/app\"\ncontent = \"#!/bin/sh\\necho built by a stage\\n\"\n",
        );
        let text = "[image]\nname = \"localhost/final\"\n[from]\nscratch = true\n\
                    [[layer]]\n[[layer.copy]]\nrecipe = \"stage.toml\"\nsrc = \"/out/app\"\ndest = \"/usr/bin/app\"\n";
        let recipe = sandbox.write("final.toml", text).display().to_string();
        build(sandbox, &recipe, &["--cache", &cache, "--output", "oci:out:1"])
    };
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let first = machine(&a);
    assert!(stderr(&first).contains("1 written to it"), "{}", stderr(&first));
    // An entry is two uploads (its layer and its JSON): the stage's two
    // layers were published beside the image's one.
    let published = registry.uploads("team/cache");
    assert_eq!(published, 6, "{}", stderr(&first));
    let second = machine(&b);
    assert_eq!(built_reused(&second), (0, 1), "{}", stderr(&second));
    assert_eq!(registry.uploads("team/cache"), published, "machine B built and published a stage layer");
    assert_eq!(common::first_digest(&second), common::first_digest(&first), "the same image");
}

/// A cache that cannot be reached is one warning, also for the layers
/// keyed only once built (each would otherwise ask, and wait, again).
#[test]
fn an_unreachable_cache_is_one_warning_for_layers_keyed_late_too() {
    let mut registry = Registry::start();
    let cache = format!("docker://{}/team/cache", registry.host);
    registry.stop();
    let sandbox = Sandbox::new();
    sandbox.write("sums.rhai", "fn layer(ctx, args) {\n  ctx.file(args.to, ctx.sha256_lower(\"/bin/busybox\"));\n}\n");
    let text = "[image]\nname = \"localhost/sums\"\n[from]\nscratch = true\n\
                [[layer]]\n[[layer.copy]]\nsrc = \"/bin/busybox\"\ndest = \"/bin/\"\n\
                [[layer]]\n[[layer.plugin]]\nscript = \"sums.rhai\"\nwith = { to = \"/a\" }\n\
                [[layer]]\n[[layer.plugin]]\nscript = \"sums.rhai\"\nwith = { to = \"/b\" }\n";
    let recipe = sandbox.write("sums.toml", text).display().to_string();
    let out = build(&sandbox, &recipe, &["--cache", &cache, "--output", "oci:out:1", "--timeout", "5"]);
    assert_eq!(built_reused(&out), (3, 0), "{}", stderr(&out));
    let warnings = stderr(&out).lines().filter(|l| l.contains("warning: shared cache docker://")).count();
    assert_eq!(warnings, 1, "{}", stderr(&out));
}
