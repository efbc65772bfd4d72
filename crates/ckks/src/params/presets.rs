//! Named parameter presets: secure sets for real use, small insecure sets for tests.
