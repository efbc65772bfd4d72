//! The `hetal` command-line interface.

fn main() {
    println!("hetal {}", env!("CARGO_PKG_VERSION"));
}
