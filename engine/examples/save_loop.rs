//! Saves weights over and over until killed: `save_loop FILE`. The kill test in
//! `tests/interrupted.rs` SIGKILLs it at random moments and checks what is left on disk.

use mnist_engine::weights::save_network;
use mnist_engine::{ModelKind, Network};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(std::env::args().nth(1).expect("usage: save_loop FILE"));
    let nets: Vec<Network> = (0..2)
        .map(|s| Network::seeded(ModelKind::Mlp, tch::Device::Cpu, 100 + s))
        .collect();
    println!("ready");
    for i in 0.. {
        save_network(&nets[i % 2], &path)?;
    }
    Ok(())
}
