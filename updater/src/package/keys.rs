//! Ed25519 signing keys: files, key ids, and verification of a header.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{PackageError, RawHeader};

/// The id of a public key: the first 8 bytes of its SHA-256, hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// The trusted public keys of a key directory (`*.pub` files).
#[derive(Debug, Clone)]
pub struct PublicKeys {
    dir: PathBuf,
    keys: BTreeMap<String, VerifyingKey>,
}

/// Loads every `*.pub` file of `dir` (hex of the 32-byte Ed25519 public key).
pub fn load_public_keys(dir: &Path) -> Result<PublicKeys, PackageError> {
    let io_err = |e| PackageError::Io { what: format!("key directory {}", dir.display()), source: e };
    let mut keys = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        if path.extension().is_some_and(|e| e == "pub") {
            let bytes = read_hex_key(&path)?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|e| PackageError::BadKey { path: path.clone(), why: e.to_string() })?;
            keys.insert(key_id(&key), key);
        }
    }
    Ok(PublicKeys { dir: dir.to_path_buf(), keys })
}

impl PublicKeys {
    /// Verifies the header's signatures: at least one by a trusted key, and
    /// every signature by a trusted key valid.
    pub fn verify(&self, header: &RawHeader) -> Result<String, PackageError> {
        let mut good = None;
        for (id, sig) in &header.signatures {
            if let Some(key) = self.keys.get(id) {
                key.verify(&header.manifest_bytes, &Signature::from_bytes(sig))
                    .map_err(|_| PackageError::BadSignature { key_id: id.clone() })?;
                good.get_or_insert_with(|| id.clone());
            }
        }
        good.ok_or_else(|| PackageError::Untrusted {
            signed_by: header.signatures.iter().map(|(id, _)| id.clone()).collect(),
            trusted: self.keys.keys().cloned().collect(),
            keys_dir: self.dir.clone(),
        })
    }
}

fn read_hex_key(path: &Path) -> Result<[u8; 32], PackageError> {
    let text = fs::read_to_string(path)
        .map_err(|e| PackageError::Io { what: format!("key {}", path.display()), source: e })?;
    let bad = |why: &str| PackageError::BadKey { path: path.to_path_buf(), why: why.into() };
    let bytes = hex::decode(text.trim()).map_err(|_| bad("not hex"))?;
    bytes.try_into().map_err(|_| bad("not 32 bytes"))
}

/// Loads a secret key file (hex of the 32-byte Ed25519 seed).
pub fn load_secret_key(path: &Path) -> Result<SigningKey, PackageError> {
    Ok(SigningKey::from_bytes(&read_hex_key(path)?))
}

/// Makes a new key pair: `<base>.key` (mode 0600) and `<base>.pub`. Returns the key id.
pub fn write_keypair(base: &Path) -> Result<String, PackageError> {
    let io_err = |what: String| move |e| PackageError::Io { what, source: e };
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| PackageError::Io {
        what: "the system random source".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let secret = base.with_extension("key");
    let mut options = fs::OpenOptions::new();
    std::os::unix::fs::OpenOptionsExt::mode(options.write(true).create_new(true), 0o600);
    let mut file = options.open(&secret).map_err(io_err(format!("creating {}", secret.display())))?;
    writeln!(file, "{}", hex::encode(seed)).map_err(io_err(secret.display().to_string()))?;
    let public = base.with_extension("pub");
    fs::write(&public, format!("{}\n", hex::encode(key.verifying_key().as_bytes())))
        .map_err(io_err(format!("writing {}", public.display())))?;
    Ok(key_id(&key.verifying_key()))
}

/// Signs manifest bytes; returns (key id, signature).
pub fn sign(key: &SigningKey, manifest_bytes: &[u8]) -> (String, [u8; 64]) {
    (key_id(&key.verifying_key()), key.sign(manifest_bytes).to_bytes())
}
