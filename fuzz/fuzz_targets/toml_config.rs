//! The TOML configuration loaders: the runtime's node file
//! (`hetal_runtime::node::NodeConfigFile::parse` then `check`) and a party's file
//! (`hetal_actors::config::NodeFileConfig::parse`, which also runs the runtime's checks on its
//! node part). `hetal train`'s TOML lives in the root package (candle) and is not covered here.
//!
//! Each input is tried as it stands (UTF-8, or lossily decoded) and appended to a valid file of
//! each kind, so that fuzzed keys reach the value checks instead of stopping at a missing
//! `name`. Properties: no panic; parsing and checking are deterministic (the same text gives
//! an equal config or the same error message); an accepted party file is self-consistent (its
//! roster gives this node the stated role, names are valid) and its re-resolved runtime part
//! checks the same way. Input length is bounded by libFuzzer's `-max_len`.
#![no_main]

use std::path::Path;

use hetal_actors::config::NodeFileConfig;
use hetal_runtime::node::NodeConfigFile;
use libfuzzer_sys::fuzz_target;

/// A valid runtime node file whose last table is `[reconnect]`.
const RUNTIME_BASE: &str = "name = \"worker-1\"\nlisten = \"127.0.0.1:7102\"\n\
    cert_dir = \"certs\"\naccept_from = [\"client\"]\n[peers]\ntrainer = \"127.0.0.1:7101\"\n\
    [transport]\nprofile = \"loopback\"\n[reconnect]\nmax_attempts = 3\n";

/// A valid party file (a trainer, so `[checkpoint]` and `[dataset]` are allowed) whose last
/// table is `[roster]`.
const PARTY_BASE: &str = "role = \"trainer\"\nname = \"trainer\"\nlisten = \"127.0.0.1:7101\"\n\
    cert_dir = \"certs\"\n[peers]\nworker-1 = \"127.0.0.1:7102\"\n\
    [roster]\nclient = \"client\"\ntrainer = \"trainer\"\nworkers = [\"worker-1\"]\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_runtime(&text);
    check_party(&text);
    check_runtime(&format!("{RUNTIME_BASE}{text}"));
    check_party(&format!("{PARTY_BASE}{text}"));
});

/// Runtime node file: parse → check twice, with equal outcomes.
fn check_runtime(text: &str) {
    let first = NodeConfigFile::parse(text, "fuzz.toml");
    let second = NodeConfigFile::parse(text, "fuzz.toml");
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "the same text parsed to different configs");
            let c1 = a.check("fuzz.toml").map_err(|e| e.to_string());
            let c2 = b.check("fuzz.toml").map_err(|e| e.to_string());
            assert_eq!(c1, c2, "check is not deterministic");
            // A clone is the same value, and checks the same way.
            let clone = a.clone();
            assert_eq!(clone.check("fuzz.toml").map_err(|e| e.to_string()), c1);
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "parse error differs"),
        _ => panic!("the same text was once accepted and once refused"),
    }
}

/// Party file: parse twice with equal outcomes; an accepted file is self-consistent.
fn check_party(text: &str) {
    let base = Path::new("/fuzz/base");
    let first = NodeFileConfig::parse(text, base);
    let second = NodeFileConfig::parse(text, base);
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "the same text parsed to different configs");
            let me = a.node_name().expect("an accepted config has a valid name");
            let roster = a.roster().expect("an accepted config has a valid roster");
            assert_eq!(
                roster.role_of(&me),
                Some(a.role),
                "accepted a node the roster does not give its role"
            );
            // Relative paths were resolved against the base.
            assert!(a.cert_dir.starts_with(base) || a.cert_dir.is_absolute());
            if let Some(c) = &a.checkpoint {
                assert!(
                    c.every_steps >= 1 && c.keep >= 1,
                    "accepted a zero checkpoint knob"
                );
            }
            if let Some(d) = &a.dataset {
                assert!(d.memory_budget_bytes >= 1, "accepted a zero memory budget");
            }
            // The runtime tables it carries pass the runtime's own checks in a node file.
            let node = NodeConfigFile {
                name: a.name.clone(),
                listen: a.listen,
                cert_dir: a.cert_dir.clone(),
                mailbox_capacity: a.mailbox_capacity,
                peers: a.peers.clone(),
                accept_from: Vec::new(),
                transport: a.transport.clone(),
                reconnect: a.reconnect.clone(),
            };
            if let Err(e) = node.check("fuzz.toml") {
                panic!("an accepted party file's node part fails the runtime check: {e}");
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "parse error differs"),
        _ => panic!("the same text was once accepted and once refused"),
    }
}
