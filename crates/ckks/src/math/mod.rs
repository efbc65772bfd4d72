//! Ring arithmetic below the scheme: modular words, primes, NTT, RNS polynomials, samplers.
