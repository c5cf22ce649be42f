//! How a build reports its progress. The library only calls these hooks;
//! the CLI decides what to draw (bars on a terminal, lines otherwise).

/// A node of the build graph that finished.
#[derive(Debug)]
pub(crate) enum Finished {
    /// `id` is the one [`Progress::layer_started`] was given, if it was.
    Layer {
        id: String,
        recipe: String,
        platform: String,
        layer: String,
        digest: String,
        size: u64,
        key: String,
        reused: bool,
    },
    Parent {
        recipe: String,
        platform: String,
        reference: String,
        digest: String,
    },
    Image {
        recipe: String,
        platform: String,
        digest: String,
    },
    Output {
        reference: String,
    },
}

pub(crate) trait Progress: Sync {
    /// The build graph has `nodes` nodes.
    fn planned(&self, _nodes: usize) {}
    /// A layer starts to be written: `files` entries with `bytes` of content.
    fn layer_started(&self, _id: &str, _files: u64, _bytes: u64) {}
    /// One more entry of layer `id`, with `bytes` of content, is written.
    fn layer_advanced(&self, _id: &str, _bytes: u64) {}
    fn finished(&self, _node: Finished) {}
}

/// Reports nothing.
pub(crate) struct Silent;

impl Progress for Silent {}

/// Progress of one layer being written.
pub(crate) trait LayerProgress {
    fn started(&self, files: u64, bytes: u64);
    fn advanced(&self, bytes: u64);
}

impl LayerProgress for Silent {
    fn started(&self, _files: u64, _bytes: u64) {}
    fn advanced(&self, _bytes: u64) {}
}
