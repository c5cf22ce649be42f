//! Every kind of recipe mistake: exit code 1, nothing written, and the
//! rendered message (file, line, column, caret) pinned as a snapshot.

use crate::common;

use common::Sandbox;

/// A recipe that is valid up to the part a case breaks.
const HEAD: &str = "[image]\nname = \"localhost/t\"\n\n[from]\nscratch = true\n";

/// Builds `recipe` (with `files` beside it) and returns stderr after
/// checking the exit code and that no output or store was created.
fn fails(recipe: &str, files: &[(&str, &str)]) -> String {
    let sandbox = Sandbox::new();
    sandbox.write("recipe.toml", recipe);
    for (path, content) in files {
        sandbox.write(path, content);
    }
    let out = sandbox.cmd().args(["build", "recipe.toml"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(out.stdout.is_empty());
    assert!(!sandbox.path().join("out").exists(), "an output was written");
    assert!(!sandbox.store().exists(), "the store was touched");
    assert!(stderr.contains("recipe.toml"), "the file is not named:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

macro_rules! case {
    ($name:ident, $recipe:expr) => {
        case!($name, $recipe, &[]);
    };
    ($name:ident, $recipe:expr, $files:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(fails(&$recipe, $files));
        }
    };
}

case!(syntax_error, "[image\nname = \"localhost/t\"\n");
case!(unknown_key_suggests, "[image]\nnmae = \"localhost/t\"\n[from]\nscratch = true\n");
case!(unknown_key_in_copy, format!("{HEAD}[[layer]]\n[[layer.copy]]\nsrcc = \"x\"\n"));
case!(unknown_table, format!("{HEAD}[layers]\nname = \"x\"\n"));
case!(wrong_type, "[image]\nname = \"localhost/t\"\ntags = \"latest\"\n[from]\nscratch = true\n");
case!(wrong_type_uid, format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"/d\"\nuid = -1\n"));
case!(two_from_kinds, "[image]\nname = \"localhost/t\"\n[from]\nscratch = true\nrecipe = \"base.toml\"\n");
case!(no_from, "[image]\nname = \"localhost/t\"\n");
case!(bad_sbom_setting, "[image]\nname = \"localhost/t\"\nsbom = \"spdx-json\"\n[from]\nscratch = true\n");
case!(no_image, "[from]\nscratch = true\n");
case!(empty_from, "[image]\nname = \"localhost/t\"\n[from]\n");
case!(missing_src, format!("{HEAD}[[layer]]\n[[layer.copy]]\ndest = \"/x/\"\n"));
case!(
    duplicate_paths,
    format!(
        "{HEAD}[[layer]]\n[[layer.file]]\npath = \"/etc/motd\"\ncontent = \"a\"\n\
         [[layer.file]]\npath = \"/etc//motd\"\ncontent = \"b\"\n"
    )
);
case!(
    duplicate_copy_and_file,
    format!(
        "{HEAD}[[layer]]\n[[layer.copy]]\nsrc = \"root/\"\n[[layer.file]]\npath = \"/etc/motd\"\ncontent = \"b\"\n"
    ),
    &[("root/etc/motd", "a\n")]
);
case!(
    file_where_dir_needed,
    format!(
        "{HEAD}[[layer]]\n[[layer.file]]\npath = \"/a\"\ncontent = \"\"\n[[layer.file]]\npath = \"/a/b\"\ncontent = \"\"\n"
    )
);
case!(dotdot_path, format!("{HEAD}[[layer]]\n[[layer.file]]\npath = \"/etc/../../x\"\ncontent = \"\"\n"));
case!(nul_path, format!("{HEAD}[[layer]]\n[[layer.file]]\npath = \"/a\\u0000b\"\ncontent = \"\"\n"));
case!(relative_path, format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"tmp\"\n"));
case!(dest_escapes, format!("{HEAD}[[layer]]\n[[layer.copy]]\nsrc = \"f\"\ndest = \"/../f\"\n"), &[("f", "")]);
case!(bad_mode, format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"/tmp\"\nmode = \"0999\"\n"));
case!(mode_too_large, format!("{HEAD}[[layer]]\n[[layer.file]]\npath = \"/x\"\ncontent = \"\"\nmode = \"17777\"\n"));
case!(missing_src_path, format!("{HEAD}[[layer]]\n[[layer.copy]]\nsrc = \"nowhere/\"\n"));
case!(hardlink_to_missing, format!("{HEAD}[[layer]]\n[[layer.hardlink]]\npath = \"/a\"\ntarget = \"/b\"\n"));
case!(
    hardlink_to_dir,
    format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"/d\"\n[[layer.hardlink]]\npath = \"/a\"\ntarget = \"/d\"\n")
);
case!(
    remove_and_add,
    format!("{HEAD}[[layer]]\nremove = [\"/etc\"]\n[[layer.file]]\npath = \"/etc/motd\"\ncontent = \"\"\n")
);
case!(remove_glob, format!("{HEAD}[[layer]]\nremove = [\"/var/*.log\"]\n"));
case!(duplicate_layer_names, format!("{HEAD}[[layer]]\nname = \"a\"\n[[layer]]\nname = \"a\"\n"));
case!(bad_image_name, "[image]\nname = \"Localhost/Hello\"\n[from]\nscratch = true\n");
case!(bad_tag, "[image]\nname = \"localhost/t\"\ntags = [\"-x\"]\n[from]\nscratch = true\n");
case!(
    two_contents,
    format!("{HEAD}[[layer]]\n[[layer.file]]\npath = \"/x\"\ncontent = \"a\"\ncontent_base64 = \"YQ==\"\n")
);
case!(no_content, format!("{HEAD}[[layer]]\n[[layer.file]]\npath = \"/x\"\n"));
case!(bad_base64, format!("{HEAD}[[layer]]\n[[layer.file]]\npath = \"/x\"\ncontent_base64 = \"***\"\n"));
case!(bad_glob, format!("{HEAD}[[layer]]\n[[layer.copy]]\nsrc = \"d/\"\ninclude = [\"[a\"]\n"), &[("d/f", "")]);
case!(bad_placeholder, format!("{HEAD}[[layer]]\n[[layer.copy]]\nsrc = \"bin-{{cpu}}\"\n"));
case!(bad_port, format!("{HEAD}[config]\nexposed_ports = [\"http\"]\n"));
case!(reserved_annotation, format!("{HEAD}[annotations]\n\"org.opencontainers.image.created\" = \"now\"\n"));
case!(bad_parent_reference, "[image]\nname = \"localhost/t\"\n[from]\nimage = \"docker://Docker.io/Busybox\"\n");
case!(missing_plugin_script, format!("{HEAD}[[layer]]\n[[layer.plugin]]\nscript = \"x.rhai\"\n"));
case!(plugin_script_not_rhai, format!("{HEAD}[[plugin]]\nscript = \"x.lua\"\n"));
case!(reserved_whiteout_name, format!("{HEAD}[[layer]]\n[[layer.file]]\npath = \"/.wh.x\"\ncontent = \"\"\n"));
case!(
    several_mistakes_reported_together,
    format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"tmp\"\n[[layer.dir]]\npath = \"/x\"\nmode = \"rwx\"\n")
);

