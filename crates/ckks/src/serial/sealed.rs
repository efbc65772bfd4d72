//! [`Serialized<T>`]: the serde face of a serialized object.
//!
//! Messages (for example the runtime's wire types) embed `Serialized<Ciphertext>` rather than a
//! `Ciphertext`: serde moves the bytes, and turning them back into an object needs the
//! receiver's context ([`Serialized::open`]), so no message can skip the parameter checks. The
//! type parameter only accepts [`Serial`] types, which the secret key is not.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec::{Serial, from_bytes, to_bytes};
use crate::error::Result;
use crate::params::context::Context;

/// The checked binary form of a `T` (a container: header plus payload), serde-serializable as
/// a byte string.
pub struct Serialized<T> {
    bytes: Vec<u8>,
    kind: PhantomData<fn() -> T>,
}

impl<T: Serial> Serialized<T> {
    /// Serializes `obj`, which must belong to `ctx`.
    pub fn seal(obj: &T, ctx: &Context) -> Result<Self> {
        Ok(Self::from_vec(to_bytes(obj, ctx)?))
    }

    /// Deserializes and validates the object against the receiver's context.
    pub fn open(&self, ctx: &Arc<Context>) -> Result<T> {
        from_bytes(&self.bytes, ctx)
    }
}

impl<T> Serialized<T> {
    /// Wraps bytes received from elsewhere; nothing is checked until [`Serialized::open`].
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            kind: PhantomData,
        }
    }

    /// The serialized bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the wrapper, returning the bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when there are no bytes (never the case for a sealed object).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl<T> Clone for Serialized<T> {
    fn clone(&self) -> Self {
        Self::from_vec(self.bytes.clone())
    }
}

impl<T> PartialEq for Serialized<T> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl<T> Eq for Serialized<T> {}

impl<T> fmt::Debug for Serialized<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Serialized<{}>({} bytes)",
            std::any::type_name::<T>(),
            self.bytes.len()
        )
    }
}

impl<T> Serialize for Serialized<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serde_bytes::serialize(&self.bytes, serializer)
    }
}

impl<'de, T> Deserialize<'de> for Serialized<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let bytes: Vec<u8> = serde_bytes::deserialize(deserializer)?;
        Ok(Self::from_vec(bytes))
    }
}
