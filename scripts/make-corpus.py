#!/usr/bin/env python3
"""Lays out the built-in model's training corpus: C and C++ code from Debian
packages, as a folder of projects.

    scripts/make-corpus.py --install OUT   # apt-get installs the packages first (root or sudo)
    scripts/make-corpus.py OUT             # the packages are installed already

OUT/train/<project>/... and OUT/heldout/<project>/... hold each project's .c/.h/.cc/.cpp/.hpp
files (paths kept below the project's folder); OUT/MANIFEST.tsv lists every project with its
split, package, package version, source folder, files and bytes. The held-out projects
(HELD_OUT below) are fixed: they are never trained on, and `mnemo eval` measures the model
on them. Python's standard library only; the same packages and versions give the same corpus.

Projects:
  - linux-source-6.1: every kernel folder with at least 3 C files and 24 KB of C of its own
    (its subfolders are projects of their own), sampled by a hash of its path down to
    --kernel-mb;
  - libboost1.74-dev: each Boost library (boost/<lib>/ and boost/<lib>.hpp), sampled the
    same way down to --boost-mb;
  - libeigen3-dev: each Eigen module (Eigen/src/<Module>);
  - libabsl-dev: each Abseil library (absl/<lib>);
  - libglm-dev, libfmt-dev, rapidjson-dev, libcereal-dev, libspdlog-dev: one project each;
  - googletest (/usr/src/googletest) and nlohmann-json3-dev: held out.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

PACKAGES = ["linux-source-6.1", "libboost1.74-dev", "libeigen3-dev", "libabsl-dev", "libglm-dev",
            "libfmt-dev", "rapidjson-dev", "libcereal-dev", "libspdlog-dev", "googletest",
            "nlohmann-json3-dev"]
EXTENSIONS = {".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".ipp", ".inl", ".tcc"}
# Never trained on. The kernel's are chosen among folders the sampling keeps or not alike.
HELD_OUT = {
    "nlohmann-json", "googletest",
    "linux-fs-ext4", "linux-net-sctp", "linux-drivers-net-ethernet-intel-e1000e",
    "linux-sound-pci-hda", "linux-kernel-sched", "linux-drivers-usb-serial",
    "boost-beast", "boost-graph", "boost-spirit", "eigen-SparseCore", "absl-strings",
}
MAX_FILE_BYTES = 1 << 20  # as the indexer: larger files are data or generated


def package_version(package: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def install() -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + PACKAGES,
                   check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def is_code(name: str) -> bool:
    return Path(name).suffix in EXTENSIONS


class Corpus:
    def __init__(self, out: Path):
        self.out = out
        self.rows = []

    def add(self, name: str, package: str, source: str, files: dict) -> None:
        """files: path below the project -> bytes."""
        files = {p: b for p, b in files.items() if len(b) <= MAX_FILE_BYTES}
        if not files:
            return
        split = "heldout" if name in HELD_OUT else "train"
        root = self.out / split / name
        for path, data in sorted(files.items()):
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.rows.append((name, split, package, package_version(package), source, len(files),
                          sum(len(b) for b in files.values())))

    def add_folder(self, name: str, package: str, folder: Path, extra: list = ()) -> None:
        files = {}
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.is_symlink() and is_code(path.name):
                    files[str(path.relative_to(folder.parent))] = path.read_bytes()
        for path in extra:
            if path.is_file():
                files[path.name] = path.read_bytes()
        self.add(name, package, str(folder), files)

    def write_manifest(self) -> None:
        with open(self.out / "MANIFEST.tsv", "w") as manifest:
            manifest.write("project\tsplit\tpackage\tversion\tsource\tfiles\tbytes\n")
            for row in sorted(self.rows):
                manifest.write("\t".join(str(x) for x in row) + "\n")


def kernel_projects(corpus: Corpus, kernel_mb: int) -> None:
    tarball = Path("/usr/src/linux-source-6.1.tar.xz")
    if not tarball.exists():
        sys.exit(f"{tarball} is missing: run with --install")
    folders = {}
    with tarfile.open(tarball, "r:xz") as tar:
        for member in tar:
            if not member.isfile() or not is_code(member.name) or member.size > MAX_FILE_BYTES:
                continue
            parts = member.name.split("/")[1:]  # below linux-source-6.1/
            if len(parts) < 2 or parts[0] in {"tools", "scripts", "samples", "Documentation"}:
                continue
            folder = "/".join(parts[:-1])
            folders.setdefault(folder, {})[parts[-1]] = tar.extractfile(member).read()
    candidates = []
    for folder, files in folders.items():
        c_bytes = sum(len(b) for n, b in files.items() if n.endswith(".c"))
        c_files = sum(1 for n in files if n.endswith(".c"))
        if c_files >= 3 and c_bytes >= 24 * 1024:
            candidates.append(folder)
    sizes = {f: sum(len(b) for b in folders[f].values()) for f in candidates}
    for folder in sampled([f.replace("/", "-") for f in candidates], "linux-",
                          {f.replace("/", "-"): s for f, s in sizes.items()}, kernel_mb):
        folder = next(f for f in candidates if f.replace("/", "-") == folder)
        name = "linux-" + folder.replace("/", "-")
        last = folder.split("/")[-1]
        corpus.add(name, "linux-source-6.1", "linux-source-6.1/" + folder,
                   {f"{last}/{n}": b for n, b in folders[folder].items()})


def sampled(names: list, held_out_prefix: str, sizes: dict, budget_mb: int) -> list:
    """`names` in a fixed pseudo-random order (a hash of each), up to the budget; held-out
    ones always."""
    budget, kept = budget_mb << 20, []
    for name in sorted(names, key=lambda n: hashlib.sha256(n.encode()).hexdigest()):
        if held_out_prefix + name not in HELD_OUT:
            if budget <= 0:
                continue
            budget -= sizes[name]
        kept.append(name)
    return sorted(kept)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and not p.is_symlink() and is_code(p.name))


def header_projects(corpus: Corpus, boost_mb: int) -> None:
    boost = Path("/usr/include/boost")
    libs = {p.name: folder_bytes(p) for p in boost.iterdir() if p.is_dir()}
    for lib in sampled(list(libs), "boost-", libs, boost_mb):
        corpus.add_folder(f"boost-{lib}", "libboost1.74-dev", boost / lib, [boost / f"{lib}.hpp"])
    eigen = Path("/usr/include/eigen3/Eigen/src")
    for module in sorted(p for p in eigen.iterdir() if p.is_dir()):
        corpus.add_folder(f"eigen-{module.name}", "libeigen3-dev", module)
    absl = Path("/usr/include/absl")
    for lib in sorted(p for p in absl.iterdir() if p.is_dir()):
        corpus.add_folder(f"absl-{lib.name}", "libabsl-dev", lib)
    for name, package, folder in [("glm", "libglm-dev", "/usr/include/glm"),
                                  ("fmt", "libfmt-dev", "/usr/include/fmt"),
                                  ("rapidjson", "rapidjson-dev", "/usr/include/rapidjson"),
                                  ("cereal", "libcereal-dev", "/usr/include/cereal"),
                                  ("spdlog", "libspdlog-dev", "/usr/include/spdlog"),
                                  ("nlohmann-json", "nlohmann-json3-dev", "/usr/include/nlohmann"),
                                  ("googletest", "googletest", "/usr/src/googletest/googletest")]:
        corpus.add_folder(name, package, Path(folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--install", action="store_true", help="apt-get install the packages")
    parser.add_argument("--kernel-mb", type=int, default=96,
                        help="the kernel's share of the training split (MB)")
    parser.add_argument("--boost-mb", type=int, default=40,
                        help="Boost's share of the training split (MB)")
    args = parser.parse_args()
    if args.install:
        install()
    missing = [p for p in PACKAGES if not package_version(p)]
    if missing:
        sys.exit(f"not installed: {' '.join(missing)} (run with --install)")
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    corpus = Corpus(args.out)
    kernel_projects(corpus, args.kernel_mb)
    header_projects(corpus, args.boost_mb)
    corpus.write_manifest()
    for split in ("train", "heldout"):
        rows = [r for r in corpus.rows if r[1] == split]
        print(f"{split}: {len(rows)} projects, {sum(r[5] for r in rows)} files, "
              f"{sum(r[6] for r in rows) / 1e6:.1f} MB")
    missing_held_out = HELD_OUT - {r[0] for r in corpus.rows}
    if missing_held_out:
        sys.exit(f"held-out projects not found: {' '.join(sorted(missing_held_out))}")


if __name__ == "__main__":
    main()
