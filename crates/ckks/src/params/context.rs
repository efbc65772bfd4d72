//! `Context`: everything derived from a [`super::ParameterSpec`] once: primes, NTT tables, RNS constants.
