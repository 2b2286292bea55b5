"""Atomic publication of protected marts (load 2).

Layout under the store's root (the workspace's ``marts/``)::

    <mart>/releases/<release_id>/<mart>.parquet   immutable once written
    <mart>/releases/<release_id>/metadata.json    who, what, when (timestamps live here)
    <mart>/current -> releases/<release_id>       symlink that analysts read through

A release is written under a temporary name and renamed into place whole; then a new
``current`` symlink is created under a temporary name and ``os.replace``d over the old one
(an atomic rename), so a reader sees the old release or the new one, never a mix. The
parquet holds only deterministic values, so identical content gives identical bytes and
the same release id ("<peildatum>-<content hash>"): republishing it changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from udc.marts.definitions import NAME, MartError

REQUIRED_METADATA = (
    "udc.purpose",
    "udc.peildatum",
    "udc.min_cell_size",
    "udc.dimensions",
    "udc.measures",
    "udc.deliveries",
    "udc.key_fingerprint",
)
LIST_METADATA = ("udc.dimensions", "udc.measures", "udc.deliveries")
HASH_LENGTH = 12


@dataclass(frozen=True)
class Release:
    mart: str
    release_id: str
    path: Path  # the release folder
    metadata: Mapping[str, str]  # the parquet's udc.* key-value metadata
    published_at: str  # ISO 8601, UTC
    content_hash: str  # sha256 of the parquet file

    @property
    def parquet(self) -> Path:
        return self.path / f"{self.mart}.parquet"


def _peildatum(value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MartError(f"peildatum {value!r} is not a date (YYYY-MM-DD)") from None


def _text(key: str, value: object) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list | tuple):
        text = json.dumps([str(item) for item in value])
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, bool | int | float):
        text = json.dumps(value)
    else:
        raise MartError(f"publication metadata {key!r} must be text, a number, a date or a list")
    if key in LIST_METADATA:
        try:
            is_list = isinstance(json.loads(text), list)
        except json.JSONDecodeError:
            is_list = False
        if not is_list:
            raise MartError(f"publication metadata {key!r} must be a (JSON) list")
    return text


def parquet_metadata(name: str, metadata: Mapping[str, object]) -> dict[str, str]:
    """The ``udc.*`` key-value metadata of a mart's parquet, from keys with or without the
    ``udc.`` prefix; lists become JSON. Only deterministic values belong here (no times)."""
    values = {
        (key if key.startswith("udc.") else f"udc.{key}"): value for key, value in metadata.items()
    }
    missing = [key for key in REQUIRED_METADATA if key not in values]
    if missing:
        raise MartError(f"{name}: publication metadata lacks {missing}")
    if values.setdefault("udc.mart", name) != name:
        raise MartError(f"{name}: publication metadata names another mart")
    values["udc.peildatum"] = _peildatum(values["udc.peildatum"])
    return {key: _text(key, values[key]) for key in sorted(values)}


def _arrow(table: pl.DataFrame, kv: Mapping[str, str]) -> pa.Table:
    """Plain (not large or view) strings, which every parquet reader understands."""
    arrow = table.to_arrow()
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type)
        or pa.types.is_string_view(f.type) else f
        for f in arrow.schema
    ]  # fmt: skip
    arrow = arrow.cast(pa.schema(fields))
    return arrow.replace_schema_metadata({k.encode(): v.encode() for k, v in kv.items()})


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class MartStore:
    """Published marts under ``root`` (the workspace's ``marts/`` folder)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _folder(self, name: str) -> Path:
        if not NAME.match(name):
            raise MartError(f"{name!r} is not a mart name")
        return self.root / name

    def _release(self, name: str, release_id: str) -> Release:
        path = self._folder(name) / "releases" / release_id
        record = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        return Release(
            mart=name,
            release_id=release_id,
            path=path,
            metadata=record["parquet_metadata"],
            published_at=record["published_at"],
            content_hash=record["sha256"],
        )

    def publish(self, name: str, table: pl.DataFrame, metadata: Mapping[str, object]) -> Release:
        """Write ``table`` as a new release of mart ``name`` and make it current."""
        folder = self._folder(name)
        releases = folder / "releases"
        releases.mkdir(parents=True, exist_ok=True)
        kv = parquet_metadata(name, metadata)
        staging = releases / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            parquet = staging / f"{name}.parquet"
            pq.write_table(_arrow(table, kv), parquet, compression="snappy")
            _fsync(parquet)
            digest = hashlib.sha256(parquet.read_bytes()).hexdigest()
            release_id = f"{kv['udc.peildatum'].replace('-', '')}-{digest[:HASH_LENGTH]}"
            final = releases / release_id
            if not final.exists():
                record = {
                    "mart": name,
                    "release_id": release_id,
                    "sha256": digest,
                    "rows": table.height,
                    "columns": table.columns,
                    "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "parquet_metadata": kv,
                }
                (staging / "metadata.json").write_text(
                    json.dumps(record, indent=2, sort_keys=True), encoding="utf-8"
                )
                os.rename(staging, final)
                _fsync(releases)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        self._point_current(folder, release_id)
        return self._release(name, release_id)

    def _point_current(self, folder: Path, release_id: str) -> None:
        target = f"releases/{release_id}"
        current = folder / "current"
        if current.is_symlink() and os.readlink(current) == target:
            return
        link = folder / f".current-{uuid.uuid4().hex}"
        os.symlink(target, link)
        os.replace(link, current)
        _fsync(folder)

    def current(self, name: str) -> Release | None:
        link = self._folder(name) / "current"
        if not link.is_symlink():
            return None
        return self._release(name, Path(os.readlink(link)).name)

    def releases(self, name: str) -> list[Release]:
        """All releases of a mart, oldest first."""
        folder = self._folder(name) / "releases"
        if not folder.is_dir():
            return []
        found = [
            self._release(name, path.name)
            for path in folder.iterdir()
            if path.is_dir() and not path.name.startswith(".")
        ]
        return sorted(found, key=lambda r: (r.published_at, r.release_id))

    def unpublish(self, name: str) -> bool:
        """Take a mart out of publication: analysts no longer find it (``current`` goes);
        its releases stay on disk for the record until retention deletes them. False if
        it was not published."""
        current = self._folder(name) / "current"
        if not current.is_symlink():
            return False
        current.unlink()
        return True

    def names(self) -> list[str]:
        """Marts with a current release."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "current").is_symlink())

    def current_path(self, name: str) -> Path:
        """The stable path analysts read: ``<root>/<name>/current/<name>.parquet``."""
        return self._folder(name) / "current" / f"{name}.parquet"
