"""Overlap benchmark: many small independent transforms on S3, run serially vs overlapped.

On object storage each transform mostly waits on requests (reading the Delta
log, listing, putting data files and the commit). The runner runs independent
transforms at once (``threads``, ``RAT_THREADS``; 4 by default on object
storage, see ``ratatouille/execute/_schedule.py``), so their waits overlap.

The script starts moto's S3 server (a child process, as the tests do) behind an
optional TCP proxy that adds ``--latency-ms`` before each request (real object
storage answers in tens of milliseconds; moto on localhost in about one), writes
a project of ``--branches`` independent chains (``silver.tI`` built from
inline values, ``gold.tI`` aggregating it), and times ``run("*",
full_refresh=True, threads=N)`` for N = 1 (serial) and each ``--threads``,
alternating, in fresh processes, ``--trials`` times. It prints the medians and
the ratio serial / overlapped, and checks that every run built the same tables.
Nothing is asserted on time::

    python benchmarks/bench_s3_overlap.py --branches 16 --trials 3 --latency-ms 20
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent("""
    import json, sys, time
    import ratatouille
    threads = int(sys.argv[1])
    started = time.perf_counter()
    result = ratatouille.run("*", full_refresh=True, threads=threads)
    seconds = time.perf_counter() - started
    totals = {r["table"]: r["rows_written"] for r in result.results}
    gold = float(ratatouille.query("SELECT SUM(total) AS s FROM gold.t0")["s"][0])
    print(json.dumps({"seconds": seconds, "status": result["status"], "rows": totals, "gold0": gold}))
""")

PROXY = textwrap.dedent("""
    import asyncio, sys
    listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000
    async def pipe(reader, writer, wait):
        try:
            while data := await reader.read(65536):
                if wait:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
    async def handle(client_r, client_w):
        server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False))
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", listen)
        async with server:
            await server.serve_forever()
    asyncio.run(main())
""")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


def write_project(root: Path, branches: int, bucket: str) -> None:
    """A project of ``branches`` independent silver -> gold chains on ``s3://bucket/lake``."""
    pipelines = root / "workspaces" / "default" / "pipelines"
    for layer in ("silver", "gold"):
        (pipelines / layer).mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f'[tool.ratatouille]\nlake = "s3://{bucket}/lake"\n')
    values = ", ".join(f"({j}, {j % 7}, {j * 1.5})" for j in range(50))
    for i in range(branches):
        (pipelines / "silver" / f"t{i}.sql").write_text(
            f"SELECT id, k, v * {i + 1} AS v FROM (VALUES {values}) AS s(id, k, v)\n")  # noqa: S608 - generated test SQL
        (pipelines / "gold" / f"t{i}.sql").write_text(
            f"SELECT k, SUM(v) AS total, COUNT(*) AS n FROM silver.t{i} GROUP BY k\n")  # noqa: S608 - generated test SQL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--branches", type=int, default=16)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[4])
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added before each request (0: none)")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ratatouille.testing import S3Server

    server = S3Server.start()
    proxy = None
    try:
        endpoint_port = server.port
        if args.latency_ms > 0:
            endpoint_port = _free_port()
            proxy = subprocess.Popen([sys.executable, "-c", PROXY, str(endpoint_port), str(server.port),  # noqa: S603
                                      str(args.latency_ms)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # never holds our pipes
            _wait_port(endpoint_port)
        bucket = server.create_bucket()
        options = {**server.storage_options, "aws_endpoint_url": f"http://127.0.0.1:{endpoint_port}"}
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "project"
            write_project(root, args.branches, bucket)
            env = {**os.environ, "RAT_PROJECT_DIR": str(root), "RAT_STORAGE_OPTIONS": json.dumps(options),
                   "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                  os.environ.get("PYTHONPATH", "")])}
            env.pop("RAT_THREADS", None)
            settings = [1, *args.threads]
            times: dict[int, list[float]] = {n: [] for n in settings}
            outputs: set[str] = set()
            for trial in range(args.trials + 1):  # the first round creates the tables: not timed
                for n in settings:
                    proc = subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, cwd=root,  # noqa: S603
                                          capture_output=True, text=True, timeout=1800)
                    if proc.returncode != 0:
                        raise SystemExit(f"threads={n} failed:\n{proc.stdout}\n{proc.stderr}")
                    out = json.loads(proc.stdout.strip().splitlines()[-1])
                    if trial:
                        times[n].append(out["seconds"])
                    outputs.add(json.dumps([out["status"], out["rows"], out["gold0"]], sort_keys=True))
    finally:
        try:
            if proxy is not None:
                proxy.terminate()
                try:
                    proxy.wait(timeout=10)
                except subprocess.TimeoutExpired:  # a proxy stuck in a connection: kill it
                    proxy.kill()
                    proxy.wait(timeout=10)
        finally:
            server.stop()

    print(f"{args.branches} independent branches ({2 * args.branches} transforms) on moto S3, "
          f"{args.latency_ms:g} ms added per request, {args.trials} trials, fresh processes")
    serial = statistics.median(times[1])
    print(f"threads=1 (serial)  median {serial:7.3f}s  runs {', '.join(f'{t:.2f}' for t in times[1])}")
    for n in args.threads:
        med = statistics.median(times[n])
        print(f"threads={n:<2}          median {med:7.3f}s  runs {', '.join(f'{t:.2f}' for t in times[n])}  "
              f"serial / overlapped = {serial / med:.2f}")
    print(f"agree: {'yes' if len(outputs) == 1 else 'NO'}")
    if len(outputs) != 1:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
