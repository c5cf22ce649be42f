//! Recipes behave as a Dockerfile user expects: `.composeignore`, recipe
//! variables, Docker's config rules (checked by running the image under
//! podman), and warnings instead of silent no-ops.

use crate::common;

use common::{Sandbox, run};

/// stderr from the first warning or note to the line that counts them.
fn remarks(stderr: &str) -> String {
    let start = stderr.find("  ⚠").or_else(|| stderr.find("  ☞")).unwrap_or_else(|| panic!("no remark:\n{stderr}"));
    let rest = &stderr[start..];
    let end = rest.find("\nerror:").or_else(|| rest.find("\nwarning:")).map_or(rest.len(), |i| i + 1);
    let line_end = rest[end..].find('\n').map_or(rest.len(), |i| end + i + 1);
    rest[..line_end].to_owned()
}

/// The paths `compose-img ls` lists in `image`.
fn listed(sandbox: &Sandbox, image: &str) -> Vec<String> {
    let out = run(sandbox.cmd().args(["ls", image]));
    out.lines().filter_map(|line| line.split_whitespace().last().map(str::to_owned)).collect()
}

#[test]
fn composeignore_keeps_secrets_and_outputs_out_and_private_files_are_warned_about() {
    let sandbox = Sandbox::new();
    sandbox.write("app/main.py", "print('hi')\n");
    sandbox.write("app/x.secret", "s3cret\n");
    sandbox.write("app/__pycache__/main.pyc", "bytecode");
    let key = sandbox.write("app/release.key", "KEY\n");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    sandbox.write(".composeignore", "*.secret\n__pycache__/\n");
    sandbox.write(
        "recipe.toml",
        "[image]\nname = \"localhost/app\"\n[from]\nscratch = true\n[[layer]]\n[[layer.copy]]\nsrc = \"./\"\ndest = \"/srv/\"\n",
    );
    // The private key is about to become world-readable: with
    // --deny-warnings that fails before any output is written.
    let denied = sandbox.cmd().args(["build", "recipe.toml", "--deny-warnings"]).output().unwrap();
    let stderr = String::from_utf8(denied.stderr).unwrap();
    assert_eq!(denied.status.code(), Some(1), "{stderr}");
    assert!(!sandbox.path().join("out").exists(), "an output was written");
    insta::assert_snapshot!("private_file_denied", remarks(&stderr));

    // Without it the build warns and goes on; built twice, the second time
    // with the store (COMPOSE_IMG_STORE=./store) and out/app inside the
    // copied tree: neither lands in the layer.
    for _ in 0..2 {
        let out = sandbox.cmd().args(["build", "recipe.toml"]).output().unwrap();
        common::assert_success(&out);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("./app/release.key is private on the host (mode 0600)"), "{stderr}");
    }
    let paths = listed(&sandbox, "oci:out/app");
    assert!(paths.contains(&"/srv/app/main.py".to_owned()) && paths.contains(&"/srv/recipe.toml".to_owned()));
    assert!(paths.contains(&"/srv/app/release.key".to_owned()), "{paths:?}");
    for left_out in ["secret", "__pycache__", "/srv/out", "/srv/store"] {
        assert!(!paths.iter().any(|p| p.contains(left_out)), "{left_out} copied: {paths:?}");
    }

    // Editing the ignore file rebuilds the layer, which loses the key, and
    // the warning goes with it.
    sandbox.write(".composeignore", "*.secret\n__pycache__/\n/app/release.key\n");
    let out = sandbox.cmd().args(["build", "recipe.toml", "--deny-warnings"]).output().unwrap();
    common::assert_success(&out);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("1 built, 0 reused"), "{stderr}");
    assert!(!stderr.contains("⚠"), "{stderr}");
    assert!(!listed(&sandbox, "oci:out/app").iter().any(|p| p.contains("release.key")));
    // An explicit mode says the recipe means it: no warning.
    std::fs::remove_file(sandbox.path().join(".composeignore")).unwrap();
    let recipe = std::fs::read_to_string(sandbox.path().join("recipe.toml")).unwrap();
    sandbox.write("recipe.toml", &format!("{recipe}mode = \"0600\"\nexclude = [\"out/**\", \"store/**\"]\n"));
    let out = sandbox.cmd().args(["build", "recipe.toml", "--deny-warnings"]).output().unwrap();
    common::assert_success(&out);
}

