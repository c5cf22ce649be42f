//! Canonical JSON: compact, object keys sorted. oci-spec keeps maps in
//! `HashMap`s, whose order changes from run to run; going through
//! `serde_json::Value` (a `BTreeMap` as long as nothing enables serde_json's
//! `preserve_order`) sorts every object.

use serde::Serialize;

pub(crate) fn canonical(value: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&serde_json::to_value(value)?)
}

#[cfg(test)]
#[allow(clippy::disallowed_types, reason = "HashMap order is what canonical() must undo")]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn sorts_keys_at_every_depth() {
        let inner: HashMap<&str, u8> = (0..50u8).map(|i| (["k", &i.to_string()].concat().leak() as &str, i)).collect();
        let outer: HashMap<&str, _> = [("z", inner.clone()), ("a", inner)].into_iter().collect();
        let text = String::from_utf8(super::canonical(&outer).unwrap()).unwrap();
        assert!(text.starts_with(r#"{"a":{"k0":0,"k1":1,"k10":10,"#), "{text}");
        assert!(!text.contains(' '));
    }
}
