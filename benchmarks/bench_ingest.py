"""Ingest benchmark: is an incremental run proportional to the new files, not to the table?

    python benchmarks/bench_ingest.py            # local lake in a temporary folder
    python benchmarks/bench_ingest.py --s3       # the same on a moto S3 server (127.0.0.1)
    python benchmarks/bench_ingest.py --files 200 --rows 2000000 --new 2 --trials 3

Each trial, on a fresh lake:

1. lands ``--files`` CSV files totalling ``--rows`` rows and ingests them (run 1);
2. lands ``--new`` more files and runs again (run 2): only those are read;
3. runs once more with nothing new (run 3: skipped).

It prints each run's time and run 2 / run 1 (the target is below 0.05), plus how
long the two pieces that do not depend on the new files take: listing the landing
folder (metadata only, no file opened) and reading the ingested set from the table
(one dictionary-encoded column of its data files). Imports happen before the
timings. Several trials, because a shared machine makes 50 ms timings noisy: the
median ratio is the result. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_moto() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    code = ("import time; from moto.server import ThreadedMotoServer as S; "
            f"s = S(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); time.sleep(10**9)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def _frame(i: int, n: int):
    import polars as pl

    return pl.select(order_id=pl.int_range(i * n, (i + 1) * n, dtype=pl.Int64)).with_columns(
        order_date=pl.lit(f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}"),
        product=pl.col("order_id").hash(1).mod(5).replace_strict({0: "apple", 1: "pear", 2: "plum", 3: "fig", 4: "kiwi"}),
        quantity=(pl.col("order_id").hash(2).mod(9) + 1).cast(pl.Int64),
        unit_price=pl.col("order_id").hash(3).mod(10_000).cast(pl.Float64) / 100,
    )


def trial(args, endpoint: str | None) -> float:
    """One fresh lake: run 1, run 2 (new files), run 3 (nothing new); returns run 2 / run 1."""
    from ratatouille import run
    from ratatouille.discover import Project
    from ratatouille.transforms.ingest import ingested_state

    root = Path(tempfile.mkdtemp(prefix="rat-bench-ingest-"))
    try:
        (root / "workspaces/default/pipelines/bronze").mkdir(parents=True)
        (root / "workspaces/default/pipelines/bronze/sales.yaml").write_text("source: landing/sales/\nformat: csv\n")
        if endpoint:
            import boto3

            bucket = f"bench-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
            boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                         region_name="us-east-1").create_bucket(Bucket=bucket)
            lake_uri = f"s3://{bucket}/lake"
            os.environ["RAT_STORAGE_OPTIONS"] = json.dumps({
                "aws_endpoint_url": endpoint, "aws_access_key_id": "bench", "aws_secret_access_key": "bench",
                "aws_region": "us-east-1"})
        else:
            lake_uri = str(root / "lake")
            os.environ.pop("RAT_STORAGE_OPTIONS", None)
        (root / "pyproject.toml").write_text(f'[tool.ratatouille]\nlake = "{lake_uri}"\n')
        os.environ["RAT_PROJECT_DIR"] = str(root)
        os.environ.pop("RAT_LAKE", None)

        project = Project.load(root)
        lake = project.lake
        per_file = args.rows // args.files

        def land(i: int) -> None:
            data = _frame(i, per_file).write_csv().encode()
            path = lake._strip(lake.path("landing", "sales", f"{i:05d}.csv"))
            lake.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            with lake.fs.open(path, "wb") as fh:
                fh.write(data)

        t = time.perf_counter()
        for i in range(args.files):
            land(i)
        print(f"  landed {args.files} files, {args.files * per_file:,} rows in {time.perf_counter() - t:.2f}s "
              f"({'S3 (moto)' if endpoint else 'local'} lake)")

        t = time.perf_counter()
        first = run("bronze.sales")
        t1 = time.perf_counter() - t
        print(f"  run 1: {t1:.3f}s  {first['rows_written']:,} rows from {len(first['files'])} files")

        for i in range(args.files, args.files + args.new):
            land(i)
        t = time.perf_counter()
        second = run("bronze.sales")
        t2 = time.perf_counter() - t
        print(f"  run 2: {t2:.3f}s  {second['rows_written']:,} rows from {len(second['files'])} new files, "
              f"{second['files_skipped']} skipped")

        t = time.perf_counter()
        third = run("bronze.sales")
        t3 = time.perf_counter() - t
        print(f"  run 3: {t3:.3f}s  status={third['status']}")

        transform = project.transforms["bronze.sales"]
        t = time.perf_counter()
        listed = transform.landing_files(lake)
        t_list = time.perf_counter() - t
        table = project.target("bronze.sales").open()
        t = time.perf_counter()
        state = ingested_state(table)
        t_state = time.perf_counter() - t
        print(f"  listing {len(listed)} files: {t_list * 1000:.1f} ms; ingested set of {len(state)} files "
              f"from {len(table.file_uris())} data file(s): {t_state * 1000:.1f} ms")
        assert second["rows_written"] == args.new * per_file and third["status"] == "skipped"
        print(f"  run 2 / run 1 = {t2 / t1:.3f}")
        return t2 / t1
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--new", type=int, default=2)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--s3", action="store_true", help="use a moto S3 server on 127.0.0.1")
    args = ap.parse_args()

    import polars  # noqa: F401 - imports are not part of the timings
    import pyarrow.compute  # noqa: F401
    import pyarrow.dataset  # noqa: F401

    import ratatouille.execute  # noqa: F401

    moto, endpoint = _start_moto() if args.s3 else (None, None)
    try:
        ratios = []
        for n in range(args.trials):
            print(f"trial {n + 1}/{args.trials}")
            ratios.append(trial(args, endpoint))
        print(f"run 2 / run 1: median {statistics.median(ratios):.3f} over {len(ratios)} trial(s) "
              f"({', '.join(f'{r:.3f}' for r in ratios)}); target < 0.05")
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=10)


if __name__ == "__main__":
    main()
