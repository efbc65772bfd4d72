//! Several parties as separate nodes, each configured as `hetal node --config` would be: this
//! program writes certificates and one TOML configuration per party (client, trainer, two
//! workers) into a temporary directory, then runs every party on its own thread with its own
//! tokio runtime — exactly what separate processes or machines would do, addresses included.
//!
//! ```sh
//! cargo run --release --example multi_node
//! ```

use std::path::Path;

use hetal::actors::config::NodeFileConfig;
use hetal::actors::party::run_party;
use hetal::runtime::NodeName;
use hetal::runtime::identity::{Validity, generate_cluster, write_cluster};

const NODES: [(&str, &str, u16); 4] = [
    ("client", "client", 7601),
    ("trainer", "trainer", 7602),
    ("worker-1", "worker", 7603),
    ("worker-2", "worker", 7604),
];

fn config_text(name: &str, role: &str, port: u16, data: &Path) -> String {
    let mut text = format!(
        "role = \"{role}\"\nname = \"{name}\"\nlisten = \"127.0.0.1:{port}\"\ncert_dir = \"certs\"\n\n[peers]\n"
    );
    for (peer, _, peer_port) in NODES {
        if peer != name {
            text += &format!("{peer} = \"127.0.0.1:{peer_port}\"\n");
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

fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("hetal-multi-node-{}", std::process::id()));
    let names = NODES
        .iter()
        .map(|(n, _, _)| NodeName::new(n))
        .collect::<Result<Vec<_>, _>>()?;
    let (ca, identities) = generate_cluster(&names, Validity::default())?;
    write_cluster(&dir.join("certs"), &ca, &identities)?;
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits");
    let mut threads = Vec::new();
    for (name, role, port) in NODES {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config_text(name, role, port, &data))?;
        let config = NodeFileConfig::load(&path)?;
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(run_party(&config, |line| println!("[{name}] {line}")))?;
            Ok(())
        }));
    }
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(anyhow::anyhow!("a party panicked")),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}
