//! The merged file system below a layer, as `ctx.read_lower`,
//! `ctx.exists_lower` and `ctx.list_lower` see it: the layers below (the
//! parent's, then the recipe's earlier ones) applied in order, whiteouts and
//! opaque whiteouts hiding what lower layers had. Only metadata is kept;
//! a read streams the file's layer again up to its data.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;

use crate::build::compress::decoder;

const MAX_READ: u64 = super::engine::MAX_STRING as u64;

#[derive(Debug)]
enum Kind {
    File { layer: usize, offset: u64, size: u64 },
    Hardlink(String),
    Dir,
    Symlink,
    Other,
}

/// A layer blob: its file and media type.
pub struct LowerLayer {
    pub path: PathBuf,
    pub media_type: &'static str,
}

pub struct LowerFs {
    layers: Vec<LowerLayer>,
    /// Paths without a leading `/` (the root is `""`).
    entries: BTreeMap<String, Kind>,
}

/// `/a/b/`, `./a/b`, `a/b` → `a/b`.
fn key(path: &str) -> String {
    path.trim_start_matches("./").trim_matches('/').to_owned()
}

fn inside(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

impl LowerFs {
    pub fn open(layers: Vec<LowerLayer>) -> Result<LowerFs, String> {
        let mut fs = LowerFs { layers: Vec::new(), entries: BTreeMap::new() };
        for (index, layer) in layers.iter().enumerate() {
            fs.apply(index, layer).map_err(|e| format!("cannot read lower layer {}: {e}", layer.path.display()))?;
        }
        fs.layers = layers;
        Ok(fs)
    }

    fn apply(&mut self, index: usize, layer: &LowerLayer) -> io::Result<()> {
        let input = BufReader::new(File::open(&layer.path)?);
        let mut archive = tar::Archive::new(decoder(layer.media_type, input)?);
        let mut added = BTreeMap::new();
        let mut hidden = Vec::new();
        let mut emptied = Vec::new();
        for entry in archive.entries()? {
            let entry = entry?;
            let path = key(&entry.path()?.to_string_lossy());
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if name == ".wh..wh..opq" {
                emptied.push(dir.to_owned());
                continue;
            }
            if let Some(hidden_name) = name.strip_prefix(".wh.") {
                hidden.push(if dir.is_empty() { hidden_name.to_owned() } else { format!("{dir}/{hidden_name}") });
                continue;
            }
            let header = entry.header();
            let kind = match header.entry_type() {
                t if t.is_file() => {
                    Kind::File { layer: index, offset: entry.raw_file_position(), size: header.size()? }
                }
                t if t.is_dir() => Kind::Dir,
                t if t.is_symlink() => Kind::Symlink,
                t if t.is_hard_link() => Kind::Hardlink(key(&entry
                    .link_name()?
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default())),
                _ => Kind::Other,
            };
            added.insert(path, kind);
        }
        for dir in emptied {
            self.entries.retain(|path, _| !inside(path, &dir));
        }
        for path in hidden {
            self.entries.retain(|p, _| *p != path && !inside(p, &path));
        }
        self.entries.extend(added);
        Ok(())
    }

    pub fn exists(&self, path: &str) -> bool {
        let path = key(path);
        path.is_empty() || self.entries.contains_key(&path)
    }

    /// The names directly inside `dir`, sorted.
    pub fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        let dir = key(dir);
        if !dir.is_empty() && !matches!(self.entries.get(&dir), Some(Kind::Dir)) {
            return Err(format!("/{dir} is not a directory in the layers below"));
        }
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        Ok(self
            .entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| {
                let rest = &p[prefix.len()..];
                (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_owned())
            })
            .collect())
    }

    /// The content of the regular file (or hard link to one) at `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        let mut path = key(path);
        for _ in 0..8 {
            match self.entries.get(&path) {
                Some(Kind::File { layer, offset, size }) => return self.read_at(*layer, *offset, *size, &path),
                Some(Kind::Hardlink(target)) => path = target.clone(),
                Some(_) => return Err(format!("/{path} is not a regular file in the layers below")),
                None => return Err(format!("/{path} does not exist in the layers below")),
            }
        }
        Err(format!("/{path}: too many hard links"))
    }

    fn read_at(&self, layer: usize, offset: u64, size: u64, path: &str) -> Result<Vec<u8>, String> {
        if size > MAX_READ {
            return Err(format!("/{path} is {size} bytes, over the {MAX_READ}-byte limit of read_lower"));
        }
        let layer = &self.layers[layer];
        let read = || -> io::Result<Vec<u8>> {
            let mut stream = decoder(layer.media_type, BufReader::new(File::open(&layer.path)?))?;
            io::copy(&mut (&mut stream).take(offset), &mut io::sink())?;
            let mut bytes = Vec::with_capacity(size as usize);
            stream.take(size).read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        read().map_err(|e| format!("cannot read /{path} from {}: {e}", layer.path.display()))
    }
}
