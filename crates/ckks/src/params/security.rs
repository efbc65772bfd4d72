//! The Homomorphic Encryption Standard bound on log(QP) for 128-bit security, per ring degree.
