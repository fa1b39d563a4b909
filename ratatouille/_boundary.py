"""The lake is a boundary: every storage location Ratatouille touches lies under the lake root.

:class:`~ratatouille._lake.Lake` sends every location it builds or is handed (table URIs,
landing paths, files it lists, opens, moves, writes or deletes) through :func:`check_inside`
before the operation, so a table name, an ingest ``source:`` or a ``tools.ls`` path can never
reach another folder, another project's lake or another bucket.

* Local lake: the *resolved* real path (symbolic links followed, ``..`` collapsed) must be
  the resolved lake root or lie under it.
* Object storage (``s3://bucket/prefix``...): the key must be under the root's bucket and
  prefix, with no ``.`` or ``..`` segment (object stores do not collapse them; delta-rs and
  fsspec would treat them differently, so they are refused outright).

>>> check_inside("s3://bkt/lake", "s3://bkt/lake/silver/sales")
's3://bkt/lake/silver/sales'
>>> check_inside("s3://bkt/lake", "s3://bkt/lake/silver/../../other")
Traceback (most recent call last):
...
ratatouille.errors.ConfigError: s3://bkt/lake/silver/../../other is outside the lake s3://bkt/lake ('..' or '.' segments are not allowed)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError


def _split(uri: str) -> tuple[str, str]:
    if "://" in uri:
        scheme, rest = uri.split("://", 1)
        return scheme.lower(), rest
    return "file", uri


def check_inside(root: str, location: str, *, what: str = "path", follow_links: bool = True) -> str:
    """Return ``location`` unchanged if it lies under the lake ``root``, else raise ConfigError.

    ``location`` is a full URI (``s3://bkt/lake/x``), a protocol-less object-store key
    (``bkt/lake/x``, as fsspec uses them) or a local path. Local paths are compared by real
    path; with ``follow_links=False`` the last component is not resolved (moving or deleting a
    symbolic link acts on the link, which lies where its parent folder lies).

    Raises
    ------
    ConfigError: the location is outside the lake (or has ``..`` segments on object storage).

    >>> check_inside("/srv/lake", "/srv/lake/landing/a.csv")
    '/srv/lake/landing/a.csv'
    >>> check_inside("/srv/lake", "/srv/lake/../other")       # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ratatouille.errors.ConfigError: /srv/lake/../other is outside the lake /srv/lake
    """
    scheme, root_key = _split(root)
    if scheme == "file":
        loc = location[len("file://"):] if location.startswith("file://") else location
        if "://" in loc:
            raise ConfigError(f"{what} {location} is outside the lake {root}")
        if not inside_local(root_key, loc, follow_links=follow_links):
            raise ConfigError(f"{location} is outside the lake {root}")
        return location
    loc_scheme, key = _split(location) if "://" in location else (scheme, location)
    if loc_scheme != scheme and not {loc_scheme, scheme} <= {"s3", "s3a"}:
        raise ConfigError(f"{location} is outside the lake {root}")
    parts = key.strip("/").split("/")
    if any(p in (".", "..") for p in parts):
        raise ConfigError(f"{location} is outside the lake {root} ('..' or '.' segments are not allowed)")
    root_parts = [p for p in root_key.strip("/").split("/") if p]
    clean = [p for p in parts if p]
    if clean[: len(root_parts)] != root_parts:
        raise ConfigError(f"{location} is outside the lake {root}")
    return location


def inside_local(root: str, path: str, *, follow_links: bool = True) -> bool:
    """Whether the local ``path`` resolves under the resolved ``root`` (or is the root)."""
    real_root = os.path.realpath(root)
    if follow_links:
        real = os.path.realpath(path)
    else:
        head, tail = os.path.split(os.path.abspath(path).rstrip(os.sep) or os.sep)
        if tail in ("", ".", ".."):
            real = os.path.realpath(path)
        else:
            real = os.path.join(os.path.realpath(head), tail)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class RefusedLink:
    """A symbolic link in the lake whose target lies outside it (or is missing): never followed."""

    path: str
    rel: str
    target: str
    reason: str


def link_target(root: str, path: str) -> tuple[str | None, str | None]:
    """For a local symbolic link: ``(real target, None)`` when the target exists inside the lake,
    else ``(None, reason)``."""
    try:
        raw = os.readlink(path)
    except OSError as exc:
        return None, f"symbolic link cannot be read ({type(exc).__name__})"
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return None, f"symbolic link to {raw}, which does not exist"
    if not inside_local(root, real):
        return None, f"symbolic link to {raw}, outside the lake: links are followed only to files inside the lake"
    return real, None