#[test]
fn variables_reach_tags_contents_and_digests() {
    let recipe = "[vars]\nversion = \"0.1\"\n[image]\nname = \"localhost/v\"\ntags = [\"${version}\"]\n\
                  platforms = [\"linux/amd64\", \"linux/arm64\"]\n[from]\nscratch = true\n\
                  [config]\nlabels = { version = \"${version}\" }\n\
                  [[layer]]\n[[layer.file]]\npath = \"/etc/version\"\ncontent = \"${version} for ${os}/${arch} $${HOME}\\n\"\n";
    let build = |var: &str| {
        let sandbox = Sandbox::new();
        sandbox.write("recipe.toml", recipe);
        let digest = sandbox.build(&["recipe.toml", "--var", var]);
        (sandbox, digest)
    };
    let (sandbox, first) = build("version=1.2");
    let (_, again) = build("version=1.2");
    let (_, other) = build("version=1.3");
    assert_eq!(first, again, "the same values give the same image");
    assert_ne!(first, other);
    // The tag came from the variable; each platform got its own values.
    for (platform, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let dir = sandbox.path().join(arch);
        run(sandbox.cmd().args(["unpack", "oci:out/v:1.2", "--platform", platform]).arg(&dir));
        let content = std::fs::read_to_string(dir.join("etc/version")).unwrap();
        assert_eq!(content, format!("1.2 for linux/{arch} ${{HOME}}\n"));
    }
    let config = run(sandbox.cmd().args(["inspect", "oci:out/v:1.2", "--config", "--platform", "linux/arm64"]));
    assert!(config.contains("\"version\":\"1.2\""), "{config}");
}

