//! Command-line syntax (for users: docs/cli.md).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "compose-img",
    version,
    about = "Compose reproducible OCI images from TOML recipes, without a daemon",
    after_help = "Exit status: 0 success, 1 the operation failed, 2 usage error.\n\
                  The recipe format and every command are described in the README."
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print nothing but errors and results
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more. build: a line per finished step with its cache key, also
    /// on a terminal; other commands print nothing more
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

/// The exit codes every command shares, for the end of its `--help`.
macro_rules! exit_status {
    () => {
        "\n\nExit status: 0 success, 1 the operation failed, 2 usage error (bad flags or arguments)."
    };
    ($one:literal) => {
        concat!("\n\nExit status: 0 success, 1 ", $one, ", 2 usage error (bad flags or arguments).")
    };
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Build images from recipes into OCI layouts
    #[command(after_help = concat!("Examples:\n  \
        compose-img build recipes/hello.toml     # writes oci:out/hello, from the working directory\n  \
        compose-img build recipes/busybox.toml --output oci:out/busybox:1.0\n  \
        SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) compose-img build app.toml --compression gzip",
        exit_status!("a recipe mistake or a failed build (nothing is written)")))]
    Build(BuildArgs),
    /// Show the build graph without building: recipes, layers, cache state
    #[command(after_help = concat!("Examples:\n  \
        compose-img plan recipes/app.toml\n  \
        compose-img plan recipes/app.toml --dot | dot -Tsvg > graph.svg",
        exit_status!("a recipe mistake")))]
    Plan(PlanArgs),
    /// Pin every image the recipes name to its digest, in RECIPE.lock
    #[command(after_help = concat!("Examples:\n  \
        compose-img lock app.toml                       # lock what app.toml.lock lacks\n  \
        compose-img lock app.toml --update              # resolve every tag again\n  \
        compose-img lock app.toml --update docker://registry.example.com/base:1\n  \
        compose-img lock app.toml --check               # exit 1 if a tag has moved\n\n\
        Give the recipes before --update's references.",
        exit_status!("a reference cannot be resolved, or with --check one moved or is not locked")))]
    Lock(LockArgs),
    /// Manage the content store: ls, du, gc, fsck
    #[command(after_help = concat!("Examples:\n  \
        compose-img store ls --json\n  \
        compose-img store gc --keep-days 7 --dry-run",
        exit_status!("the store cannot be used, or fsck found a corrupt blob")))]
    Store(StoreArgs),
    /// Show an image: digests, platform(s), config, annotations, layers
    #[command(after_help = concat!("Examples:\n  \
        compose-img inspect oci:out/hello:latest\n  \
        compose-img inspect docker://docker.io/library/busybox:1.36 --platform linux/arm64 --json",
        exit_status!("the image cannot be read")))]
    Inspect(InspectArgs),
    /// One row per history entry, newest first (like docker history)
    #[command(after_help = concat!("Example:\n  compose-img history oci:out/hello:latest --no-trunc",
        exit_status!("the image cannot be read")))]
    History(HistoryArgs),
    /// Files of the merged filesystem (or of one layer, with its whiteouts)
    #[command(after_help = concat!("Examples:\n  \
        compose-img ls oci:out/hello:latest /etc\n  \
        compose-img ls oci:out/hello:latest --layer 0",
        exit_status!("the image cannot be read, or PATH is not in it")))]
    Ls(LsArgs),
    /// Config and files added, removed and changed between two images (or
    /// two platforms of one), and which layers differ
    #[command(after_help = concat!("Examples:\n  \
        compose-img diff oci:out/app:1.0 oci:out/app:1.1\n  \
        compose-img diff oci:out/multi --platform linux/amd64 --other-platform linux/arm64\n\n\
        Lines: `~ config FIELD: OLD -> NEW`, `A PATH` added, `D PATH` removed, `C PATH (what)` changed,\n\
        `- layer`/`+ layer` layers of only one image.",
        exit_status!("an image cannot be read, or with --exit-code the images differ")))]
    Diff(DiffArgs),
    /// Size and virtual size of images, and the layers they share
    #[command(after_help = concat!("Example:\n  compose-img du oci:out/busybox:latest oci:out/hello:latest",
        exit_status!("an image cannot be read")))]
    Du(DuArgs),
    /// Unpack the merged root filesystem of an image into a directory
    #[command(after_help = concat!("Example:\n  compose-img unpack oci:out/hello:latest rootfs",
        exit_status!("the image cannot be read or DIR cannot be written")))]
    Unpack(UnpackArgs),
    /// Commit the changes in a directory against a parent image as one new layer
    #[command(after_help = concat!("Example:\n  \
        compose-img unpack oci:out/app rootfs && echo hi > rootfs/etc/motd\n  \
        compose-img commit rootfs --parent oci:out/app --output oci:out/app:patched --message 'motd'",
        exit_status!("nothing changed (without --allow-empty), or reading or writing failed")))]
    Commit(CommitArgs),
    /// Write a cosign-format key pair: PREFIX.key (encrypted, 0600) and PREFIX.pub
    #[command(after_help = concat!("Example:\n  COSIGN_PASSWORD=… compose-img keygen --output-prefix release\n\n\
        The password comes from $COSIGN_PASSWORD, else it is asked twice on the terminal.",
        exit_status!("a key file exists (without --force) or cannot be written")))]
    Keygen(KeygenArgs),
    /// Sign an image already written (every manifest and index), cosign-style
    #[command(after_help = concat!("Examples:\n  \
        compose-img sign oci:out/hello:latest --key release.key\n  \
        compose-img sign docker://registry.example.com/team/app:1.0 --key release.key\n\n\
        The key's password comes from $COSIGN_PASSWORD, else it is asked on the terminal.",
        exit_status!("the key or the image cannot be read, or the signatures cannot be written")))]
    Sign(SignArgs),
    /// Check an image's signatures; exit 1 unless each manifest has a valid one
    #[command(after_help = concat!("Examples:\n  \
        compose-img verify oci:out/hello:latest --key release.pub\n  \
        compose-img verify docker://registry.example.com/team/app:1.0 --key release.pub",
        exit_status!("a manifest has no valid signature, or the image cannot be read")))]
    Verify(VerifyArgs),
    /// List the attestations attached to an image: type, signer key id, digest
    #[command(after_help = concat!("Example:\n  compose-img attestations oci:out/app:latest",
        exit_status!("the image or its attestations cannot be read")))]
    Attestations(AttestationsArgs),
    /// Print the SBOM attached to an image (SPDX or CycloneDX JSON)
    #[command(after_help = concat!("Examples:\n  \
        compose-img sbom oci:out/app:latest\n  \
        compose-img sbom --format cyclonedx docker://registry.example.com/app:1.0",
        exit_status!("the image has no such SBOM or cannot be read")))]
    Sbom(SbomArgs),
    /// Rebuild a recipe in a scratch store and compare it with a published image
    #[command(
        after_help = "Example:\n  compose-img reproduce recipes/app.toml --against docker://registry.example.com/app:1.0\n\n\
        Exit status: 0 when every digest matches, 1 when one differs (the first differing\n\
        layer and its files are named), 2 usage error. The epoch, compression and variables come\n\
        from the image's provenance when it has one, else from the flags."
    )]
    Reproduce(ReproduceArgs),
    /// Copy an image between any two transports (pull, push, export)
    #[command(after_help = concat!("Examples:\n  \
        compose-img copy oci:out/hello:latest docker://registry.example.com/hello:1.0\n  \
        compose-img copy docker://docker.io/library/busybox:1.36 oci-archive:busybox.tar\n  \
        compose-img copy oci:out/hello docker-archive:hello.tar\n  \
        compose-img copy --platform linux/arm64 docker://docker.io/library/busybox:1.36 oci:busybox-arm64",
        exit_status!("the image cannot be read or written")))]
    Copy(CopyArgs),
    /// Plugin authoring: run a layer hook without a build
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Run SCRIPT's `fn layer(ctx, args)` on an image (or on nothing) and
    /// print the entries it would add, without building
    #[command(after_help = concat!("Examples:\n  \
        compose-img plugin test plugins/users.rhai --with 'users=[{ name = \"app\", uid = 1000 }]' --lower oci:out/base\n  \
        compose-img plugin test plugins/os-release.rhai --with id=hello --with 'name=\"Hello Linux\"'",
        exit_status!("the script, its arguments or its hook failed")))]
    Test(PluginTestArgs),
}

