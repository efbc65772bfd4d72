//! Hostile node configuration files (issue #10 §1, next to the `toml_config` fuzz target): deep
//! nesting, huge integers, unknown keys and wrong types are each refused with a typed
//! [`ConfigError`] that names the file and the offending key, never a panic or a stack overflow.

use hetal_runtime::node::{ConfigError, NODE_CONFIG_EXAMPLE, NodeConfigFile};

/// Source name the errors must carry.
const SOURCE: &str = "hostile.toml";

/// A valid file whose last table is `[reconnect]`, so appended keys land there.
const BASE: &str = "name = \"worker-1\"\nlisten = \"127.0.0.1:7102\"\ncert_dir = \"certs\"\n\
    [peers]\ntrainer = \"127.0.0.1:7101\"\n[transport]\nprofile = \"lan\"\n\
    [reconnect]\nmax_attempts = 3\n";

/// Parses then checks `text`, returning the error (the test fails if it is accepted).
fn refusal(text: &str) -> ConfigError {
    match NodeConfigFile::parse(text, SOURCE).and_then(|file| file.check(SOURCE)) {
        Ok(()) => panic!("accepted a hostile file:\n{text}"),
        Err(e) => e,
    }
}

/// Asserts that `text` is refused as a syntax/type error naming `key` and the file.
fn assert_syntax_error_names(text: &str, key: &str) {
    let error = refusal(text);
    let message = error.to_string();
    assert!(
        matches!(error, ConfigError::Syntax { .. }),
        "{key}: not a syntax error: {message}"
    );
    assert!(
        message.starts_with(SOURCE),
        "{key}: no file name: {message}"
    );
    assert!(message.contains(key), "{key}: key not named: {message}");
}

#[test]
fn the_base_file_and_the_example_are_accepted() {
    // Without this the refusals below could come from a broken base.
    for text in [BASE, NODE_CONFIG_EXAMPLE] {
        let file = NodeConfigFile::parse(text, SOURCE).unwrap();
        file.check(SOURCE).unwrap();
    }
}

#[test]
fn deeply_nested_values_and_tables_are_refused_without_overflow() {
    const DEPTH: usize = 10_000;
    let arrays = format!(
        "accept_from = {}{}\n{BASE}",
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    assert_syntax_error_names(&arrays, "accept_from");
    let inline = format!(
        "{BASE}jitter = {}1{}\n",
        "{ a = ".repeat(DEPTH),
        " }".repeat(DEPTH)
    );
    assert!(matches!(refusal(&inline), ConfigError::Syntax { .. }));
    // toml's recursion limit reports neither key nor line for a header this deep: the error is
    // still typed and names the file.
    let dotted = format!("{BASE}[transport{}]\n", ".deep".repeat(DEPTH));
    let error = refusal(&dotted);
    assert!(matches!(error, ConfigError::Syntax { .. }), "{error}");
    assert!(error.to_string().starts_with(SOURCE), "{error}");
    // Within the limit, the first unknown level is named.
    let shallow = format!("{BASE}[transport{}]\n", ".deep".repeat(50));
    assert_syntax_error_names(&shallow, "deep");
}

#[test]
fn huge_and_out_of_range_integers_name_their_key() {
    for (key, value) in [
        ("mailbox_capacity", "123456789012345678901234567890"),
        ("max_attempts", "4294967296"),
        ("max_attempts", "-1"),
        ("initial_delay_ms", "18446744073709551616"),
    ] {
        let text = if key == "mailbox_capacity" {
            format!("{key} = {value}\n{BASE}")
        } else {
            format!("{BASE}{key} = {value}\n")
        };
        assert_syntax_error_names(&text, key);
    }
    let mtu = BASE.replace("profile = \"lan\"", "mtu_max = 65536");
    assert_syntax_error_names(&mtu, "mtu_max");
}

#[test]
fn unknown_keys_are_named_at_every_level() {
    assert_syntax_error_names(&format!("colour = \"red\"\n{BASE}"), "colour");
    let transport = BASE.replace("profile = \"lan\"", "idle_timeout = 5");
    assert_syntax_error_names(&transport, "idle_timeout");
    assert_syntax_error_names(&format!("{BASE}retries = 2\n"), "retries");
    assert_syntax_error_names(&format!("{BASE}[extra]\nx = 1\n"), "extra");
}

#[test]
fn wrong_types_name_their_key() {
    assert_syntax_error_names(&BASE.replace("\"127.0.0.1:7102\"", "7102"), "listen");
    assert_syntax_error_names(
        &BASE.replace(
            "cert_dir = \"certs\"",
            "cert_dir = \"certs\"\naccept_from = \"client\"",
        ),
        "accept_from",
    );
    assert_syntax_error_names(&format!("{BASE}jitter = \"half\"\n"), "jitter");
    assert_syntax_error_names(&BASE.replace("\"lan\"", "\"wan\""), "profile");
    assert_syntax_error_names(&BASE.replace("\"127.0.0.1:7101\"", "true"), "trainer");
}

#[test]
fn values_of_the_right_type_but_refused_name_their_key() {
    for (text, key) in [
        (format!("{BASE}jitter = nan\n"), "reconnect"),
        (format!("mailbox_capacity = 0\n{BASE}"), "mailbox_capacity"),
        (BASE.replace("trainer =", "worker-1 ="), "peers.worker-1"),
    ] {
        let error = refusal(&text);
        let message = error.to_string();
        assert!(
            matches!(error, ConfigError::Invalid { .. }),
            "{key}: {message}"
        );
        assert!(message.contains(key), "{key}: {message}");
    }
}
