//! Keys in cosign's formats. The private key is PEM `ENCRYPTED SIGSTORE
//! PRIVATE KEY` (older cosign: `ENCRYPTED COSIGN PRIVATE KEY`) around JSON:
//! scrypt parameters and salt, a nacl secretbox nonce, and the box of the
//! PKCS#8 DER of an ECDSA P-256 key. The public key is PKIX PEM.
//!
//! Key files are read within [`super::limits`] (regular files of at
//! most 64 KiB), and the scrypt parameters a private key asks for are
//! bounded (see [`MAX_LOG_N`] and below) before any work is done: a
//! crafted key cannot make compose-img hang or take gigabytes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};

use super::SignError;
use super::limits::{self, MAX_KEY_FILE};

const LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const OLD_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// cosign's (go-tuf's `encrypted` package's) scrypt parameters.
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
/// The scrypt parameters a key may ask for: cosign's and a range around
/// them. N (a power of two) at most 2^16, r at most 16, p at most 4, and
/// the memory scrypt takes, 128 * N * r bytes, at most 64 MiB (cosign's
/// parameters take 32 MiB). The work is bounded by p times that.
pub(crate) const MAX_LOG_N: u32 = 16;
pub(crate) const MAX_R: u32 = 16;
pub(crate) const MAX_P: u32 = 4;
pub(crate) const MAX_SCRYPT_MEMORY: u64 = 64 << 20;

#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        STANDARD.decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

fn derive(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<[u8; 32], SignError> {
    let params = scrypt::Params::new(log_n, r, p).map_err(|e| SignError::Key(format!("bad scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut key).map_err(|e| SignError::Key(format!("scrypt: {e}")))?;
    Ok(key)
}

fn random<const N: usize>() -> Result<[u8; N], SignError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SignError::Key(format!("no randomness from the system: {e}")))?;
    Ok(bytes)
}

/// A new key pair: the encrypted private key PEM and the public key PEM.
pub(crate) fn generate(password: &[u8]) -> Result<(String, String), SignError> {
    let key = SigningKey::generate();
    let der = key.to_pkcs8_der().map_err(|e| SignError::Key(format!("cannot encode the key: {e}")))?;
    let salt = random::<32>()?;
    let nonce = random::<24>()?;
    let box_key = derive(password, &salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)?;
    let ciphertext = XSalsa20Poly1305::new(&box_key.into())
        .encrypt(&nonce.into(), der.as_bytes())
        .map_err(|_| SignError::Key("cannot encrypt the key".into()))?;
    let sealed = Sealed {
        kdf: Kdf {
            name: "scrypt".into(),
            params: KdfParams { n: 1 << SCRYPT_LOG_N, r: SCRYPT_R, p: SCRYPT_P },
            salt: salt.to_vec(),
        },
        cipher: Cipher { name: "nacl/secretbox".into(), nonce: nonce.to_vec() },
        ciphertext,
    };
    let json = serde_json::to_vec(&sealed).map_err(|e| SignError::Key(e.to_string()))?;
    let private = pem_rfc7468::encode_string(LABEL, LineEnding::LF, &json)
        .map_err(|e| SignError::Key(format!("cannot encode PEM: {e}")))?;
    Ok((private, public_pem(key.verifying_key())?))
}

pub(crate) fn public_pem(key: &VerifyingKey) -> Result<String, SignError> {
    key.to_public_key_pem(LineEnding::LF).map_err(|e| SignError::Key(format!("cannot encode the public key: {e}")))
}

/// An encrypted private key, read and checked (its scrypt parameters are
/// within bounds), not yet decrypted.
pub(crate) struct EncryptedKey {
    sealed: Sealed,
    log_n: u8,
    nonce: [u8; 24],
    /// The key file, for messages.
    path: PathBuf,
}

/// Reads a private key PEM (from `path`, for messages): the cosign JSON
/// inside, with scrypt parameters within bounds.
pub(crate) fn parse_private(pem: &[u8], path: &Path) -> Result<EncryptedKey, SignError> {
    let bad = |why: String| SignError::Key(format!("{}: {why}", path.display()));
    let (label, json) = pem_rfc7468::decode_vec(pem).map_err(|e| bad(format!("not a PEM private key: {e}")))?;
    if label != LABEL && label != OLD_LABEL {
        return Err(bad(format!("a `{label}` PEM block is not a cosign private key (expected `{LABEL}`)")));
    }
    let sealed: Sealed = serde_json::from_slice(&json).map_err(|e| bad(format!("not a cosign encrypted key: {e}")))?;
    if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
        return Err(bad(format!("unsupported encryption {} / {}", sealed.kdf.name, sealed.cipher.name)));
    }
    let log_n = scrypt_bounds(&sealed.kdf.params).map_err(|e| bad(e.to_string()))?;
    let nonce: [u8; 24] =
        sealed.cipher.nonce.as_slice().try_into().map_err(|_| bad("the nonce is not 24 bytes".into()))?;
    Ok(EncryptedKey { sealed, log_n, nonce, path: path.to_owned() })
}

/// log2 N if the parameters are within bounds; else which are not.
fn scrypt_bounds(params: &KdfParams) -> Result<u8, ScryptBounds> {
    let KdfParams { n, r, p } = *params;
    let mut wrong = Vec::new();
    if !n.is_power_of_two() || n < 2 {
        wrong.push(format!("N={n} is not a power of two of at least 2"));
    } else if n.trailing_zeros() > MAX_LOG_N {
        wrong.push(format!("N={n} is over {} (2^{MAX_LOG_N})", 1u64 << MAX_LOG_N));
    }
    if !(1..=MAX_R).contains(&r) {
        wrong.push(format!("r={r} is not 1 to {MAX_R}"));
    }
    if !(1..=MAX_P).contains(&p) {
        wrong.push(format!("p={p} is not 1 to {MAX_P}"));
    }
    let memory = u128::from(n) * u128::from(r) * 128;
    if memory > u128::from(MAX_SCRYPT_MEMORY) {
        wrong.push(format!("N*r*128 = {} MiB is over {}", memory >> 20, limits::shown(MAX_SCRYPT_MEMORY)));
    }
    if !wrong.is_empty() {
        return Err(ScryptBounds { params: *params, wrong });
    }
    Ok(n.trailing_zeros() as u8)
}

/// Scrypt parameters beyond what compose-img reads, with what is wrong.
#[derive(Debug, PartialEq, Eq)]
struct ScryptBounds {
    params: KdfParams,
    wrong: Vec<String>,
}

impl std::fmt::Display for ScryptBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let KdfParams { n, r, p } = self.params;
        write!(
            f,
            "refusing the scrypt parameters N={n} r={r} p={p}: {} (compose-img reads keys with N a power of two up \
             to 2^{MAX_LOG_N}, r up to {MAX_R}, p up to {MAX_P} and N*r*128 up to {}; cosign writes N=32768 r=8 p=1)",
            self.wrong.join(", "),
            limits::shown(MAX_SCRYPT_MEMORY)
        )
    }
}