#[derive(Debug, Args)]
pub(super) struct PluginTestArgs {
    /// The plugin script (.rhai); read_host reads relative to the current directory
    pub script: String,
    /// An argument: KEY=VALUE, VALUE a TOML value (1, true, "text", [..], { .. }) or else a string
    #[arg(long = "with", value_name = "KEY=VALUE")]
    pub with: Vec<String>,
    /// The image whose files the hook sees as the layers below [default: none]
    #[arg(long, value_name = "REF")]
    pub lower: Option<String>,
    /// Also print each file's content (text up to 64 KiB), lines prefixed by `  | `
    #[arg(long, conflicts_with = "json")]
    pub content: bool,
    /// SOURCE_DATE_EPOCH as the hook sees it (ctx.source_date_epoch)
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub epoch: u64,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct CopyArgs {
    /// The image to read (oci:, oci-archive:, docker-archive:, docker://)
    pub source: String,
    /// Where to write it
    pub destination: String,
    /// The platform OS/ARCH[/VARIANT] of a multi-platform image to use:
    /// here, to copy (repeatable; several make a new index of them)
    /// [default: this machine's, as skopeo]
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]", conflicts_with = "all")]
    pub platforms: Vec<String>,
    /// Every platform of an image index, whatever the destination
    #[arg(long)]
    pub all: bool,
    /// Keep every manifest byte for byte: into an OCI layout, no rewriting
    /// of Docker media types as OCI ones
    #[arg(long)]
    pub preserve_digests: bool,
    #[command(flatten)]
    pub access: AccessArgs,
}

