"""The lake: where tables and landing files live (a local folder or object storage).

One :class:`Lake` knows the root URI and the storage options, and hands them
to both fsspec (listing, landing files) and delta-rs / Polars (tables, file
scans). Storage options are never printed: every mapping that carries them
masks its values in ``repr``.

>>> lake = Lake("/tmp/lake")
>>> lake.table_uri("silver.sales")
'/tmp/lake/silver/sales'
>>> lake.table_uri("silver.sales", workspace="alice")
'/tmp/lake/workspaces/alice/silver/sales'
>>> lake.relative("/tmp/lake/landing/sales/a.csv")
'landing/sales/a.csv'

On S3 (``s3://bucket/prefix``) the options are delta-rs style keys
(``aws_endpoint_url``, ``aws_access_key_id``, ``aws_secret_access_key``,
``aws_region``, ``aws_allow_http``...); they are translated for s3fs, and
delta-rs commits with S3 conditional writes (put-if-absent), never with an
unsafe rename:

>>> s3 = Lake("s3://bkt/lake", {"aws_endpoint_url": "http://127.0.0.1:9000", "aws_secret_access_key": "s3cr3t"})
>>> s3.delta_options()["aws_conditional_put"], s3.delta_options()["aws_allow_http"]
('etag', 'true')
>>> "s3cr3t" in repr(s3.delta_options()) or "s3cr3t" in repr(s3)
False
"""

from __future__ import annotations

import contextlib
import functools
import glob
import itertools
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ._boundary import RefusedLink, check_inside, link_target
from ._names import check_workspace, parse_table_name
from ._settings import Secrets

log = logging.getLogger("ratatouille")

# delta-rs / object_store style keys (any case) -> s3fs arguments
_S3FS_KEYS = {
    "aws_access_key_id": "key",
    "access_key_id": "key",
    "aws_secret_access_key": "secret",
    "secret_access_key": "secret",
    "aws_session_token": "token",
    "session_token": "token",
    "aws_token": "token",
    "aws_endpoint_url": "endpoint_url",
    "aws_endpoint": "endpoint_url",
    "endpoint_url": "endpoint_url",
    "endpoint": "endpoint_url",
}
_REGION_KEYS = ("aws_region", "region", "aws_default_region")
_PROFILE_KEYS = ("aws_profile", "profile")
# an unsafe rename lets two concurrent writers overwrite each other's commit: never pass it on
_UNSAFE_KEYS = ("aws_s3_allow_unsafe_rename", "allow_unsafe_rename")


class SecretDict(dict):
    """A plain ``dict`` (delta-rs and Polars take it as is) whose ``repr`` masks every value.

    >>> SecretDict({"aws_secret_access_key": "xyz"})
    {'aws_secret_access_key': '***'}
    """

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"

    __str__ = __repr__

    def copy(self) -> "SecretDict":
        return SecretDict(self)


@dataclass(frozen=True)
class LandingFile:
    """One file found in the lake: its full path, its path relative to the lake root,
    its size and a fingerprint that changes when its content changes (S3 ETag, or
    size and modification time on a local disk)."""

    path: str
    rel: str
    size: int
    fingerprint: str