impl EncryptedKey {
    /// Decrypts the key with `password`.
    pub(crate) fn decrypt(&self, password: &[u8]) -> Result<SigningKey, SignError> {
        let bad = |why: String| SignError::Key(format!("{}: {why}", self.path.display()));
        let KdfParams { r, p, .. } = self.sealed.kdf.params;
        let box_key = derive(password, &self.sealed.kdf.salt, self.log_n, r, p)?;
        let der = XSalsa20Poly1305::new(&box_key.into())
            .decrypt(&self.nonce.into(), self.sealed.ciphertext.as_slice())
            .map_err(|_| bad("wrong password (the key does not decrypt)".into()))?;
        SigningKey::from_pkcs8_der(&der).map_err(|e| bad(format!("not an ECDSA P-256 key: {e}")))
    }
}

/// Decrypts a private key PEM (from `path`, for messages) with `password`.
pub(crate) fn decrypt(pem: &[u8], password: &[u8], path: &Path) -> Result<SigningKey, SignError> {
    parse_private(pem, path)?.decrypt(password)
}

/// Reads the private key at `path` (a regular file of at most 64 KiB that
/// group and others cannot read) and checks it, without decrypting it:
/// a key that cannot be used is refused before a password is asked for.
pub(crate) fn open_private(path: &Path) -> Result<EncryptedKey, SignError> {
    let (pem, meta) = limits::read_regular(path, MAX_KEY_FILE)
        .map_err(|e| SignError::Key(format!("cannot read {}: {e}", path.display())))?;
    if pem.windows(26).any(|w| w == b"-----BEGIN PUBLIC KEY-----") {
        return Err(SignError::Key(format!(
            "{} is a public key: signing needs the private key (the .key file `compose-img keygen` wrote beside it)",
            path.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SignError::Key(format!(
            "{} is readable by others (mode {mode:04o}); a private key must be private: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    parse_private(&pem, path)
}

/// Reads a PKIX PEM public key (a regular file of at most 64 KiB).
pub(crate) fn load_public(path: &Path) -> Result<VerifyingKey, SignError> {
    let (bytes, _) = limits::read_regular(path, MAX_KEY_FILE)
        .map_err(|e| SignError::Key(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| SignError::Key(format!("{} is not a PEM ECDSA P-256 public key: not text", path.display())))?;
    if text.contains(&format!("-----BEGIN {LABEL}-----")) || text.contains(&format!("-----BEGIN {OLD_LABEL}-----")) {
        return Err(SignError::Key(format!(
            "{} is a private key: verifying needs the public key (the .pub file beside it)",
            path.display()
        )));
    }
    VerifyingKey::from_public_key_pem(&text)
        .map_err(|e| SignError::Key(format!("{} is not a PEM ECDSA P-256 public key: {e}", path.display())))
}

/// Writes `P.key` (mode 0600) and `P.pub`; existing files are kept unless
/// `force`.
pub(crate) fn write_pair(
    prefix: &Path,
    private: &str,
    public: &str,
    force: bool,
) -> Result<(PathBuf, PathBuf), SignError> {
    let with_ext = |ext: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (key_path, pub_path) = (with_ext(".key"), with_ext(".pub"));
    if !force {
        for path in [&key_path, &pub_path] {
            if path.exists() {
                return Err(SignError::Key(format!(
                    "{} exists: refusing to overwrite a key (use --force)",
                    path.display()
                )));
            }
        }
    }
    let write = |path: &Path, text: &str, mode: u32| -> Result<(), SignError> {
        let io = |e: std::io::Error| SignError::Key(format!("cannot write {}: {e}", path.display()));
        let _ = fs::remove_file(path);
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    };
    write(&key_path, private, 0o600)?;
    write(&pub_path, public, 0o644)?;
    Ok((key_path, pub_path))
}

/// The standard base64 of a DER signature, as cosign's annotation holds it.
pub(crate) fn signature_b64(der: &[u8]) -> String {
    STANDARD.encode(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_wrong_password() {
        let (private, public) = generate(b"pw").unwrap();
        assert!(private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let key = decrypt(private.as_bytes(), b"pw", Path::new("k")).unwrap();
        assert_eq!(public_pem(key.verifying_key()).unwrap(), public);
        let error = decrypt(private.as_bytes(), b"nope", Path::new("k")).unwrap_err().to_string();
        assert_eq!(error, "k: wrong password (the key does not decrypt)");
    }

    #[test]
    fn scrypt_parameters_are_bounded() {
        let bounds = |n, r, p| scrypt_bounds(&KdfParams { n, r, p });
        assert_eq!(bounds(32768, 8, 1), Ok(15));
        assert_eq!(bounds(1 << 16, 8, 4), Ok(16));
        assert_eq!(bounds(1 << 15, 16, 4), Ok(15));
        let error = bounds(1 << 20, 32, 16).unwrap_err().to_string();
        assert!(
            error.starts_with(
                "refusing the scrypt parameters N=1048576 r=32 p=16: N=1048576 is over 65536 (2^16), \
                 r=32 is not 1 to 16, p=16 is not 1 to 4, N*r*128 = 4096 MiB is over 64 MiB ("
            ),
            "{error}"
        );
        assert!(bounds(1 << 16, 16, 1).unwrap_err().to_string().contains(": N*r*128 = 128 MiB is over 64 MiB ("));
        assert!(
            bounds(30000, 8, 1).unwrap_err().to_string().contains(": N=30000 is not a power of two of at least 2 (")
        );
        assert!(bounds(1, 8, 1).unwrap_err().to_string().contains(": N=1 is not a power of two"));
        assert!(bounds(1 << 15, 0, 0).unwrap_err().to_string().contains(": r=0 is not 1 to 16, p=0 is not 1 to 4 ("));
        assert!(bounds(u64::MAX, u32::MAX, 1).is_err());
    }
}
