"""The disclosure audit gate before publishing, and releases read together with earlier
releases of their peildatum."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest

from udc.marts.audit import audit_gate
from udc.marts.definitions import load_definitions
from udc.marts.release import build_mart

MARTS = load_definitions()


def small_city(persons: int = 300, seed: int = 5) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    addresses = [
        (f"{1000 + 10 * w + b}AB", h, f"BU99990{w}0{b}", f"Buurt {w}{b}", f"WK99990{w}",
         f"Wijk {w}", "GM9999")
        for w in (1, 2)
        for b in (1, 2, 3)
        for h in range(1, 11)
    ]
    buurtindeling = pl.DataFrame(
        addresses,
        orient="row",
        schema=["postcode", "huisnummer", "buurtcode", "buurtnaam", "wijkcode", "wijknaam",
                "gemeentecode"],
    )  # fmt: skip
    at = rng.integers(0, len(addresses), persons)
    brp = pl.DataFrame(
        {
            "pseudonym": [f"p{i:05d}" for i in range(persons)],
            "geboortedatum": [f"{y}0101" for y in rng.integers(1930, 2020, persons)],
            "geslachtsaanduiding": rng.choice(["M", "V"], persons).tolist(),
            "postcode": [addresses[i][0] for i in at],
            "huisnummer": [addresses[i][1] for i in at],
        }
    )
    return {"brp": brp, "buurtindeling": buurtindeling}


def test_the_audit_gate_refuses_a_release_with_a_cell_computable_from_its_line():
    definition = MARTS["bevolking_buurt"]
    built = build_mart(definition, small_city(), dt.date(2026, 11, 1))
    audits, refusal = audit_gate([built], MARTS)
    assert refusal == "" and sum(len(a.intervals) for a in audits) > 0
    # Publish every hidden cell but one: that one follows from its published line.
    hidden = built.frame["personen_geheim"].fill_null(False)
    keep = int(hidden.arg_true()[0])
    leaky = built.frame.with_columns(
        pl.when(hidden & (pl.int_range(pl.len()) != keep))
        .then(False)
        .otherwise(pl.col("personen_geheim"))
        .alias("personen_geheim"),
    )
    true_values = build_mart(
        dataclasses.replace(definition, min_cell_size=1, protection_level=1),
        small_city(),
        dt.date(2026, 11, 1),
    ).frame["personen"]
    leaky = leaky.with_columns(
        pl.when(pl.col("personen_geheim")).then(None).otherwise(true_values).alias("personen")
    )
    _, refusal = audit_gate([dataclasses.replace(built, frame=leaky)], MARTS)
    assert refusal.startswith(
        "not published: the disclosure audit of the 20261101 release narrows 1 hidden cell(s)"
    )
    assert "the last published version stays" in refusal


def test_an_earlier_release_with_the_same_values_is_audited_together_with_the_new_one():
    from udc.marts.audit import audit_input, audit_tables

    definition = MARTS["bevolking_buurt"]
    built = build_mart(definition, small_city(), dt.date(2026, 11, 1))
    true_values = build_mart(
        dataclasses.replace(definition, min_cell_size=1, protection_level=1),
        small_city(),
        dt.date(2026, 11, 1),
    ).frame["personen"]
    # An earlier release of the peildatum that published all but one of the cells now
    # hidden in a line: that one follows from its line.
    hidden = built.frame["personen_geheim"].fill_null(False)
    kept = int(hidden.arg_true()[0])
    earlier_frame = built.frame.with_columns(
        (hidden & (pl.int_range(pl.len()) == kept)).alias("personen_geheim"),
    ).with_columns(
        pl.when(pl.col("personen_geheim")).then(None).otherwise(true_values).alias("personen")
    )
    new = audit_input("bevolking_buurt", built.frame, definition, {"personen": "same"})

    def narrow_in_new(fingerprint: str) -> int:
        earlier = dataclasses.replace(
            new, frame=earlier_frame, fingerprints={"personen": fingerprint}
        )
        (audit,) = audit_tables([new], [], [], [earlier])
        return len(audit.too_narrow)

    assert narrow_in_new("other values") == 0  # not the same cells: nothing to combine
    # The cells the earlier release shows count as published; the one left is pinned.
    assert narrow_in_new("same") == 1
    _, refusal = audit_gate(
        [built], MARTS, {"bevolking_buurt": {"personen": "same"}},
        [dataclasses.replace(new, frame=earlier_frame)],
    )  # fmt: skip
    assert "(read together with the 1 earlier release(s) of this peildatum" in refusal


def test_a_rebuild_hides_again_what_an_earlier_release_hid_and_uses_nothing_it_showed():
    from udc.marts.audit import audit_input, audit_tables
    from udc.marts.build import count_mart
    from udc.marts.release import cells_shown, protect_marts
    from udc.marts.tables import DisclosureError

    definition = MARTS["bevolking_buurt"]
    counts = count_mart(definition, small_city(), dt.date(2026, 11, 1))

    def at_level(level: int):
        return dataclasses.replace(
            counts, definition=dataclasses.replace(definition, protection_level=level)
        )

    # The earlier release of the peildatum was protected at level 15 and hides more.
    (first,), _ = protect_marts([at_level(15)])
    (alone,), _ = protect_marts([counts])
    hidden, published = cells_shown(first.frame, counts, counts.measures[0])
    assert hidden.sum() > cells_shown(alone.frame, counts, counts.measures[0])[0].sum()
    before = {("bevolking_buurt", "personen"): (hidden, published)}
    (again,), _ = protect_marts([counts], before=before)
    rebuilt, _ = cells_shown(again.frame, counts, counts.measures[0])
    assert (rebuilt == hidden).all()  # all it hid, and nothing it published
    new = audit_input("bevolking_buurt", again.frame, definition, {"personen": "f"})
    earlier = audit_input("bevolking_buurt", first.frame, definition, {"personen": "f"})
    (audit,) = audit_tables([new], [], [], [earlier])
    assert audit.too_narrow == () and len(audit.intervals) == hidden.sum()
    # A stricter level than the earlier release kept cannot be met with what it hid.
    with pytest.raises(DisclosureError, match="no direction protects"):
        protect_marts([at_level(20)], before=before)
