//! Training across network namespaces: the client and the trainer in one namespace, two workers
//! in another, joined only by a veth pair with host-internal addresses (10.77.x.0/30), each party
//! its own `hetal node` process. Needs root and `ip netns`; skipped with a message otherwise.
//! The namespaces (and with them the veth pair) are always deleted, even on failure.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn hetal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hetal"))
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
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
    ip(&["netns", "del", &probe])
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

fn wait_with_timeout(mut child: Child, timeout: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().expect("child output")
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
    let certs = hetal()
        .args(["certs", "init", "--dir"])
        .arg(dir.path().join("certs"))
        .args(["--nodes", "client,trainer,worker-1,worker-2"])
        .output()
        .unwrap();
    assert!(certs.status.success());
    let mut children = Vec::new();
    for (name, role, n, port) in NODES {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config(name, role, n, port, &data)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.names[n]])
            .arg(env!("CARGO_BIN_EXE_hetal"))
            .args(["node", "--config"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push((name, child));
    }
    let mut outputs = Vec::new();
    for (name, child) in children {
        let out = wait_with_timeout(child, Duration::from_secs(120));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("--- {name} ---\n{text}");
        outputs.push((name, out.status.success(), text));
    }
    drop(ns);
    for (name, ok, text) in &outputs {
        assert!(ok, "{name} failed: {text}");
    }
    let client = &outputs[0].2;
    assert!(client.contains("model received after 2 epochs"), "{client}");
    let trainer = &outputs[1].2;
    // Every unit went to the workers in the other namespace, both of them.
    assert!(trainer.contains("remote / 0 local"), "{trainer}");
    assert!(
        !trainer.contains("(\"worker-1\", 0)") && !trainer.contains("(\"worker-2\", 0)"),
        "{trainer}"
    );
}
