//! Nonces per DM server, persisted in the state directory (`nonces`), so that
//! digests keep working across restarts. One line per server:
//! `<server id> <client nonce b64> <server nonce b64>`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::state_file::{self, StateError};

/// The two nonces of one server account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nonces {
    /// Given by the server (NextNonce in its Chal); used in our credentials.
    pub client: Vec<u8>,
    /// Given by us to the server; used to check its credentials and
    /// notification digests.
    pub server: Vec<u8>,
}

/// The persisted nonce table.
#[derive(Debug)]
pub struct NonceStore {
    path: PathBuf,
    map: BTreeMap<String, Nonces>,
}

impl NonceStore {
    /// Loads `<state_dir>/nonces`; lines that do not parse are skipped.
    pub fn load(state_dir: &std::path::Path) -> Result<Self, StateError> {
        let path = state_dir.join("nonces");
        let mut map = BTreeMap::new();
        if let Some(bytes) = state_file::read_optional(&path)? {
            for line in String::from_utf8_lossy(&bytes).lines() {
                let mut f = line.split(' ');
                let (Some(id), Some(c), Some(s)) = (f.next(), f.next(), f.next()) else {
                    continue;
                };
                if let (Ok(client), Ok(server)) = (B64.decode(c), B64.decode(s)) {
                    map.insert(id.to_string(), Nonces { client, server });
                }
            }
        }
        Ok(NonceStore { path, map })
    }

    pub fn get(&self, server_id: &str) -> Nonces {
        self.map.get(server_id).cloned().unwrap_or_default()
    }

    /// Stores the nonces of `server_id` and writes the file.
    pub fn set(&mut self, server_id: &str, nonces: Nonces) -> Result<(), StateError> {
        self.map.insert(server_id.to_string(), nonces);
        let mut out = String::new();
        for (id, n) in &self.map {
            let id: String = id.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
            out.push_str(&format!("{id} {} {}\n", B64.encode(&n.client), B64.encode(&n.server)));
        }
        state_file::write_atomic(&self.path, out.as_bytes())
    }
}

/// A fresh random nonce (16 bytes).
pub fn fresh() -> Vec<u8> {
    let mut n = vec![0u8; 16];
    if getrandom::getrandom(&mut n).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        n = t.as_nanos().to_le_bytes().to_vec();
    }
    n
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn nonces_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = NonceStore::load(dir.path()).unwrap();
        assert_eq!(s.get("srv1"), Nonces::default());
        let n = Nonces { client: b"Nonce".to_vec(), server: vec![0, 0, 0, 0] };
        s.set("srv1", n.clone()).unwrap();
        let s2 = NonceStore::load(dir.path()).unwrap();
        assert_eq!(s2.get("srv1"), n);
        assert_eq!(fresh().len(), 16);
    }
}