class Lake:
    """A lake root plus its storage options."""

    def __init__(self, uri: str, storage_options: Mapping[str, Any] | None = None) -> None:
        if uri.startswith("file://"):  # a local lake is a plain path everywhere (fsspec, delta-rs, _source_file)
            uri = uri[len("file://"):]
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
        """Join ``parts`` under the lake root (``lake.path("landing", "sales")``).

        Raises ConfigError when the result lies outside the lake (``..``, a link out of it).
        """
        clean = [p.strip("/") for p in parts if p and p.strip("/")]
        return self.check("/".join([self.uri, *clean]) if clean else self.uri)

    def check(self, location: str, *, follow_links: bool = True) -> str:
        """``location`` unchanged if it lies under the lake root, else ConfigError (see ``_boundary``).

        >>> Lake("/srv/lake").check("/srv/lake/landing/x.csv")
        '/srv/lake/landing/x.csv'
        """
        check_inside(self.uri, self.full(location), follow_links=follow_links)
        return location

    def relative(self, path: str) -> str:
        """``path`` relative to the lake root (unchanged when it is outside the lake)."""
        full = self.full(path)
        root = self.uri.rstrip("/") + "/"
        if self.is_local and full.startswith("file://"):
            full = full[len("file://"):]
        return full[len(root):] if full.startswith(root) else full

    def table_uri(self, table: str, workspace: str = "default") -> str:
        """Location of the Delta table ``layer.name`` in ``workspace`` (both names validated)."""
        layer, name = parse_table_name(table)
        check_workspace(workspace)
        if workspace == "default":
            return self.path(layer, name)
        return self.path("workspaces", workspace, layer, name)

    # -- delta-rs / Polars ----------------------------------------------------
    def delta_options(self) -> dict[str, str] | None:
        """Storage options for delta-rs and Polars' cloud readers (``None`` for a local lake).

        On S3: commits use conditional writes (``aws_conditional_put: etag``, S3's
        put-if-absent, which delta-rs uses for a new log entry) unless a DynamoDB
        locking provider is configured; an ``..._allow_unsafe_rename`` option is dropped;
        an ``http://`` endpoint turns on ``aws_allow_http``.
        """
        if self.is_local:
            return None
        opts = SecretDict((k.lower(), v) for k, v in self.storage_options.items())
        if self.protocol in ("s3", "s3a"):
            for key in _UNSAFE_KEYS:
                if opts.pop(key, None) is not None:
                    log.warning("ignoring storage option %s: Ratatouille commits to S3 with conditional "
                                "writes (put-if-absent), never with an unsafe rename", key)
            if opts.get("aws_s3_locking_provider", "").lower() != "dynamodb":
                opts.setdefault("aws_conditional_put", "etag")
            endpoint = next((opts[k] for k in _S3FS_KEYS if _S3FS_KEYS[k] == "endpoint_url" and opts.get(k)), None)
            if endpoint and endpoint.startswith("http://"):
                opts.setdefault("aws_allow_http", "true")
        return opts

    # -- fsspec ---------------------------------------------------------------
    @functools.cached_property
    def fs(self) -> Any:  # an fsspec AbstractFileSystem (fsspec ships no types)
        """An fsspec filesystem for the lake's protocol."""
        import fsspec  # lazy: fsspec (+ asyncio, ~25 ms) only when files are listed or moved (ingest, object storage)

        if self.is_local:
            return fsspec.filesystem("file")
        return fsspec.filesystem(self.protocol, **self._fsspec_options())

    def _fsspec_options(self) -> SecretDict:
        if self.protocol not in ("s3", "s3a"):
            return SecretDict(self.storage_options)
        out = SecretDict()
        client_kwargs: dict[str, Any] = {}
        for key, value in self.storage_options.items():
            k = key.lower()
            if k in _S3FS_KEYS:
                out[_S3FS_KEYS[k]] = value
            elif k in _REGION_KEYS:
                client_kwargs["region_name"] = value
            elif k in _PROFILE_KEYS:
                out["profile"] = value
        if client_kwargs:
            out["client_kwargs"] = client_kwargs
        out.setdefault("use_listings_cache", False)
        return out

    def key(self, path: str, *, follow_links: bool = True) -> str:
        """The fsspec key of a lake location, checked to lie under the lake root first.

        >>> Lake("s3://bkt/lake").key("s3://bkt/lake/silver/sales")
        'bkt/lake/silver/sales'
        """
        self.check(path, follow_links=follow_links)
        return path.split("://", 1)[1] if "://" in path else path

    _strip = key  # the former private name, still used by callers outside the catalog

    def full(self, path: str) -> str:
        """An fsspec path (protocol-less for s3fs) back to a full lake URI."""
        if self.is_local or "://" in path:
            return path
        return f"{self.protocol}://{path}"

    def files(self, path: str = "", *, recursive: bool = True,
              refused: list[RefusedLink] | None = None) -> list[LandingFile]:
        """The files under ``path`` (relative to the lake root), sorted, with size and fingerprint,
        from one listing (no file is opened or read).

        ``path`` may be a folder (``"landing/sales/"``), a file, or a glob
        (``"landing/sales/*.csv"``). Hidden files and ``_``-prefixed folders
        (``_rejected``, ``_delta_log``) are skipped. On a local lake a symbolic link is
        followed only when its target lies inside the lake (a linked file is listed under the
        link's path with the fingerprint of its target); a link out of the lake, or a dangling
        one, is never followed: it is added to ``refused`` (and logged) instead.

        Raises ConfigError when ``path`` lies outside the lake.
        """
        refused = refused if refused is not None else []
        # the folder the listing covers (for a glob: the part before its first wildcard), so a link back
        # into it is not listed a second time
        static = "/".join(itertools.takewhile(lambda p: not any(ch in p for ch in "*?["), path.split("/")))
        seen = {os.path.realpath(self._strip(self.path(static)))} if self.is_local else set()
        out = self._files(path, recursive, refused, seen)
        for r in refused:
            log.warning("not listed: %s: %s", r.rel, r.reason)
        return sorted(out, key=lambda f: f.path)

    def _files(self, path: str, recursive: bool, refused: list[RefusedLink], seen: set[str],
               literal: bool = False) -> list[LandingFile]:
        """``literal``: ``path`` is a folder found on disk, never a glob (``landing/eu [1]/``)."""
        target = self.path(path)
        fs = self.fs
        root = self._strip(target)
        globbed = not literal and any(ch in path for ch in "*?[")
        if globbed:
            # only ``path`` is a glob: the lake's own location is taken literally (``~/[draft]/lake``)
            top = self._strip(self.path())
            tail = root[len(top):]
            found = fs.glob(glob_escape(top) + tail, detail=True)
            base = top + tail.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0].rsplit("/", 1)[0]
        else:
            try:
                info = fs.info(root)
            except (FileNotFoundError, OSError):
                return []
            if info.get("type") != "directory":
                found = {info["name"]: info}
                base = root.rsplit("/", 1)[0]
            else:
                found = fs.find(root, detail=True, maxdepth=None if recursive else 1)
                base = root
        base = base.rstrip("/")
        out = []
        for name, info in found.items():
            rel_to_base = name[len(base):] if name.startswith(base) else name.rsplit("/", 1)[-1]
            if _hidden(rel_to_base):
                continue
            if info.get("islink") and self.is_local:
                out.extend(self._linked(name, recursive, refused, seen))
                continue
            if info.get("type") == "directory" and globbed and recursive and "**" not in path:  # a glob of folders
                out.extend(self._files(self.relative(self.full(name)).rstrip("/") + "/", recursive, refused, seen,
                                       literal=True))
                continue
            if info.get("type", "file") != "file":
                continue
            full = self.full(name)
            if not self.is_local and any(p in (".", "..") for p in name.split("/")):
                # an object key with '.' or '..' segments: readers would resolve it elsewhere
                refused.append(RefusedLink(full, self.relative(full), "", "object key with '.' or '..' segments"))
                continue
            out.append(LandingFile(full, self.relative(full), int(info.get("size") or 0), fingerprint(info)))
        return out

    def _linked(self, name: str, recursive: bool, refused: list[RefusedLink], seen: set[str]) -> list[LandingFile]:
        """A local symbolic link found by a listing: its file (or folder's files) if it points inside the lake."""
        real, reason = link_target(self.uri, name)
        if real is None:
            refused.append(RefusedLink(name, self.relative(name), os.readlink(name) if os.path.islink(name) else "",
                                       reason or "symbolic link"))
            return []
        if os.path.isdir(real):
            if not recursive or any(real == s or _under(real, s) or _under(s, real) for s in seen):
                return []  # a cycle, or a folder this listing covers anyway: its files are listed once
            return self._files(self.relative(name) + "/", recursive, refused, seen | {real}, literal=True)
        st = os.stat(real)
        return [LandingFile(name, self.relative(name), st.st_size,
                            fingerprint({"size": st.st_size, "mtime": st.st_mtime}))]

    def ls(self, path: str = "", *, recursive: bool = True) -> list[str]:
        """Sorted full paths of the files under ``path`` (relative to the lake root); see :meth:`files`."""
        return [f.path for f in self.files(path, recursive=recursive)]

    def exists(self, path: str) -> bool:
        return self.fs.exists(self._strip(path))

    def open(self, path: str, mode: str = "rb") -> Any:  # an fsspec file object
        return self.fs.open(self._strip(path), mode)

    @contextlib.contextmanager
    def pinned(self, path: str) -> Iterator[str]:
        """A location to read ``path`` from that cannot be swapped after it was checked.

        On a local lake the file is opened once, the real location of the *open* file is
        checked to lie inside the lake (``/proc/self/fd/N`` on Linux), and readers get that
        ``/proc/self/fd/N`` path: replacing the file by a link out of the lake between the
        check and the read cannot redirect the read. On object storage (no links) and where
        ``/proc`` is missing, the checked path itself.

        Raises ConfigError when the opened file lies outside the lake.
        """
        full = self.check(path)
        if not self.is_local or not os.path.isdir("/proc/self/fd"):
            yield full
            return
        local = self.full(full)
        local = local[len("file://"):] if local.startswith("file://") else local
        fd = os.open(local, os.O_RDONLY)
        try:
            check_inside(self.uri, os.path.realpath(f"/proc/self/fd/{fd}"))
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as fh:
            return fh.read()

    def move(self, src: str, dest: str) -> None:
        """Move one file inside the lake (a rename on disk, copy + delete on object storage)."""
        fs = self.fs
        dest_key = self._strip(dest, follow_links=False)
        parent = dest_key.rsplit("/", 1)[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        # one file, by its exact name: fs.mv would read "[", "*" and "?" in it as a glob
        src_key = self._strip(src, follow_links=False)
        if self.is_local:
            shutil.move(src_key, dest_key)
            return
        fs.cp_file(src_key, dest_key)
        fs.rm_file(src_key)

    def write_text(self, path: str, text: str) -> None:
        fs = self.fs
        key = self._strip(path)
        fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(key, "wb") as fh:
            fh.write(text.encode())


def fingerprint(info: Mapping[str, Any]) -> str:
    """What identifies a file's content from a listing: the object store's ETag when there is
    one, else size and modification time.

    >>> fingerprint({"size": 3, "ETag": '"abc"'})
    'size=3;etag=abc'
    >>> fingerprint({"size": 3, "mtime": 1700000000.5})
    'size=3;mtime=1700000000.500000'
    """
    size = int(info.get("size") or 0)
    etag = info.get("ETag") or info.get("etag") or info.get("md5_hash") or info.get("md5Hash")
    if etag:
        return f"size={size};etag={str(etag).strip(chr(34))}"
    mtime = info.get("mtime", info.get("LastModified", info.get("last_modified", info.get("updated"))))
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    try:
        return f"size={size};mtime={float(mtime):.6f}"
    except (TypeError, ValueError):
        return f"size={size};mtime={mtime}"


def glob_escape(key: str) -> str:
    """``key`` as an fsspec glob that matches only itself (``*``, ``?`` and ``[`` taken literally).

    >>> glob_escape("/home/me/[draft] v2?/lake")
    '/home/me/[[]draft] v2[?]/lake'
    """
    return glob.escape(key)


def _under(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)
