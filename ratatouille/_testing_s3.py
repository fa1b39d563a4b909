"""A real S3 protocol server for tests (:class:`ratatouille.testing.S3Server`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from typing import Any


class S3Server:
    """A real S3 protocol server for tests: moto's ``ThreadedMotoServer`` on a free 127.0.0.1 port.

    It runs in a child process, not in a thread of the test process: some delta-rs calls
    (``DeltaTable.history()``) keep the GIL while they wait for the network, which would
    deadlock a server thread living in the same interpreter.

    Examples
    --------
    Not run as a doctest: it starts a server process and binds a port (the test suite's
    ``s3_server`` fixture does, once per session).

    >>> server = S3Server.start()                     # doctest: +SKIP
    >>> bucket = server.create_bucket()               # doctest: +SKIP
    >>> server.storage_options["aws_endpoint_url"]    # doctest: +SKIP
    'http://127.0.0.1:50123'
    """

    key_id = "rat-test-key-id"
    secret = "rat-test-SECRET-never-shown-0123456789"  # noqa: S105 - a fake key for the local moto server only
    region = "us-east-1"

    def __init__(self, proc: Any, port: int) -> None:
        self.proc = proc
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self._buckets = 0

    def __repr__(self) -> str:
        return f"S3Server({self.endpoint})"

    @classmethod
    def start(cls, timeout: float = 30.0) -> "S3Server":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        code = ("import time; from moto.server import ThreadedMotoServer as S; "
                f"s = S(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); time.sleep(10**9)")
        proc = subprocess.Popen([sys.executable, "-c", code],  # noqa: S603 - this Python, a fixed script, no shell
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError("the moto S3 server did not start (is moto[server] installed?)") from None
                time.sleep(0.05)
        return cls(proc, port)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()

    @property
    def storage_options(self) -> dict[str, str]:
        """Options for ``[tool.ratatouille] storage_options`` / ``RAT_STORAGE_OPTIONS``."""
        return {"aws_endpoint_url": self.endpoint, "aws_access_key_id": self.key_id,
                "aws_secret_access_key": self.secret, "aws_region": self.region}

    def client(self) -> Any:  # a boto3 S3 client (boto3 ships no types)
        import boto3  # lazy: boto3 is a test-only dependency (moto's S3 server)

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key_id,
                            aws_secret_access_key=self.secret, region_name=self.region)

    def create_bucket(self, name: str | None = None) -> str:
        """A new, empty bucket (a fresh name each call unless given)."""
        self._buckets += 1
        name = name or f"rat-{self._buckets}-{uuid.uuid4().hex[:8]}"
        self.client().create_bucket(Bucket=name)
        return name
