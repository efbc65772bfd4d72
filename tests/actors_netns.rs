//! Training across network namespaces: the client and the trainer in one namespace, two workers
//! in another, joined only by a veth pair with host-internal addresses (10.77.x.0/30), each party
//! its own `hetal node` process. Needs root and `ip netns`; skipped with a message otherwise.
//! The namespaces (and with them the veth pair) are always deleted, even on failure.
//!
//! Start-up is sequenced by readiness, not by sleeps or by the parties' own patience: the veth
//! pair must be up on both ends, the trainer must say it is listening, and every worker must say
//! it joined the pool before the client starts. (Started all at once on a loaded machine, a party
//! could spend its whole start-up patience dialling a trainer that was not bound yet, and a
//! client could upload before the workers joined, so that the trainer computed units itself.)
//! Every deadline is multiplied by `HETAL_TEST_TIMEOUT_SCALE` (default 1, at most 20) for slow
//! CI machines. The children's output is drained as it comes, so a chatty party (`RUST_LOG`
//! inherited from the environment) can never block on a full pipe.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::Party;

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `base` times `HETAL_TEST_TIMEOUT_SCALE` (a number from 1 to 20; anything else counts as 1).
fn scaled(base: Duration) -> Duration {
    let scale = std::env::var("HETAL_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| (1.0..=20.0).contains(s))
        .unwrap_or(1.0);
    base.mul_f64(scale)
}

/// Two namespaces joined by a veth pair; deleted on drop.
struct Namespaces {
    names: [String; 2],
}

impl Namespaces {
    fn create(tag: u32) -> Result<Self, String> {
        let names = [format!("hetal-a-{tag}"), format!("hetal-b-{tag}")];
        ip(&["netns", "add", &names[0]])?;
        let ns = Namespaces {
            names: names.clone(),
        };
        ip(&["netns", "add", &names[1]])?;
        let (va, vb) = (format!("hva{tag}"), format!("hvb{tag}"));
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        ip(&["link", "set", &va, "netns", &names[0]])?;
        ip(&["link", "set", &vb, "netns", &names[1]])?;
        for (n, (dev, addr)) in names
            .iter()
            .zip([(&va, "10.77.0.1/30"), (&vb, "10.77.0.2/30")])
        {
            ip(&["-n", n, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", n, "link", "set", dev, "up"])?;
            ip(&["-n", n, "link", "set", "lo", "up"])?;
        }
        // Readiness: both ends report carrier (LOWER_UP) before any node sends a packet.
        let deadline = Instant::now() + scaled(Duration::from_secs(10));
        for (n, dev) in names.iter().zip([&va, &vb]) {
            loop {
                let state = ip(&["-n", n, "-o", "link", "show", "dev", dev])?;
                if state.contains("LOWER_UP") {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("{dev} in {n} never came up: {state}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(ns)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = ip(&["netns", "del", n]);
        }
    }
}

fn permitted() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not running as root".into());
    }
    let probe = format!("hetal-probe-{}", std::process::id());
    ip(&["netns", "add", &probe])?;
    ip(&["netns", "del", &probe]).map(|_| ())
}

const NODES: [(&str, &str, usize, u16); 4] = [
    ("client", "client", 0, 7501),
    ("trainer", "trainer", 0, 7502),
    ("worker-1", "worker", 1, 7503),
    ("worker-2", "worker", 1, 7504),
];

fn config(name: &str, role: &str, ns: usize, port: u16, data: &Path) -> String {
    let addr = |ns: usize| if ns == 0 { "10.77.0.1" } else { "10.77.0.2" };
    let mut text = format!(
        "role = \"{role}\"\nname = \"{name}\"\nlisten = \"{}:{port}\"\ncert_dir = \"certs\"\n\n[peers]\n",
        addr(ns)
    );
    for (peer, _, pns, pport) in NODES {
        if peer != name {
            text += &format!("{peer} = \"{}:{pport}\"\n", addr(pns));
        }
    }
    text += "\n[roster]\nclient = \"client\"\ntrainer = \"trainer\"\nworkers = [\"worker-1\", \"worker-2\"]\n";
    if role == "client" {
        text += &format!(
            "\n[client]\ndata = \"{}\"\npreset = \"digits\"\nepochs = 2\nslots = 16384\n",
            data.display()
        );
    }
    text
}

/// One `hetal node` process in `namespace`, its stdout and stderr both collected.
fn spawn_in(name: &str, namespace: &str, config: &Path) -> Party {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", namespace])
        .arg(env!("CARGO_BIN_EXE_hetal"))
        .args(["node", "--config"])
        .arg(config)
        .stderr(Stdio::piped());
    Party::spawn(name, command)
}

#[test]
fn training_runs_across_network_namespaces() {
    if let Err(why) = permitted() {
        println!("skipped: network namespaces are not permitted here ({why})");
        return;
    }
    let ns = Namespaces::create(std::process::id() % 10_000).expect("namespaces");
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits");
    let certs = Command::new(env!("CARGO_BIN_EXE_hetal"))
        .args(["certs", "init", "--dir"])
        .arg(dir.path().join("certs"))
        .args(["--nodes", "client,trainer,worker-1,worker-2"])
        .output()
        .unwrap();
    assert!(certs.status.success());
    let spawn = |index: usize| {
        let (name, role, n, port) = NODES[index];
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config(name, role, n, port, &data)).unwrap();
        spawn_in(name, &ns.names[n], &path)
    };
    // Parties in start order: trainer, workers, client. A failed readiness step still collects
    // every output (the children are killed at their deadline) before the test fails.
    let startup = Instant::now() + scaled(Duration::from_secs(60));
    let mut parties = vec![spawn(1)];
    let mut ready = parties[0].wait_for("listening on", startup);
    for index in [2, 3] {
        if ready.is_ok() {
            parties.push(spawn(index));
            ready = parties
                .last_mut()
                .unwrap()
                .wait_for("joined the trainer's pool", startup);
        }
    }
    if ready.is_ok() {
        parties.push(spawn(0));
    }
    let end = Instant::now() + scaled(Duration::from_secs(120));
    let deadline = if ready.is_ok() { end } else { Instant::now() };
    // The client first: once it has its model, the others end on their own.
    let outputs: Vec<_> = parties
        .into_iter()
        .rev()
        .map(|p| {
            let name = p.name.clone();
            let (ok, text) = p.finish(deadline);
            println!("--- {name} ---\n{text}");
            (name, ok, text)
        })
        .collect();
    drop(ns);
    if let Err(why) = ready {
        panic!("start-up: {why}");
    }
    for (name, ok, text) in &outputs {
        assert!(ok, "{name} failed: {text}");
    }
    let text_of = |who: &str| &outputs.iter().find(|o| o.0 == who).unwrap().2;
    let client = text_of("client");
    assert!(client.contains("model received after 2 epochs"), "{client}");
    let trainer = text_of("trainer");
    // Every unit went to the workers in the other namespace, both of them.
    assert!(trainer.contains("remote / 0 local"), "{trainer}");
    assert!(
        !trainer.contains("(\"worker-1\", 0)") && !trainer.contains("(\"worker-2\", 0)"),
        "{trainer}"
    );
}