#[test]
fn special_file_in_copy() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path().join("d")).unwrap();
    common::run(std::process::Command::new("mkfifo").arg(sandbox.path().join("d/pipe")));
    sandbox.write("recipe.toml", &format!("{HEAD}[[layer]]\n[[layer.copy]]\nsrc = \"d/\"\n"));
    let out = sandbox.cmd().args(["build", "recipe.toml"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("d/pipe is not a regular file, directory or symlink"), "{stderr}");
    assert!(stderr.contains("recipe.toml:7:1"), "{stderr}");
}

#[test]
fn unreadable_recipe() {
    let sandbox = Sandbox::new();
    let out = sandbox.cmd().args(["build", "missing.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8(out.stderr).unwrap());
}

/// Usage errors exit 2.
fn usage(args: &[&str], env: &[(&str, &str)]) -> String {
    let sandbox = Sandbox::new();
    sandbox.write("recipe.toml", HEAD);
    sandbox.write("other.toml", HEAD);
    let out = sandbox.cmd().args(args).envs(env.iter().copied()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!sandbox.path().join("out").exists());
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn usage_errors() {
    insta::assert_snapshot!("level_out_of_range", usage(&["build", "recipe.toml", "--level", "40"], &[]));
    insta::assert_snapshot!("bad_epoch_env", usage(&["build", "recipe.toml"], &[("SOURCE_DATE_EPOCH", "yesterday")]));
    insta::assert_snapshot!(
        "output_with_two_recipes",
        usage(&["build", "recipe.toml", "other.toml", "--output", "oci:x"], &[])
    );
    insta::assert_snapshot!("bad_output_ref", usage(&["build", "recipe.toml", "--output", "nothing"], &[]));
    // The shared cache is a registry repository, nothing else.
    for (name, args) in [
        ("cache_not_a_registry", &["build", "recipe.toml", "--cache", "oci:cache"][..]),
        ("cache_with_a_tag", &["build", "recipe.toml", "--cache", "docker://localhost:5000/cache:v1"]),
        (
            "cache_from_with_a_digest",
            &["plan", "recipe.toml", "--cache-from", &format!("docker://localhost:5000/c@sha256:{}", "a".repeat(64))],
        ),
        ("cache_without_a_host", &["build", "recipe.toml", "--cache", "docker://cache"]),
        ("cache_bad_reference", &["build", "recipe.toml", "--cache", "docker://localhost:5000/Cache"]),
        ("cache_required_without_a_cache", &["build", "recipe.toml", "--cache-required"]),
    ] {
        insta::assert_snapshot!(name, usage(args, &[]));
    }
    insta::assert_snapshot!(
        "cache_env_not_a_registry",
        usage(&["build", "recipe.toml"], &[("COMPOSE_IMG_CACHE", "/tmp/cache")])
    );
    let unknown = usage(&["build", "recipe.toml", "--frobnicate"], &[]);
    assert!(unknown.contains("--frobnicate"), "{unknown}");
    let no_recipe = usage(&["build"], &[]);
    assert!(no_recipe.contains("RECIPE"), "{no_recipe}");
}

// Control characters (C0 and DEL) never reach the image config or the
// annotations; each value is located.
case!(
    control_characters_in_config,
    format!(
        "{HEAD}[config]\nuser = \"a\\u0000\"\nworkdir = \"/w\\u007f\"\nstop_signal = \"SIG\\tTERM\"\n\
         entrypoint = [\"/bin/sh\", \"-c\\n\"]\ncmd = [\"\\u001b[31m\"]\nenv = {{ \"A\\u0001\" = \"1\", B = \"x\\ry\" }}\n\
         labels = {{ k = \"v\\u0000\", \"k\\u0002\" = \"v\" }}\nvolumes = [\"/v\\n\"]\n"
    )
);
case!(control_characters_in_annotations, format!("{HEAD}[annotations]\n\"a\\u0000\" = \"x\"\nb = \"\\u0007\"\n"));
// A line too long to show is shown around the mistake, which keeps its
// line and column.
case!(
    long_line_shown_around_the_mistake,
    format!("{HEAD}[config]\nlabels = {{ a = \"{}\", b = \"\\u0000\" }}\n", "x".repeat(300))
);

// Variables: an unknown name, a `${` never closed, a built-in declared, and
// the per-platform built-ins where one value serves every platform.
case!(
    unknown_variable,
    "[vars]\nversion = \"1\"\n[image]\nname = \"localhost/t\"\ntags = [\"${verison}\"]\n[from]\nscratch = true\n\
     [[layer]]\n[[layer.file]]\npath = \"/v\"\ncontent = \"${version} ${nope\"\n"
);
case!(
    built_in_variable_declared_or_misplaced,
    "[vars]\narch = \"x\"\n[image]\nname = \"localhost/t-${os}\"\n[from]\nscratch = true\n"
);
// No silent no-ops: globs that match nothing, a platform spelled as the
// kernel does, a bad name to unset.
case!(
    include_matches_nothing,
    format!("{HEAD}[[layer]]\n[[layer.copy]]\nsrc = \"d/\"\ninclude = [\"*.py\", \"bin/**\"]\n"),
    &[("d/a.txt", "a")]
);
case!(
    platform_not_canonical,
    "[image]\nname = \"localhost/t\"\nplatforms = [\"linux/x86_64\", \"linux/aarch64\"]\n[from]\nscratch = true\n"
);
case!(unset_bad_port, format!("{HEAD}[config.unset]\nexposed_ports = [\"http\"]\nenv = [\"\"]\n"));

#[test]
fn undeclared_variable_given() {
    let sandbox = Sandbox::new();
    sandbox.write("recipe.toml", &format!("[vars]\nversion = \"1\"\n{HEAD}"));
    let out = sandbox.cmd().args(["build", "recipe.toml", "--var", "verison=2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!sandbox.store().exists());
    insta::assert_snapshot!(String::from_utf8(out.stderr).unwrap());
    let out = sandbox.cmd().args(["build", "recipe.toml", "--var", "arch=arm64"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("built_in_variable_given", String::from_utf8(out.stderr).unwrap());
}

// The mistakes people make most say how to fix them.
case!(mode_as_a_number, format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"/d\"\nmode = 0755\n"));
case!(mode_as_an_octal_number, format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"/d\"\nmode = 0o755\n"));
case!(layer_with_one_pair_of_brackets, format!("{HEAD}[layer]\nname = \"x\"\n"));
case!(env_as_an_array, format!("{HEAD}[config]\nenv = [\"A=b\"]\n"));
case!(
    layer_key_after_an_entry,
    format!("{HEAD}[[layer]]\n[[layer.file]]\npath = \"/a\"\ncontent = \"x\"\nname = \"late\"\n")
);

// Mistakes of different tables, a missing source with them: all in one run.
case!(
    mistakes_of_every_table_together,
    "[image]\nname = \"localhost/t\"\ntags = \"latest\"\n[from]\nscratch = true\n[config]\nuser = 5\nenvv = { A = \"b\" }\n\
     [[layer]]\n[[layer.copy]]\ndest = \"/x/\"\n[[layer.dir]]\npath = \"/d\"\nuid = \"10\"\n\
     [[layer.file]]\npath = \"/f\"\ncontent = \"x\"\nnmae = 1\n[[plugin]]\nscript = 1\n"
);
// A host source that does not exist, named beside a type error.
case!(
    missing_source_with_a_type_error,
    format!(
        "{HEAD}[[layer]]\n[[layer.copy]]\nsrc = \"missing.txt\"\ndest = \"/m\"\n[[layer.file]]\npath = \"/f\"\ncontent = 1\n"
    )
);
// A file's content of the wrong type in an inline table is one mistake, not
// also a missing content.
case!(content_of_the_wrong_type_inline, format!("{HEAD}[[layer]]\nfile = [{{ path = \"/f\", content = 1 }}]\n"));
// A syntax error does not hide the type errors after it.
case!(
    syntax_and_type_errors_together,
    format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"/d\"\nmode = 0755\n[[layer.file]]\npath = \"/f\"\ncontent = 1\n")
);
// Type errors beside the mistakes only validation finds.
case!(
    type_and_validation_errors_together,
    format!("{HEAD}[[layer]]\n[[layer.dir]]\npath = \"tmp\"\n[[layer.dir]]\npath = \"/x\"\nuid = \"1\"\n")
);

/// `--help` of a few commands: every positional described, `--platform`
/// worded alike, examples and exit codes at the end.
#[test]
fn help_of_commands() {
    let sandbox = Sandbox::new();
    for command in [&["build"][..], &["diff"], &["verify"], &["store", "gc"]] {
        let out = sandbox.cmd().args(command).arg("--help").env("COLUMNS", "100").output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Exit status: 0 success, 1 "), "{text}");
        insta::assert_snapshot!(format!("help_{}", command.join("_")), text);
    }
}
