"""The lake: where tables and landing files live (a local folder or object storage).

One :class:`Lake` knows the root URI and the storage options, and hands them
to both fsspec (listing, landing files) and delta-rs (tables). Storage options
are never printed.

>>> lake = Lake("/tmp/lake")
>>> lake.table_uri("silver.sales")
'/tmp/lake/silver/sales'
>>> lake.table_uri("silver.sales", workspace="alice")
'/tmp/lake/workspaces/alice/silver/sales'
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

from ._settings import Secrets

# delta-rs style keys (any case) -> s3fs arguments
_S3FS_KEYS = {
    "aws_access_key_id": "key",
    "access_key_id": "key",
    "aws_secret_access_key": "secret",
    "secret_access_key": "secret",
    "aws_session_token": "token",
    "session_token": "token",
    "aws_endpoint_url": "endpoint_url",
    "aws_endpoint": "endpoint_url",
    "endpoint_url": "endpoint_url",
    "endpoint": "endpoint_url",
}


class Lake:
    """A lake root plus its storage options."""

    def __init__(self, uri: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.uri = uri.rstrip("/") if "://" in uri else uri.rstrip("/") or "/"
        self.storage_options = Secrets(storage_options or {})

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    @property
    def protocol(self) -> str:
        return self.uri.split("://", 1)[0] if "://" in self.uri else "file"

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    def path(self, *parts: str) -> str:
        """Join ``parts`` under the lake root (``lake.path("landing", "sales")``)."""
        clean = [p.strip("/") for p in parts if p and p.strip("/")]
        return "/".join([self.uri, *clean]) if clean else self.uri

    def table_uri(self, table: str, workspace: str = "default") -> str:
        """Location of the Delta table ``layer.name`` in ``workspace``."""
        layer, name = str(table).split(".", 1)
        if workspace == "default":
            return self.path(layer, name)
        return self.path("workspaces", workspace, layer, name)

    # -- delta-rs -------------------------------------------------------------
    def delta_options(self) -> dict[str, str] | None:
        """Storage options for delta-rs / polars' Delta functions."""
        if self.is_local:
            return None
        opts = {k.lower(): v for k, v in self.storage_options.items()}
        if self.protocol in ("s3", "s3a"):
            # safe concurrent commits on S3: conditional put, never an unsafe rename
            opts.setdefault("aws_conditional_put", "etag")
            endpoint = opts.get("aws_endpoint_url") or opts.get("endpoint_url") or opts.get("aws_endpoint")
            if endpoint and endpoint.startswith("http://"):
                opts.setdefault("aws_allow_http", "true")
        return opts

    # -- fsspec ---------------------------------------------------------------
    @functools.cached_property
    def fs(self):
        """An fsspec filesystem for the lake's protocol."""
        import fsspec

        if self.is_local:
            return fsspec.filesystem("file")
        return fsspec.filesystem(self.protocol, **self._fsspec_options())

    def _fsspec_options(self) -> dict[str, Any]:
        if self.protocol not in ("s3", "s3a"):
            return dict(self.storage_options)
        out: dict[str, Any] = {}
        client_kwargs: dict[str, Any] = {}
        for key, value in self.storage_options.items():
            k = key.lower()
            if k in _S3FS_KEYS:
                out[_S3FS_KEYS[k]] = value
            elif k in ("aws_region", "region", "aws_default_region"):
                client_kwargs["region_name"] = value
        if client_kwargs:
            out["client_kwargs"] = client_kwargs
        out.setdefault("use_listings_cache", False)
        return out

    def _strip(self, path: str) -> str:
        return path.split("://", 1)[1] if "://" in path else path

    def full(self, path: str) -> str:
        """An fsspec path (protocol-less for s3fs) back to a full lake URI."""
        if self.is_local or "://" in path:
            return path
        return f"{self.protocol}://{path}"

    def ls(self, path: str = "", *, recursive: bool = True) -> list[str]:
        """Sorted full paths of the files under ``path`` (relative to the lake root).

        ``path`` may be a folder (``"landing/sales/"``) or a glob
        (``"landing/sales/*.csv"``). Hidden files and ``_``-prefixed folders
        (``_rejected``, ``_delta_log``) are skipped.
        """
        target = self.path(path)
        fs = self.fs
        if any(ch in path for ch in "*?["):
            found = fs.glob(self._strip(target))
        else:
            root = self._strip(target)
            if not fs.exists(root):
                return []
            if fs.isfile(root):
                return [self.full(root)]
            found = fs.find(root) if recursive else [p for p in fs.ls(root, detail=False)]
            base = root.rstrip("/")
            found = [p for p in found if not _hidden(p[len(base):])]
        files = [p for p in found if not _hidden(p.rsplit("/", 1)[-1])]
        return sorted(self.full(p) for p in files if fs.isfile(p))

    def exists(self, path: str) -> bool:
        return self.fs.exists(self._strip(path))

    def open(self, path: str, mode: str = "rb"):
        return self.fs.open(self._strip(path), mode)


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)
