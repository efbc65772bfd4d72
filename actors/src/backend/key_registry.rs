//! The process-wide registry of deserialized public key material, so that parties running in
//! one process (the demo runs client, trainer, workers and evaluator in one) hold one copy of
//! the keys instead of one each: at N = 2^16 a bootstrappable key set is gigabytes.
//!
//! Entries are keyed by a [`MaterialDigest`] (SHA-256 over the material's content, computed by
//! whoever holds the material, never taken from a peer's word) and held weakly: an entry dies
//! with its last user. Only types implementing the sealed [`PublicMaterial`] trait can be
//! registered, and no type holding a secret key implements it, so the registry cannot hand a
//! secret key to anyone. A digest is honoured only within this process: a peer that announces
//! one learns at most whether this process already holds that (public) material.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde::{Deserialize, Serialize};

/// SHA-256 over a key set's content (parameters and every key), the same whoever computes it
/// and however the keys travelled.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MaterialDigest(pub [u8; 32]);

impl fmt::Debug for MaterialDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaterialDigest({self})")
    }
}

impl fmt::Display for MaterialDigest {
    /// The first 8 bytes in hex (enough to tell key sets apart in logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

mod sealed {
    /// Implemented only inside this crate, for key-less server types.
    pub trait Sealed {}
}

pub(crate) use sealed::Sealed;

/// Public (evaluation) material that may be shared between the parties of one process. Sealed:
/// implemented only for key-less server backends, never for a type holding a secret key.
///
/// ```compile_fail
/// // A client backend (it holds the secret key) cannot be registered.
/// use std::sync::Arc;
/// use hetal_actors::backend::ckks::CkksClient;
/// use hetal_actors::backend::key_registry::{register, MaterialDigest};
/// fn share(client: Arc<CkksClient>) {
///     register(MaterialDigest([0; 32]), &client);
/// }
/// ```
///
/// ```
/// // Whereas the key-less server half registers (the same call compiles).
/// use std::sync::Arc;
/// use hetal_actors::backend::ckks::CkksServer;
/// use hetal_actors::backend::key_registry::{register, MaterialDigest};
/// fn share(server: Arc<CkksServer>) -> Arc<CkksServer> {
///     register(MaterialDigest([0; 32]), &server)
/// }
/// ```
pub trait PublicMaterial: Sealed + Send + Sync + 'static {}

type Entries = HashMap<MaterialDigest, Weak<dyn Any + Send + Sync>>;

fn entries() -> &'static Mutex<Entries> {
    static REGISTRY: OnceLock<Mutex<Entries>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Registers `material` under `digest` (held weakly), unless a live entry of the same type is
/// already there; returns the entry now registered (the existing one in that case, so that
/// every holder shares it). Dead entries are pruned on the way.
pub fn register<T: PublicMaterial>(digest: MaterialDigest, material: &Arc<T>) -> Arc<T> {
    let Ok(mut map) = entries().lock() else {
        // A poisoned registry only loses sharing, never correctness.
        return Arc::clone(material);
    };
    map.retain(|_, weak| weak.strong_count() > 0);
    if let Some(existing) = map
        .get(&digest)
        .and_then(Weak::upgrade)
        .and_then(|any| any.downcast::<T>().ok())
    {
        return existing;
    }
    let erased: Arc<dyn Any + Send + Sync> = Arc::clone(material) as Arc<dyn Any + Send + Sync>;
    map.insert(digest, Arc::downgrade(&erased));
    Arc::clone(material)
}

/// The live material registered under `digest`, if it has type `T`.
pub fn lookup<T: PublicMaterial>(digest: &MaterialDigest) -> Option<Arc<T>> {
    let map = entries().lock().ok()?;
    map.get(digest)?.upgrade()?.downcast::<T>().ok()
}

/// Number of live entries (for logs and tests).
pub fn live_entries() -> usize {
    entries()
        .lock()
        .map(|map| map.values().filter(|w| w.strong_count() > 0).count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe(u32);
    impl Sealed for Probe {}
    impl PublicMaterial for Probe {}

    struct Other;
    impl Sealed for Other {}
    impl PublicMaterial for Other {}

    fn digest(tag: u8) -> MaterialDigest {
        let mut d = [0xa5; 32];
        d[0] = tag;
        d[31] = 0x17;
        MaterialDigest(d)
    }

    #[test]
    fn entries_are_shared_while_alive_and_die_with_their_last_holder() {
        let d = digest(1);
        let first = Arc::new(Probe(7));
        let registered = register(d, &first);
        assert!(Arc::ptr_eq(&registered, &first));
        // A second registration under the same digest gets the live entry, not its own copy.
        let second = register(d, &Arc::new(Probe(8)));
        assert!(Arc::ptr_eq(&second, &first));
        let found = lookup::<Probe>(&d).expect("live entry");
        assert_eq!(found.0, 7);
        // `first` and the three handles above: no copy was made.
        assert_eq!(Arc::strong_count(&first), 4);
        // Another type under the same digest is not handed out.
        assert!(lookup::<Other>(&d).is_none());
        drop((registered, second, found, first));
        assert!(
            lookup::<Probe>(&d).is_none(),
            "the entry died with its holders"
        );
        assert!(lookup::<Probe>(&digest(2)).is_none(), "unknown digest");
    }

    #[test]
    fn digests_print_as_short_hex() {
        assert_eq!(digest(0xab).to_string(), "aba5a5a5a5a5a5a5");
        assert!(format!("{:?}", digest(0xab)).contains("aba5a5a5"));
    }
}
