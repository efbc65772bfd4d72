//! The runtime's CLI commands end to end: `hetal certs init` and a tiny `hetal bench transport`.

use std::process::Command;

fn hetal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hetal"))
}

#[test]
fn certs_init_writes_loadable_identities_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let run = |nodes: &str| {
        hetal()
            .args(["certs", "init", "--dir"])
            .arg(&out)
            .args(["--nodes", nodes])
            .output()
            .unwrap()
    };
    let first = run("client,trainer,worker-1");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for name in ["client", "trainer", "worker-1"] {
        let node = hetal::runtime::NodeName::new(name).unwrap();
        let identity = hetal::runtime::NodeIdentity::load(&out, &node).unwrap();
        assert_eq!(identity.name(), &node);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = out.join(format!("{name}.key"));
            let mode = std::fs::metadata(key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
    let ca_before = std::fs::read(out.join("ca.pem")).unwrap();
    let again = run("client");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(out.join("ca.pem")).unwrap(), ca_before);
    let bad = hetal()
        .args(["certs", "init", "--dir"])
        .arg(dir.path().join("other"))
        .args(["--nodes", "Not_A_Name"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(!dir.path().join("other").join("ca.pem").exists());
}

#[test]
fn bench_transport_reports_json() {
    let out = hetal()
        .args([
            "bench",
            "transport",
            "--size",
            "200000",
            "--streams",
            "2",
            "--rounds",
            "1",
        ])
        .args(["--asks", "10", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["size"], 200000);
    assert_eq!(report["streams"], 2);
    assert_eq!(report["quic_ask"]["count"], 10);
    for field in ["quic_mb_s", "tcp_mb_s", "quic_over_tcp"] {
        assert!(report[field].as_f64().unwrap() > 0.0, "{field}");
    }
}
