"""Read benchmark: jets/s per file format on the same N jets, side by side in one run, plus write
speed and file size per jet.

Writes ``benchmarks/results/read.json`` and ``read.md``. Default (``--jets 1000``, synthetic jets
with the hit counts of the generated ones) takes well under a minute on 2 cores; ``--source
generated`` reads Pythia jets from :mod:`gvae.data.generate` instead (slower to prepare: ~30 jets/s).
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

import gvae.io as gio
from gvae.io._common import images_to_hits
from gvae.data.synthetic import synthetic_jets
from gvae.jets import JetBatch

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
FORMATS = (("parquet", ".parquet"), ("hdf5", ".h5"), ("root", ".root"), ("gvh", ".gvh"))
IMAGE_BYTES = 3 * 125 * 125 * 4
log = logging.getLogger("bench_read")


def machine() -> dict:
    """The machine (benchmarks/_machine.py) and the readers' library versions."""
    return _machine.machine("pyarrow", "h5py", "uproot", "awkward")


def make_jets(source: str, n: int, seed: int) -> JetBatch:
    """The jets every format is measured on."""
    if source == "generated":
        from gvae.data.generate import generate_jets
        return generate_jets("mixed", n, seed)
    return synthetic_jets(n, seed)


def time_read(path: Path, chunk_size: int, repeat: int) -> tuple[float, int]:
    """Best wall time of ``repeat`` full streaming reads, and the jets read."""
    best, n = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        n = sum(len(b) for b in gio.iter_jets(path, chunk_size=chunk_size))
        best = min(best, time.perf_counter() - start)
    return best, n


def run(args: argparse.Namespace) -> dict:
    jets = make_jets(args.source, args.jets, args.seed)
    hits = images_to_hits(jets.images)
    n = len(jets)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        for fmt, ext in FORMATS:
            path = Path(tmp) / f"bench{ext}"
            start = time.perf_counter()
            with gio.JetWriter(path) as writer:
                for a in range(0, n, args.chunk_size):
                    writer.write(jets.slice(a, min(a + args.chunk_size, n)))
            write_s = time.perf_counter() - start
            read_s, n_read = time_read(path, args.chunk_size, args.repeat)
            assert n_read == n, (fmt, n_read, n)
            start = time.perf_counter()
            counted = gio.count_jets(path)
            count_s = time.perf_counter() - start
            assert counted == n
            size = path.stat().st_size
            rows.append({"format": fmt, "read_jets_per_s": n / read_s, "read_s": read_s,
                         "write_jets_per_s": n / write_s, "count_jets_s": count_s, "file_bytes": size,
                         "bytes_per_jet": size / n, "compression_vs_raw_float32": IMAGE_BYTES * n / size})
            log.info("%-8s read %8.0f jets/s  write %8.0f jets/s  %8.0f bytes/jet", fmt, n / read_s, n / write_s,
                     size / n)
    base = next(r for r in rows if r["format"] == "parquet")["read_jets_per_s"]
    for r in rows:
        r["read_speed_vs_parquet"] = r["read_jets_per_s"] / base
    return {"benchmark": "read", "machine": machine(), "source": args.source, "jets": n, "seed": args.seed,
            "chunk_size": args.chunk_size, "repeat": args.repeat,
            "hits_per_jet": {"track": float(np.sum(hits.channel == 0) / n),
                             "ecal": float(np.sum(hits.channel == 1) / n),
                             "hcal_towers": float(np.sum(hits.channel == 2) / n)},
            "results": rows}


def markdown(result: dict) -> str:
    m = result["machine"]
    h = result["hits_per_jet"]
    lines = [
        "# Read benchmark (`benchmarks/bench_read.py`)", "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}, "
        f"pyarrow {m['pyarrow']}, h5py {m['h5py']}, uproot {m['uproot']}, awkward {m['awkward']}.",
        f"Same {result['jets']} {result['source']} jets in every format ({h['track']:.1f} track pixels, "
        f"{h['ecal']:.1f} ECAL pixels, {h['hcal_towers']:.1f} HCAL towers per jet); `gvae.io.iter_jets` with "
        f"chunk_size {result['chunk_size']}, best of {result['repeat']} full reads, images decoded to float32 "
        "[n, 3, 125, 125] and validated.", "",
        "| format | read jets/s | vs parquet | write jets/s | bytes/jet | vs raw float32 image | count_jets (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["results"]:
        lines.append(f"| {r['format']} | {r['read_jets_per_s']:.0f} | {r['read_speed_vs_parquet']:.2f}x | "
                     f"{r['write_jets_per_s']:.0f} | {r['bytes_per_jet']:.0f} | "
                     f"{r['compression_vs_raw_float32']:.0f}x smaller | {1000 * r['count_jets_s']:.1f} |")
    lines += ["", "Raw float32 image: 187,500 bytes/jet. parquet: CMS end-to-end schema, snappy, one row group per "
              "jet; hdf5: gzip level 1 + shuffle, 4 jets per chunk; root: uproot TTree (default zlib), jagged hits; "
              "gvh: uncompressed hits (12 bytes each).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jets", type=int, default=1000, help="jets written and read in every format (default 1000)")
    parser.add_argument("--source", choices=("synthetic", "generated"), default="synthetic",
                        help="synthetic: gvae.data.synthetic jets with generated-like sparsity (fast); "
                             "generated: Pythia jets from gvae.data.generate (mixed ttbar/QCD)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the jets (default 1)")
    parser.add_argument("--chunk-size", type=int, default=256, help="jets per chunk for writing and reading")
    parser.add_argument("--repeat", type=int, default=3, help="full reads per format; the best is reported")
    parser.add_argument("--tmp-dir", default=None, help="where the temporary files go (default: system temp)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where read.json and read.md are written")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = run(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "read.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / "read.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
