//! Keys in cosign's formats. The private key is PEM `ENCRYPTED SIGSTORE
//! PRIVATE KEY` (older cosign: `ENCRYPTED COSIGN PRIVATE KEY`) around JSON:
//! scrypt parameters and salt, a nacl secretbox nonce, and the box of the
//! PKCS#8 DER of an ECDSA P-256 key. The public key is PKIX PEM.

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

const LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const OLD_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// cosign's (go-tuf's `encrypted` package's) scrypt parameters.
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

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

#[derive(Serialize, Deserialize)]
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

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
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
pub fn generate(password: &[u8]) -> Result<(String, String), SignError> {
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

pub fn public_pem(key: &VerifyingKey) -> Result<String, SignError> {
    key.to_public_key_pem(LineEnding::LF).map_err(|e| SignError::Key(format!("cannot encode the public key: {e}")))
}

/// Decrypts a private key PEM (from `path`, for messages) with `password`.
pub fn decrypt(pem: &[u8], password: &[u8], path: &Path) -> Result<SigningKey, SignError> {
    let bad = |why: String| SignError::Key(format!("{}: {why}", path.display()));
    let (label, json) = pem_rfc7468::decode_vec(pem).map_err(|e| bad(format!("not a PEM private key: {e}")))?;
    if label != LABEL && label != OLD_LABEL {
        return Err(bad(format!("a `{label}` PEM block is not a cosign private key (expected `{LABEL}`)")));
    }
    let sealed: Sealed = serde_json::from_slice(&json).map_err(|e| bad(format!("not a cosign encrypted key: {e}")))?;
    if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
        return Err(bad(format!("unsupported encryption {} / {}", sealed.kdf.name, sealed.cipher.name)));
    }
    let KdfParams { n, r, p } = sealed.kdf.params;
    // Bounded so a crafted key cannot ask for unbounded memory.
    if !n.is_power_of_two() || !(2..=1 << 20).contains(&n) || r > 32 || p > 16 {
        return Err(bad(format!("scrypt parameters N={n} r={r} p={p} are out of range")));
    }
    let nonce: [u8; 24] = sealed.cipher.nonce.try_into().map_err(|_| bad("the nonce is not 24 bytes".into()))?;
    let box_key = derive(password, &sealed.kdf.salt, n.trailing_zeros() as u8, r, p)?;
    let der = XSalsa20Poly1305::new(&box_key.into())
        .decrypt(&nonce.into(), sealed.ciphertext.as_slice())
        .map_err(|_| bad("wrong password (the key does not decrypt)".into()))?;
    SigningKey::from_pkcs8_der(&der).map_err(|e| bad(format!("not an ECDSA P-256 key: {e}")))
}

/// Reads and decrypts the private key at `path`, refusing one that group
/// or others may read.
pub fn load_private(path: &Path, password: &[u8]) -> Result<SigningKey, SignError> {
    let meta = fs::metadata(path).map_err(|e| SignError::Key(format!("cannot read {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SignError::Key(format!(
            "{} is readable by others (mode {mode:04o}); a private key must be private: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    let pem = fs::read(path).map_err(|e| SignError::Key(format!("cannot read {}: {e}", path.display())))?;
    decrypt(&pem, password, path)
}

/// Reads a PKIX PEM public key.
pub fn load_public(path: &Path) -> Result<VerifyingKey, SignError> {
    let text = fs::read_to_string(path).map_err(|e| SignError::Key(format!("cannot read {}: {e}", path.display())))?;
    VerifyingKey::from_public_key_pem(&text)
        .map_err(|e| SignError::Key(format!("{} is not a PEM ECDSA P-256 public key: {e}", path.display())))
}

/// Writes `P.key` (mode 0600) and `P.pub`; existing files are kept unless
/// `force`.
pub fn write_pair(prefix: &Path, private: &str, public: &str, force: bool) -> Result<(PathBuf, PathBuf), SignError> {
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
pub fn signature_b64(der: &[u8]) -> String {
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
}
