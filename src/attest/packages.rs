//! The packages a file system declares: Debian's `/var/lib/dpkg/status`
//! (installed paragraphs only) and Alpine's `/lib/apk/db/installed`, each
//! with its package URL.

/// Debian's database of packages, without the leading `/`.
pub(crate) const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// Alpine's database of packages, without the leading `/`.
pub(crate) const APK_INSTALLED: &str = "lib/apk/db/installed";

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Package {
    pub name: String,
    pub version: String,
    /// Empty when the database gives none.
    pub arch: String,
    /// `pkg:deb/debian/NAME@VERSION?arch=ARCH`, `pkg:apk/alpine/…`.
    pub purl: String,
    /// `dpkg` or `apk`: the database it was found in.
    pub manager: &'static str,
}

/// The `ID` of an os-release file (`debian`, `alpine`, …), if it names one
/// made of the characters a package URL namespace may hold.
pub(crate) fn os_id(text: &str) -> Option<String> {
    let line = text.lines().find_map(|line| line.strip_prefix("ID="))?;
    let id = line.trim().trim_matches(|c| c == '"' || c == '\'').to_ascii_lowercase();
    let fine = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    fine.then_some(id)
}

/// The installed packages of a dpkg status file (paragraphs separated by
/// blank lines; a paragraph whose `Status` does not end in `installed`,
/// e.g. `deinstall ok config-files`, is not installed).
pub(crate) fn dpkg(text: &str, distro: &str) -> Vec<Package> {
    paragraphs(text, ':')
        .filter(|fields| fields.iter().find(|(k, _)| k == "Status").is_none_or(|(_, s)| s.ends_with(" installed")))
        .filter_map(|fields| package(&fields, ["Package", "Version", "Architecture"], "deb", distro, "dpkg"))
        .collect()
}

/// The packages of an apk database (`P:` name, `V:` version, `A:` arch).
pub(crate) fn apk(text: &str, distro: &str) -> Vec<Package> {
    paragraphs(text, ':').filter_map(|fields| package(&fields, ["P", "V", "A"], "apk", distro, "apk")).collect()
}

fn package(
    fields: &[(String, String)],
    [name, version, arch]: [&str; 3],
    purl_type: &str,
    distro: &str,
    manager: &'static str,
) -> Option<Package> {
    let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let (name, version) = (get(name)?, get(version)?);
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let arch = get(arch).unwrap_or_default();
    let mut purl = format!("pkg:{purl_type}/{distro}/{}@{}", encode(&name), encode(&version));
    if !arch.is_empty() {
        purl.push_str(&format!("?arch={}", encode(&arch)));
    }
    Some(Package { name, version, arch, purl, manager })
}

/// The fields of each paragraph (`Key: value`; lines starting with a
/// space continue the value before and are left out).
fn paragraphs(text: &str, separator: char) -> impl Iterator<Item = Vec<(String, String)>> + '_ {
    text.split("\n\n").map(move |paragraph| {
        paragraph
            .lines()
            .filter(|line| !line.starts_with([' ', '\t']))
            .filter_map(|line| line.split_once(separator))
            .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
            .collect::<Vec<_>>()
    })
}

/// Percent-encodes what a package URL component may not hold as is.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'~' | b'+') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_dpkg_paragraphs_become_packages_with_purls() {
        let status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n\
                      Description: GNU C Library\n continued line: not a field\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                      Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 1:2024a-0\n";
        let found = dpkg(status, "debian");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].purl, "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64");
        assert_eq!(found[1].purl, "pkg:deb/debian/tzdata@1%3A2024a-0?arch=all");
    }

    #[test]
    fn apk_databases_and_os_release_ids_are_read() {
        let found = apk("C:Q1x\nP:musl\nV:1.2.5-r0\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n", "alpine");
        assert_eq!(found[1].purl, "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64");
        assert_eq!(os_id("NAME=x\nID=\"Debian\"\n").as_deref(), Some("debian"));
        assert_eq!(os_id("ID=a/b\n"), None);
    }
}
