//! `.composeignore`: the file beside a recipe, in gitignore syntax, that
//! keeps host files out of every `copy` whose source lies under the
//! recipe's directory (as `.dockerignore` does for a build context).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::source::{LocatedError, SourceFile};

/// The file's name, beside the recipe.
pub(crate) const FILE_NAME: &str = ".composeignore";

/// The largest ignore file read, in bytes.
const MAX_SIZE: u64 = 1 << 20;

/// A recipe's ignore rules.
#[derive(Debug)]
pub(crate) struct IgnoreRules {
    /// The file as written: it enters the cache key of layers that copy
    /// from the recipe's directory.
    pub text: String,
    /// The recipe's directory, canonical: the rules apply below it.
    root: PathBuf,
    matcher: Gitignore,
}

impl IgnoreRules {
    /// Reads `.composeignore` in `dir` (canonical), if there is one.
    pub(crate) fn load(dir: &Path) -> Result<Option<Arc<IgnoreRules>>, IgnoreError> {
        let path = dir.join(FILE_NAME);
        let bytes = match crate::files::read_bounded(&path, MAX_SIZE) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(IgnoreError::Read { path, source }),
        };
        let text = String::from_utf8(bytes).map_err(|_| IgnoreError::Read {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
        })?;
        let file = SourceFile { name: path.display().to_string(), text: text.clone().into() };
        let mut builder = GitignoreBuilder::new(dir);
        let mut errors = Vec::new();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_end_matches(['\n', '\r']);
            if let Err(e) = builder.add_line(None, trimmed) {
                let span = offset..offset + trimmed.len();
                errors.push(LocatedError::new(
                    &file,
                    format!("not an ignore pattern: {e}"),
                    vec![(span, "here".into())],
                ));
            }
            offset += line.len();
        }
        if !errors.is_empty() {
            return Err(IgnoreError::Invalid { file: file.name, errors });
        }
        let matcher = builder.build().map_err(|e| IgnoreError::Invalid {
            file: file.name.clone(),
            errors: vec![LocatedError::new(&file, format!("not an ignore file: {e}"), Vec::new())],
        })?;
        Ok(Some(Arc::new(IgnoreRules { text, root: dir.to_owned(), matcher })))
    }

    /// Whether these rules apply to a copy from `src` (canonical): it lies
    /// in the recipe's directory.
    pub(crate) fn covers(&self, src: &Path) -> bool {
        src.starts_with(&self.root)
    }

    /// Whether `path` (canonical, under the recipe's directory) is ignored,
    /// itself or through a directory above it.
    pub(crate) fn ignores(&self, path: &Path, is_dir: bool) -> bool {
        path.starts_with(&self.root)
            && path != self.root
            && self.matcher.matched_path_or_any_parents(path, is_dir).is_ignore()
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum IgnoreError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} in {file}", super::counted(.errors))]
    Invalid { file: String, errors: Vec<LocatedError> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_rules_apply_below_the_recipe_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join(FILE_NAME), "*.secret\nout/\n/release.key\n!keep.secret\n# comment\n").unwrap();
        let rules = IgnoreRules::load(&root).unwrap().unwrap();
        assert!(rules.ignores(&root.join("a/b.secret"), false));
        assert!(!rules.ignores(&root.join("a/keep.secret"), false));
        assert!(rules.ignores(&root.join("out"), true));
        assert!(rules.ignores(&root.join("out/hello/index.json"), false));
        assert!(!rules.ignores(&root.join("out"), false), "`out/` names directories only");
        assert!(rules.ignores(&root.join("release.key"), false));
        assert!(!rules.ignores(&root.join("sub/release.key"), false), "anchored to the recipe's directory");
        assert!(!rules.ignores(Path::new("/elsewhere/x.secret"), false));
        assert!(rules.covers(&root.join("src")) && !rules.covers(Path::new("/elsewhere")));
    }

    #[test]
    fn no_file_means_no_rules_and_a_bad_pattern_is_located() {
        let dir = tempfile::tempdir().unwrap();
        assert!(IgnoreRules::load(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join(FILE_NAME), "ok\n[z-a\n").unwrap();
        let IgnoreError::Invalid { errors, .. } = IgnoreRules::load(dir.path()).unwrap_err() else { panic!() };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].first_offset(), 3);
    }
}
