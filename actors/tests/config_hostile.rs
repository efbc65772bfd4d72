//! Hostile party configuration files (issue #10 §1, next to the `toml_config` fuzz target): deep
//! nesting, huge integers, unknown keys and wrong types in `hetal node --config` files are each
//! refused with `ActorError::Config` naming the offending key, never a panic or a stack overflow.

use std::path::Path;

use hetal_actors::ActorError;
use hetal_actors::config::NodeFileConfig;

/// A valid trainer file whose last table is `[roster]` (so `[checkpoint]`, `[dataset]` and
/// appended tables are allowed).
const BASE: &str = "role = \"trainer\"\nname = \"trainer\"\nlisten = \"127.0.0.1:7101\"\n\
    cert_dir = \"certs\"\n[peers]\nworker-1 = \"127.0.0.1:7102\"\n\
    [roster]\nclient = \"client\"\ntrainer = \"trainer\"\nworkers = [\"worker-1\"]\n";

/// Asserts that `text` is refused with a configuration error whose message names `key`.
fn assert_refused_naming(text: &str, key: &str) {
    match NodeFileConfig::parse(text, Path::new("base")) {
        Ok(_) => panic!("{key}: accepted a hostile file:\n{text}"),
        Err(ActorError::Config(message)) => {
            assert!(message.contains(key), "{key}: key not named: {message}")
        }
        Err(other) => panic!("{key}: not a configuration error: {other}"),
    }
}

#[test]
fn the_base_file_is_accepted() {
    // Without this the refusals below could come from a broken base.
    let config = NodeFileConfig::parse(BASE, Path::new("base")).unwrap();
    assert_eq!(config.cert_dir, Path::new("base/certs"));
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    const DEPTH: usize = 10_000;
    let arrays = BASE.replace(
        "workers = [\"worker-1\"]",
        &format!("workers = {}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)),
    );
    assert_refused_naming(&arrays, "workers");
    let inline = format!(
        "{BASE}[client]\ndata = {}1{}\n",
        "{ a = ".repeat(DEPTH),
        " }".repeat(DEPTH)
    );
    assert!(matches!(
        NodeFileConfig::parse(&inline, Path::new("base")),
        Err(ActorError::Config(_))
    ));
    let dotted = format!("{BASE}[dataset{}]\n", ".deep".repeat(50));
    assert_refused_naming(&dotted, "deep");
}

#[test]
fn huge_integers_name_their_key() {
    let every = format!("{BASE}[checkpoint]\ndir = \"c\"\nevery_steps = 99999999999999999999999\n");
    assert_refused_naming(&every, "every_steps");
    let negative = format!("{BASE}[dataset]\ndir = \"d\"\nmemory_budget_bytes = -1\n");
    assert_refused_naming(&negative, "memory_budget_bytes");
    let mtu = format!("{BASE}[transport]\nmtu_max = 65536\n");
    assert_refused_naming(&mtu, "mtu_max");
}

#[test]
fn unknown_keys_and_wrong_types_name_their_key() {
    assert_refused_naming(&format!("colour = 1\n{BASE}"), "colour");
    assert_refused_naming(&format!("{BASE}evaluators = [\"e\"]\n"), "evaluators");
    assert_refused_naming(
        &format!("{BASE}[checkpoint]\ndir = \"c\"\nkept = 2\n"),
        "kept",
    );
    assert_refused_naming(&BASE.replace("\"trainer\"\nname", "\"boss\"\nname"), "role");
    assert_refused_naming(&BASE.replace("\"127.0.0.1:7101\"", "7101"), "listen");
    assert_refused_naming(&BASE.replace("[\"worker-1\"]", "\"worker-1\""), "workers");
    assert_refused_naming(&format!("{BASE}[checkpoint]\ndir = 5\n"), "dir");
}
