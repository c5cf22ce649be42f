//! The [`Source`] of each transport: an OCI layout directory, skopeo's
//! `dir:` directory, blobs already ingested into the store (from an
//! archive), and a registry.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::TransportError;
use super::import::{MAX_DOCUMENT, Root, Source, read_document};
use crate::oci::manifest::Desc;
use crate::oci::{dir, layout};
use crate::registry::{Client, Reference};
use crate::store::Store;

/// `oci:DIR[:TAG]`.
pub(super) struct Layout {
    dir: PathBuf,
    root: Desc,
    name: String,
}

impl Layout {
    pub(super) fn open(dir: &Path, tag: Option<&str>, name: String) -> Result<Layout, TransportError> {
        let entry = layout::find(dir, tag)?;
        Ok(Layout { dir: dir.to_owned(), root: entry.desc, name })
    }

    /// The manifest `root` of the layout at `dir` (an untagged entry).
    pub(super) fn at(dir: &Path, root: Desc, name: String) -> Layout {
        Layout { dir: dir.to_owned(), root, name }
    }
}

impl Source for Layout {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> Result<Root, TransportError> {
        let root = self.root.clone();
        let bytes = read_document(self.blob(&root)?, &root, &self.name)?;
        Ok(Root { bytes, media_type: Some(root.media_type), pinned: Some(root.digest), declared: true })
    }

    fn blob(&self, desc: &Desc) -> Result<Box<dyn Read + '_>, TransportError> {
        let path = self.dir.join("blobs").join("sha256").join(desc.digest.hex());
        let (file, _) = crate::files::open_regular(&path)
            .map_err(|e| TransportError::image(&self.name, format!("cannot open blob {}: {e}", desc.digest)))?;
        Ok(Box::new(BufReader::new(file)))
    }
}

/// `dir:PATH`: skopeo's directory.
pub(super) struct Dir {
    dir: PathBuf,
    name: String,
}

impl Dir {
    pub(super) fn new(dir: &Path, name: String) -> Dir {
        Dir { dir: dir.to_owned(), name }
    }

    fn open(&self, path: &Path, what: &str) -> Result<File, TransportError> {
        let (file, _) = crate::files::open_regular(path)
            .map_err(|e| TransportError::image(&self.name, format!("cannot open {what} {}: {e}", path.display())))?;
        Ok(file)
    }
}

impl Source for Dir {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> Result<Root, TransportError> {
        let path = dir::manifest_path(&self.dir);
        let mut bytes = Vec::new();
        self.open(&path, "the manifest")?
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| TransportError::image(&self.name, format!("cannot read {}: {e}", path.display())))?;
        Ok(Root { bytes, media_type: None, pinned: None, declared: false })
    }

    fn manifest(&self, desc: &Desc) -> Result<Vec<u8>, TransportError> {
        let file = self.open(&dir::instance_path(&self.dir, &desc.digest), "manifest")?;
        read_document(BufReader::new(file), desc, &self.name)
    }

    fn blob(&self, desc: &Desc) -> Result<Box<dyn Read + '_>, TransportError> {
        Ok(Box::new(BufReader::new(self.open(&dir::blob_path(&self.dir, &desc.digest), "blob")?)))
    }
}

/// An image whose blobs an archive reader put in the store.
pub(super) struct Stored<'a> {
    store: &'a Store,
    name: String,
    root: Vec<u8>,
    /// The media type the archive's descriptor of the root declares.
    declared: Option<String>,
}

impl<'a> Stored<'a> {
    pub(super) fn new(store: &'a Store, name: String, root: Vec<u8>, declared: Option<String>) -> Stored<'a> {
        Stored { store, name, root, declared }
    }
}

/// The document `desc` from the store, checked.
pub(super) fn read_stored(store: &Store, desc: &Desc, name: &str) -> Result<Vec<u8>, TransportError> {
    let file = File::open(store.blob_path(&desc.digest))
        .map_err(|_| TransportError::image(name, format!("the archive lacks blob {}", desc.digest)))?;
    read_document(file, desc, name)
}

impl Source for Stored<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> Result<Root, TransportError> {
        let declared = self.declared.is_some();
        Ok(Root { bytes: self.root.clone(), media_type: self.declared.clone(), pinned: None, declared })
    }

    fn blob(&self, desc: &Desc) -> Result<Box<dyn Read + '_>, TransportError> {
        let file = File::open(self.store.blob_path(&desc.digest))
            .map_err(|_| TransportError::image(&self.name, format!("the archive lacks blob {}", desc.digest)))?;
        Ok(Box::new(BufReader::new(file)))
    }
}

/// `docker://HOST/REPO[:TAG|@DIGEST]`.
pub(super) struct Registry<'a> {
    client: &'a Client,
    reference: &'a Reference,
}

impl<'a> Registry<'a> {
    pub(super) fn new(client: &'a Client, reference: &'a Reference) -> Registry<'a> {
        Registry { client, reference }
    }
}

impl Source for Registry<'_> {
    fn name(&self) -> String {
        self.reference.to_string()
    }

    fn root(&self) -> Result<Root, TransportError> {
        let (bytes, media_type) =
            self.client.get_manifest(&self.reference.repository, &self.reference.manifest_ref())?;
        Ok(Root { bytes, media_type: Some(media_type), pinned: self.reference.digest.clone(), declared: false })
    }

    fn manifest(&self, desc: &Desc) -> Result<Vec<u8>, TransportError> {
        let (bytes, _) = self.client.get_manifest(&self.reference.repository, desc.digest.as_str())?;
        read_document(&bytes[..], desc, &self.name())
    }

    fn blob(&self, desc: &Desc) -> Result<Box<dyn Read + '_>, TransportError> {
        Ok(Box::new(self.client.get_blob(&self.reference.repository, &desc.digest, desc.size)?))
    }

    fn origin(&self) -> Option<Reference> {
        Some(self.reference.clone())
    }
}
