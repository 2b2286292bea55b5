"""Atomic publication of marts: releases, the current symlink, readable parquet."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from udc.marts import publish as publish_module
from udc.marts.definitions import MartError
from udc.marts.publish import MartStore

NAME = "bevolking_buurt"


def frame(count: int = 12) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "gebiedsniveau": ["buurt", "buurt", "gemeente"],
            "gebiedscode": ["BU99990101", "BU99990102", "GM9999"],
            "gebiedsnaam": ["Buurt 1", "Buurt 2", "GM9999"],
            "geslacht": ["totaal"] * 3,
            "personen": pl.Series([count, None, None], dtype=pl.Int64),
            "personen_geheim": [False, True, True],
        }
    )


def metadata(peildatum: str = "2024-06-30") -> dict[str, object]:
    return {
        "purpose": "kerncijfers_bevolking",
        "peildatum": peildatum,
        "min_cell_size": 10,
        "dimensions": ["geslacht"],
        "measures": ["personen"],
        "deliveries": ["brp:20240630:ab12", "buurtindeling:20240101:cd34"],
        "key_fingerprint": "f1ng3rpr1nt",
    }


def test_publish_writes_a_release_and_points_current_at_it(tmp_path: Path):
    store = MartStore(tmp_path)
    assert store.current(NAME) is None and store.names() == []
    release = store.publish(NAME, frame(), metadata())
    assert release.release_id.startswith("20240630-")
    assert os.readlink(tmp_path / NAME / "current") == f"releases/{release.release_id}"
    assert store.current(NAME) == release
    assert store.names() == [NAME]
    assert store.current_path(NAME) == tmp_path / NAME / "current" / f"{NAME}.parquet"
    assert store.current_path(NAME).resolve() == release.parquet.resolve()
    record = json.loads((release.path / "metadata.json").read_text(encoding="utf-8"))
    assert record["rows"] == 3 and record["sha256"] == release.content_hash
    assert record["published_at"] == release.published_at


def test_the_parquet_reads_back_in_duckdb_polars_and_pyarrow_with_metadata(tmp_path: Path):
    store = MartStore(tmp_path)
    store.publish(NAME, frame(), metadata())
    path = str(store.current_path(NAME))
    via_duckdb = duckdb.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table()
    assert pl.from_arrow(via_duckdb).equals(frame())
    assert pl.read_parquet(path).equals(frame())
    table = pq.read_table(path)
    kv = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert kv["udc.mart"] == NAME
    assert kv["udc.purpose"] == "kerncijfers_bevolking"
    assert kv["udc.peildatum"] == "2024-06-30"
    assert kv["udc.min_cell_size"] == "10"
    assert json.loads(kv["udc.dimensions"]) == ["geslacht"]
    assert json.loads(kv["udc.measures"]) == ["personen"]
    assert json.loads(kv["udc.deliveries"]) == metadata()["deliveries"]
    assert kv["udc.key_fingerprint"] == "f1ng3rpr1nt"
    assert str(table.schema.field("gebiedscode").type) == "string"
    assert store.current(NAME).metadata == kv  # type: ignore[union-attr]


def test_identical_input_gives_identical_bytes_and_republishing_is_a_no_op(tmp_path: Path):
    first = MartStore(tmp_path / "a").publish(NAME, frame(), metadata())
    other = MartStore(tmp_path / "b").publish(NAME, frame(), metadata())
    assert first.parquet.read_bytes() == other.parquet.read_bytes()
    assert first.release_id == other.release_id
    store = MartStore(tmp_path / "a")
    again = store.publish(NAME, frame(), {**metadata(), "dimensions": ("geslacht",)})
    assert again == first
    assert [r.release_id for r in store.releases(NAME)] == [first.release_id]
    assert not [p for p in (tmp_path / "a" / NAME).rglob(".*")]


def test_prefixed_metadata_from_the_flow_is_accepted(tmp_path: Path):
    prefixed = {
        f"udc.{k}": json.dumps(v) if isinstance(v, list) else v for k, v in metadata().items()
    }
    release = MartStore(tmp_path).publish(NAME, frame(), {**prefixed, "udc.inputs": "abc"})
    assert release.metadata["udc.inputs"] == "abc"
    assert json.loads(release.metadata["udc.measures"]) == ["personen"]


def test_readers_see_the_old_release_until_the_swap(tmp_path: Path, monkeypatch):
    store = MartStore(tmp_path)
    old = store.publish(NAME, frame(12), metadata("2024-05-31"))
    seen_before_swap: list[pl.DataFrame] = []
    real_replace = os.replace

    def observing_replace(source, target):
        # The new release is complete on disk, but readers still get the old one.
        seen_before_swap.append(pl.read_parquet(store.current_path(NAME)))
        new_files = sorted((tmp_path / NAME / "releases").iterdir())
        assert len(new_files) == 2
        real_replace(source, target)

    monkeypatch.setattr(publish_module.os, "replace", observing_replace)
    new = store.publish(NAME, frame(15), metadata("2024-06-30"))
    assert seen_before_swap[0]["personen"][0] == 12
    assert pl.read_parquet(store.current_path(NAME))["personen"][0] == 15
    assert store.current(NAME) == new
    assert old.parquet.exists()
    assert [r.release_id for r in store.releases(NAME)] == [old.release_id, new.release_id]


def test_a_failed_write_leaves_the_current_release_alone(tmp_path: Path, monkeypatch):
    store = MartStore(tmp_path)
    old = store.publish(NAME, frame(12), metadata())

    def failing_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(publish_module.pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        store.publish(NAME, frame(15), metadata("2024-07-31"))
    assert store.current(NAME) == old
    assert [r.release_id for r in store.releases(NAME)] == [old.release_id]
    assert not [p for p in (tmp_path / NAME / "releases").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("key_fingerprint"), "lacks"),
        (lambda m: m.update(peildatum="30-06-2024"), "not a date"),
        (lambda m: m.update(deliveries="brp"), "list"),
        (lambda m: m.update(mart="iets_anders"), "another mart"),
    ],
)
def test_incomplete_or_wrong_metadata_is_refused(tmp_path: Path, change, message):
    wrong = metadata()
    change(wrong)
    with pytest.raises(MartError, match=message):
        MartStore(tmp_path).publish(NAME, frame(), wrong)


def test_mart_names_cannot_escape_the_store(tmp_path: Path):
    with pytest.raises(MartError, match="not a mart name"):
        MartStore(tmp_path).publish("../lake", frame(), metadata())


def test_a_date_object_is_accepted_as_peildatum(tmp_path: Path):
    release = MartStore(tmp_path).publish(
        NAME, frame(), {**metadata(), "peildatum": date(2024, 6, 30)}
    )
    assert release.metadata["udc.peildatum"] == "2024-06-30"