/// The store images pass through, and how registries are reached.
#[derive(Debug, Args)]
pub(super) struct AccessArgs {
    /// Content store [default: as for build]
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(super) struct KeygenArgs {
    /// Where to write: PREFIX.key and PREFIX.pub
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    pub output_prefix: PathBuf,
    /// Replace existing key files
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub(super) struct SignArgs {
    /// The image to sign (oci:, oci-archive:, docker://)
    pub image: String,
    /// Private key (cosign format)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub target: SignatureArgs,
}

#[derive(Debug, Args)]
pub(super) struct VerifyArgs {
    /// The image to verify
    pub image: String,
    /// Public key (PKIX PEM, as keygen or cosign generate-key-pair write)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Also check every attestation: its DSSE signature by --key and that
    /// it is about the image
    #[arg(long)]
    pub attestations: bool,
    #[command(flatten)]
    pub target: SignatureArgs,
}

#[derive(Debug, Args)]
pub(super) struct AttestationsArgs {
    /// The image (oci:, oci-archive:, docker://)
    pub image: String,
    #[command(flatten)]
    pub access: AccessArgs,
}

#[derive(Debug, Args)]
pub(super) struct ReproduceArgs {
    /// The recipe (TOML) the image was built from
    pub recipe: PathBuf,
    /// The published image (oci:, oci-archive:, docker://)
    #[arg(long, value_name = "REF")]
    pub against: String,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub layers: LayerArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(super) struct SbomArgs {
    /// The image (oci:, oci-archive:, docker://)
    pub image: String,
    /// Which SBOM
    #[arg(long, value_name = "FORMAT", default_value = "spdx", value_parser = ["spdx", "cyclonedx"])]
    pub format: String,
    /// The platform OS/ARCH[/VARIANT] of a multi-platform image to use:
    /// here, whose SBOM to print [default: linux/amd64]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub access: AccessArgs,
}

/// Whose signatures, and where the image is read from.
#[derive(Debug, Args)]
pub(super) struct SignatureArgs {
    /// The repository the signatures vouch for [default: a registry
    /// reference's HOST/REPO; for a layout or oci-archive, the name it was
    /// written under when signing, and any when verifying]
    #[arg(long, value_name = "REPO")]
    pub identity: Option<String>,
    #[command(flatten)]
    pub access: AccessArgs,
}

/// Where an image is read from and which platform of an index.
#[derive(Debug, Args)]
pub(super) struct ReadArgs {
    /// The platform OS/ARCH[/VARIANT] of a multi-platform image to use:
    /// here, to read [default: linux/amd64]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Print JSON for tools
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(super) struct InspectArgs {
    /// The image (oci:, oci-archive:, docker-archive:, docker://)
    pub image: String,
    /// Print the manifest (or index) exactly as stored
    #[arg(long, conflicts_with_all = ["config", "json"])]
    pub raw: bool,
    /// Print the config exactly as stored
    #[arg(long, conflicts_with = "json")]
    pub config: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct HistoryArgs {
    /// The image (oci:, oci-archive:, docker-archive:, dir:, docker://)
    pub image: String,
    /// Do not shorten created_by
    #[arg(long)]
    pub no_trunc: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct LsArgs {
    /// The image (oci:, oci-archive:, docker-archive:, dir:, docker://)
    pub image: String,
    /// Only this path and what is below it
    #[arg(default_value = "/")]
    pub path: String,
    /// One layer's own changes (0 is the bottom layer), whiteouts included
    #[arg(long, value_name = "N")]
    pub layer: Option<usize>,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct DiffArgs {
    /// The first image (oci:, oci-archive:, docker-archive:, dir:, docker://)
    pub first: String,
    /// The second image [default: FIRST again, to compare two of its
    /// platforms with --other-platform]
    pub second: Option<String>,
    /// The platform of the second image [default: --platform's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub other_platform: Option<String>,
    /// Exit 1 when the images differ (config, files or layers) and 0 when
    /// they are equal, as `git diff --exit-code`
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct UnpackArgs {
    /// The image (oci:, oci-archive:, docker-archive:, dir:, docker://)
    pub image: String,
    /// A new or empty directory
    pub dir: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct CommitArgs {
    /// The changed root filesystem (typically made by unpack)
    pub dir: PathBuf,
    /// The image DIR started from
    #[arg(long, value_name = "REF")]
    pub parent: String,
    /// Where to write the new image
    #[arg(long, value_name = "REF")]
    pub output: String,
    /// The history comment of the new layer
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Commit even when DIR holds exactly what the parent holds
    #[arg(long)]
    pub allow_empty: bool,
    #[command(flatten)]
    pub layers: LayerArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(super) struct DuArgs {
    /// The images (oci:, oci-archive:, docker-archive:, dir:, docker://)
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub(super) struct RegistryArgs {
    /// Require HTTPS with verified certificates for registries; false allows
    /// plain http and unverified TLS
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Give up on a registry request when nothing arrives (or can be sent)
    /// for this long; connecting waits at most 30 s, or this if shorter
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub(super) struct StoreArgs {
    #[command(subcommand)]
    pub action: StoreAction,
    /// The store [default: $COMPOSE_IMG_STORE, else $XDG_CACHE_HOME/compose-img,
    /// else ~/.cache/compose-img]
    #[arg(long, value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum StoreAction {
    /// List the outputs written (newest first, absolute paths) and the
    /// blobs (digest and size)
    #[command(after_help = concat!("Examples:\n  compose-img store ls\n  compose-img store ls --json | jq '.outputs[0]'",
        exit_status!("the store cannot be read")))]
    Ls {
        /// Print JSON for tools: {"outputs": [{reference, written, blobs}],
        /// "blobs": [{digest, size}]}
        #[arg(long)]
        json: bool,
    },
    /// Disk use of each part of the store
    #[command(after_help = concat!("Example:\n  compose-img store du --store /var/cache/ci-store",
        exit_status!("the store cannot be read")))]
    Du,
    /// Remove cache entries and output records unused for --keep-days, then
    /// every blob none of the rest names
    #[command(after_help = concat!("Examples:\n  compose-img store gc --keep-days 7 --dry-run\n  \
        compose-img store gc --keep-days 7",
        exit_status!("the store cannot be used")))]
    Gc {
        /// Keep what was used within this many days
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        keep_days: u64,
        /// Print what would be removed (each blob, then the totals) and
        /// remove nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Check every blob against its digest, remove corrupt ones and the
    /// leftovers of killed builds (exit 1 if a blob was corrupt)
    #[command(after_help = concat!("Example:\n  compose-img store fsck",
        exit_status!("a blob was corrupt (it is removed), or the store cannot be used")))]
    Fsck,
}

#[derive(Debug, Args)]
pub(super) struct BuildArgs {
    /// Recipe files (TOML) to build
    #[arg(required = true, value_name = "RECIPE")]
    pub recipes: Vec<PathBuf>,
    /// Where to write the image: oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE or docker://HOST/REPO[:TAG] (repeatable; default
    /// oci:out/<last part of image.name>); without a tag, every tag of the recipe
    #[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, reason = "clap help text, not rustdoc")]
    #[arg(long, value_name = "REF")]
    pub output: Vec<String>,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Rebuild every layer instead of reusing cached ones
    #[arg(long)]
    pub no_cache: bool,
    /// Fail (exit 1) on any warning, before writing an output: for CI
    #[arg(long)]
    pub deny_warnings: bool,
    /// Sign every manifest and index written with this private key, as
    /// `sign --key` does (cosign format; password from $COSIGN_PASSWORD or
    /// the terminal); `--sign-key` is the old name
    #[arg(long = "key", alias = "sign-key", value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Attach SBOMs of each image as in-toto attestations (signed with
    /// --key, else unsigned) [default: the recipe's `sbom`, else none]
    #[arg(long, value_name = "FORMAT", value_parser = ["spdx", "cyclonedx", "both", "none"])]
    pub sbom: Option<String>,
    /// Refuse a parent image the recipe's lock file lacks instead of
    /// locking it (for CI and release builds)
    #[arg(long)]
    pub locked: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The shared layer cache in a registry (docs/cache.md).
#[derive(Debug, Args)]
pub(super) struct CacheArgs {
    /// Share layers through this registry repository (docker://HOST/REPO):
    /// look every layer up there before building, write the ones built
    /// [default: $COMPOSE_IMG_CACHE]
    #[arg(long, value_name = "REF")]
    pub cache: Option<String>,
    /// Also look layers up in this repository, never writing to it
    /// (repeatable; for pull requests and forks)
    #[arg(long, value_name = "REF")]
    pub cache_from: Vec<String>,
    /// Fail (exit 1) when a cache repository cannot be reached or refuses
    /// the credentials, instead of building without it
    #[arg(long)]
    pub cache_required: bool,
}

#[derive(Debug, Args)]
pub(super) struct LockArgs {
    /// Recipe files (TOML) whose images to lock
    #[arg(required = true, value_name = "RECIPE")]
    pub recipes: Vec<PathBuf>,
    /// Resolve these references (as the recipes write them) again, or every
    /// one if none is given; print what moved
    #[arg(long, value_name = "REF", num_args = 0.., conflicts_with = "check")]
    pub update: Option<Vec<String>>,
    /// Resolve every reference and exit 1 if one moved or is not locked;
    /// write nothing
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub access: AccessArgs,
}

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    /// Recipe files (TOML) to plan
    #[arg(required = true, value_name = "RECIPE")]
    pub recipes: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Print the graph as JSON
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
    /// Print the graph for Graphviz
    #[arg(long)]
    pub dot: bool,
    /// Refuse a parent image the recipe's lock file lacks (for CI)
    #[arg(long)]
    pub locked: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The recipes' variables.
#[derive(Debug, Args)]
pub(super) struct VarArgs {
    /// Set a variable the recipe declares in [vars] (repeatable)
    #[allow(rustdoc::broken_intra_doc_links, reason = "clap help text, not rustdoc")]
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

/// What determines layer bytes and where layers are kept.
#[derive(Debug, Args)]
pub(super) struct LayerArgs {
    /// Content store and cache [default: $COMPOSE_IMG_STORE, else
    /// $XDG_CACHE_HOME/compose-img, else ~/.cache/compose-img]
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Parallel workers, compression included [default: number of cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// Timestamp (seconds since 1970) for every file and for `created`
    /// [default: $SOURCE_DATE_EPOCH, else 0]
    #[arg(long, value_name = "N")]
    pub source_date_epoch: Option<u64>,
    /// Layer compression
    #[arg(long, value_enum, default_value_t = CompressionArg::Zstd)]
    pub compression: CompressionArg,
    /// Compression level [default: 3 for zstd (1-19), 2 for gzip (1-9)]
    #[arg(long, value_name = "N")]
    pub level: Option<i32>,
    /// The platform OS/ARCH[/VARIANT] of a multi-platform image to use:
    /// here, to build (repeatable) [default: every platform of the recipe]
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum CompressionArg {
    Zstd,
    Gzip,
    None,
}