#[test]
fn config_rules_as_docker_has_them_under_podman() {
    let sandbox = Sandbox::new();
    common::copy_recipes(sandbox.path());
    // busybox.toml: entrypoint ["/bin/busybox", "echo"], a greeting as cmd,
    // PATH=/bin. mid.toml adds what the child drops.
    sandbox.write(
        "recipes/mid.toml",
        "[image]\nname = \"localhost/mid\"\n[from]\nrecipe = \"busybox.toml\"\n\
         [config]\nenv = { DROPME = \"x\", KEEP = \"k\" }\nlabels = { drop = \"1\", keep = \"1\" }\n",
    );
    sandbox.write(
        "recipes/child.toml",
        "[vars]\nflavour = \"plain\"\n[image]\nname = \"localhost/child\"\n[from]\nrecipe = \"mid.toml\"\n\
         [config]\nentrypoint = [\"/bin/busybox\", \"env\"]\n\
         env = { PATH = \"${PATH}:/opt/bin\", WHERE = \"$KEEP-${flavour}-$$HOME\" }\n\
         [config.unset]\nenv = [\"DROPME\"]\nlabels = [\"drop\"]\nvolumes = [\"/never\"]\n",
    );
    let layout = common::lowercase_tempdir("child");
    let out = sandbox
        .cmd()
        .args(["build", "recipes/child.toml", "--var", "flavour=spicy", "--output"])
        .arg(format!("oci:{}:latest", layout.path().display()))
        .output()
        .unwrap();
    common::assert_success(&out);
    // Unsetting what the parent never had is a warning, located.
    insta::assert_snapshot!("unset_what_the_parent_lacks", remarks(&String::from_utf8(out.stderr).unwrap()));

    let podman = common::Podman::new(sandbox.path());
    let image = format!("oci:{}:latest", layout.path().display());
    let id = run(podman.cmd().args(["pull", "-q", &image]));
    // The greeting cmd of busybox.toml is gone with the new entrypoint: the
    // container runs `env` alone and prints its environment.
    let env = podman.run(id.trim(), &[]);
    let mut lines: Vec<&str> =
        env.lines().filter(|l| !l.starts_with("HOSTNAME=") && !l.starts_with("container=")).collect();
    lines.sort_unstable();
    assert_eq!(lines, ["HOME=/root", "KEEP=k", "PATH=/bin:/opt/bin", "TERM=xterm", "WHERE=k-spicy-$HOME"], "{env}");
    let labels = run(podman.cmd().args(["image", "inspect", "--format", "{{json .Labels}}", id.trim()]));
    assert_eq!(labels.trim(), r#"{"keep":"1"}"#);
    run(podman.cmd().args(["rmi", "-f", id.trim()]));

    // An explicit `cmd = []` clears it as well; a name nobody defines is an
    // error at its entry.
    sandbox.write(
        "recipes/bad.toml",
        "[image]\nname = \"localhost/bad\"\n[from]\nrecipe = \"busybox.toml\"\n[config]\ncmd = []\nenv = { A = \"${NOPE}/x\" }\n",
    );
    let out = sandbox.cmd().args(["build", "recipes/bad.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("`NOPE` is neither in the environment so far nor a variable of the recipe"), "{stderr}");
    assert!(stderr.contains("recipes/bad.toml:7:"), "{stderr}");
}

#[test]
fn removes_of_nothing_and_unknown_accounts_are_warned_about() {
    let sandbox = Sandbox::new();
    common::copy_recipes(sandbox.path());
    // busybox.toml has /bin/ls and an /etc/passwd with root and nobody.
    sandbox.write(
        "recipes/slim.toml",
        "[image]\nname = \"localhost/slim\"\n[from]\nrecipe = \"busybox.toml\"\n[config]\nuser = \"app:nobody\"\n\
         [[layer]]\nname = \"slim\"\nremove = [\"/bin/ls\", \"/usr/share/doc\", \"/tmp/*\"]\n",
    );
    let build = |extra: &[&str]| sandbox.cmd().args(["build", "recipes/slim.toml"]).args(extra).output().unwrap();
    let out = build(&["--deny-warnings"]);
    assert_eq!(out.status.code(), Some(1));
    let first = remarks(&String::from_utf8(out.stderr).unwrap());
    insta::assert_snapshot!("removes_nothing_and_unknown_user", first);
    // The verdict is kept in the store: the rebuild says the same.
    let out = build(&[]);
    common::assert_success(&out);
    let again = remarks(&String::from_utf8(out.stderr).unwrap());
    assert_eq!(again.lines().filter(|l| l.contains('⚠')).count(), 3, "{again}");
}

#[test]
fn files_copied_from_another_image_run_under_podman_and_are_cached() {
    let sandbox = Sandbox::new();
    common::copy_recipes(sandbox.path());
    // A busybox image written by skopeo, from the one busybox.toml builds.
    sandbox.build(&["recipes/busybox.toml", "--output", "oci:built:latest"]);
    std::fs::create_dir(sandbox.path().join("stage")).unwrap();
    run(std::process::Command::new(common::tool("skopeo")).current_dir(sandbox.path()).args([
        "copy",
        "--quiet",
        "oci:built:latest",
        "oci:stage/busybox:1",
    ]));
    sandbox.write(
        "multi.toml",
        "[image]\nname = \"localhost/multi\"\n[from]\nscratch = true\n\
         [config]\nentrypoint = [\"/bin/sh\", \"-c\", \"stat -c '%a %u:%g %n' /bin/busybox /opt/etc/passwd /tmp && id -u\"]\n\
         [[layer]]\n\
         [[layer.copy]]\nimage = \"oci:stage/busybox:1\"\nsrc = \"/bin\"\ndest = \"/bin\"\n\
         [[layer.copy]]\nimage = \"oci:stage/busybox:1\"\nsrc = \"/etc/\"\ndest = \"/opt/etc\"\nuid = 7\n\
         [[layer.copy]]\nimage = \"oci:stage/busybox:1\"\nsrc = \"/tmp\"\ndest = \"/tmp\"\n",
    );
    let layout = common::lowercase_tempdir("multi");
    let output = format!("oci:{}:latest", layout.path().display());
    let out = sandbox.cmd().args(["build", "multi.toml", "--output", &output]).output().unwrap();
    common::assert_success(&out);
    let paths = listed(&sandbox, &output);
    assert!(paths.contains(&"/bin/busybox".to_owned()) && paths.contains(&"/opt/etc/group".to_owned()), "{paths:?}");
    let listing = run(sandbox.cmd().args(["ls", &output]));
    assert!(listing.lines().any(|l| l.starts_with("lrwxrwxrwx") && l.ends_with("/bin/sh -> busybox")), "{listing}");

    let podman = common::Podman::new(sandbox.path());
    let id = run(podman.cmd().args(["pull", "-q", &output]));
    let shown = podman.run(id.trim(), &[]);
    assert_eq!(shown, "755 0:0 /bin/busybox\n644 7:0 /opt/etc/passwd\n1777 0:0 /tmp\n0\n");
    run(podman.cmd().args(["rmi", "-f", id.trim()]));

    // The same source image: the layer comes from the cache, the image's
    // layers are not read again.
    let again = sandbox.cmd().args(["build", "multi.toml", "--output", &output]).output().unwrap();
    common::assert_success(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("0 built, 1 reused"), "{stderr}");
    assert_eq!(common::first_digest(&again), common::first_digest(&out));

    // The source image is locked like a parent: by digest, in the lock
    // file beside the recipe; --locked refuses a source it lacks.
    let lock = std::fs::read_to_string(sandbox.path().join("multi.toml.lock")).unwrap();
    assert!(lock.contains("\"oci:stage/busybox:1\""), "{lock}");
    std::fs::remove_file(sandbox.path().join("multi.toml.lock")).unwrap();
    let unlocked = sandbox.cmd().args(["build", "multi.toml", "--locked"]).output().unwrap();
    assert_eq!(unlocked.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unlocked.stderr);
    assert!(stderr.contains("`oci:stage/busybox:1` is not in multi.toml.lock"), "{stderr}");

    // A path the image does not have is an error at the entry.
    let recipe = std::fs::read_to_string(sandbox.path().join("multi.toml")).unwrap();
    sandbox.write("multi.toml", &recipe.replace("src = \"/tmp\"", "src = \"/nowhere\""));
    let missing = sandbox.cmd().args(["build", "multi.toml"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("oci:stage/busybox:1 has no /nowhere (for linux/amd64)"), "{stderr}");
}
