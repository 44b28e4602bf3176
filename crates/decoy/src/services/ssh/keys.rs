//! The decky's SSH host keys (Ed25519, ECDSA P-256, RSA 2048), derived from its seed so
//! they survive restarts without being stored and differ between deckies.

use russh::keys::ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use russh::keys::{EcdsaCurve, PrivateKey};
use sha2::{Digest, Sha256};

use crate::persona::Persona;

/// A deterministic generator (SHA-256 in counter mode over a secret seed), so a decky's
/// host keys are the same after every restart without being stored anywhere.
struct SeededRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededRng {
    fn new(seed: [u8; 32]) -> Self {
        Self { seed, counter: 0, block: [0; 32], used: 32 }
    }
}

impl rand_core::TryRng for SeededRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            if self.used == self.block.len() {
                self.block =
                    Sha256::new().chain_update(self.seed).chain_update(self.counter.to_le_bytes()).finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SeededRng {}

/// Why the ssh decoy could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the ssh host keys: {0}")]
pub struct KeyError(String);

/// The decky's host keys, derived from its seed.
pub fn host_keys(persona: &Persona) -> Result<Vec<PrivateKey>, KeyError> {
    let err = |e: russh::keys::ssh_key::Error| KeyError(e.to_string());
    let ed25519 = Ed25519Keypair::from_seed(&persona.derive_key("ssh host key ed25519"));
    let ecdsa =
        EcdsaKeypair::random(&mut SeededRng::new(persona.derive_key("ssh host key ecdsa")), EcdsaCurve::NistP256)
            .map_err(err)?;
    let rsa = RsaKeypair::random(&mut SeededRng::new(persona.derive_key("ssh host key rsa")), 2048).map_err(err)?;
    let comment = format!("root@{}", persona.hostname);
    [KeypairData::from(ed25519), KeypairData::from(ecdsa), KeypairData::from(rsa)]
        .into_iter()
        .map(|data| PrivateKey::new(data, comment.as_str()).map_err(err))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use russh::keys::HashAlg;

    #[test]
    fn host_keys_are_stable_per_decky_and_differ_between_deckies() {
        let a = Persona::new("t", "decky-001", None, None, None);
        let b = Persona::new("t", "decky-002", None, None, None);
        let fingerprints = |p: &Persona| -> Vec<String> {
            host_keys(p).unwrap().iter().map(|k| k.public_key().fingerprint(HashAlg::Sha256).to_string()).collect()
        };
        let first = fingerprints(&a);
        assert_eq!(first.len(), 3);
        assert_eq!(first, fingerprints(&a), "restarts keep the keys");
        assert!(first.iter().zip(fingerprints(&b)).all(|(x, y)| *x != y), "no two deckies share a key");
    }
}
