"""The mart stage as plain steps: which deliveries a mart is built from, when it is rebuilt,
and how a release is built, protected, audited and published."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tomllib
from pathlib import Path

import polars as pl
import pytest

from udc.catalog.models import Delivery
from udc.marts.definitions import PACKAGED_DEFINITIONS, load_definitions
from udc.marts.release import protect_marts
from udc.pseudonymize.keys import KeyStore
from udc.sources.contracts import load_contracts
from udc.sources.lake import Lake
from udc.sources.synthetic import write_deliveries
from udc.workspace.ingest import process_delivery
from udc.workspace.layout import Workspace
from udc.workspace.publish import (
    StepFailed,
    audit_release,
    choose_inputs,
    count_for_release,
    input_signature,
    lacking_columns,
    plan_releases,
    protect_release,
    publish_audited,
    publish_release,
)
from udc.workspace.resources import Resources, open_resources

CONTRACTS = load_contracts()
MARTS = load_definitions()


def delivery(source: str, day: str, sha: str = "0" * 64) -> Delivery:
    return Delivery(
        source=source,
        peildatum=dt.datetime.strptime(day, "%Y%m%d").date(),
        sha256=sha,
        status="accepted",
    )


def test_the_latest_common_peildatum_with_the_reference_on_or_before_it():
    accepted = [
        delivery("brp", "20260901"),
        delivery("brp", "20261001"),
        delivery("brp", "20261101"),
        delivery("bijstand", "20260901"),
        delivery("bijstand", "20261001"),
        delivery("buurtindeling", "20260101"),
        delivery("buurtindeling", "20261015"),
    ]
    peildatum, chosen = choose_inputs(MARTS["bijstand_buurt"], CONTRACTS, accepted)
    assert peildatum == dt.date(2026, 10, 1)
    assert chosen["brp"].peildatum == chosen["bijstand"].peildatum == peildatum
    assert chosen["buurtindeling"].peildatum == dt.date(2026, 1, 1)


def test_a_mart_waits_for_its_sources():
    accepted = [delivery("brp", "20261001"), delivery("buurtindeling", "20261001")]
    reason = choose_inputs(MARTS["bijstand_buurt"], CONTRACTS, accepted)
    assert reason == "no accepted delivery yet from bijstand"
    accepted += [delivery("bijstand", "20260901")]
    assert "no peildatum in common" in choose_inputs(MARTS["bijstand_buurt"], CONTRACTS, accepted)
    late_reference = [delivery("brp", "20261001"), delivery("buurtindeling", "20261101")]
    assert "on or before 20261001" in choose_inputs(
        MARTS["bevolking_buurt"], CONTRACTS, late_reference
    )


def test_the_signature_changes_with_deliveries_and_key_only():
    chosen = {"brp": delivery("brp", "20261001", "a" * 64)}
    definition = MARTS["bevolking_buurt"]
    same = input_signature(definition, chosen, "k")
    assert same == input_signature(definition, dict(chosen), "k")
    assert same != input_signature(definition, {"brp": delivery("brp", "20261001", "b" * 64)}, "k")
    assert same != input_signature(definition, chosen, "other key")
    assert same != input_signature(MARTS["wmo_wijk"], chosen, "k")


def test_the_workspace_minimum_cell_size_is_a_floor_for_every_mart(tmp_path):
    from udc.workspace.layout import Workspace
    from udc.workspace.resources import init_workspace, open_resources

    workspace = Workspace(tmp_path / "ws")
    init_workspace(workspace)
    workspace.settings_file.write_text(
        workspace.settings_file.read_text().replace("min_cell_size = 10", "min_cell_size = 15")
    )
    res = open_resources(workspace.root)
    assert {d.min_cell_size for d in res.marts.values()} == {15}


def test_a_mart_asking_for_a_column_the_lake_did_not_keep_says_so(tmp_path):
    lake = Lake(tmp_path)
    day = dt.date(2026, 10, 1)
    # Loaded when no mart needed the arrears amount yet.
    arrears = pl.DataFrame({"pseudonym": ["p1"], "achterstand_maanden": [2]})
    lake.write("huurachterstand", day, arrears)
    definition = MARTS["stapeling_wijk"]
    chosen = {"huurachterstand": delivery("huurachterstand", "20261001")}
    message = lacking_columns(lake, definition, chosen)
    assert message.startswith(
        "stapeling_wijk: not built: the huurachterstand delivery of 20261001 was loaded "
        "without achterstand_bedrag (no mart needed it then)"
    )
    lake.write("huurachterstand", day, arrears.with_columns(achterstand_bedrag=pl.lit(9.5)))
    assert lacking_columns(lake, definition, chosen) == ""


PEILDATUM = dt.date(2026, 10, 1)
# The two marts with the smallest grids keep the release quick to protect.
SMALL = ("stapeling_wijk", "wmo_wijk")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """A workspace whose lake holds a small synthetic city (ingested once: GX is slow)."""
    root = tmp_path_factory.mktemp("loaded") / "ws"
    workspace = Workspace(root)
    workspace.create_folders()
    KeyStore(workspace.keys).create()
    res = open_resources(root)
    run_id = res.catalog.start_run(None)
    for path in write_deliveries(res.settings.inbox, 1500, 3, PEILDATUM):
        if path.parent.name != "politie_incidenten":
            assert process_delivery(res, path, run_id).status.startswith("accepted")
    res.catalog.engine.dispose()
    return root


def _opened(loaded: Path, tmp_path: Path, marts: dict) -> tuple[Resources, str]:
    """A copy of the loaded workspace that builds only ``marts``, and a new run."""
    shutil.copytree(loaded, tmp_path / "ws", symlinks=True)
    res = dataclasses.replace(open_resources(tmp_path / "ws"), marts=marts)
    return res, res.catalog.start_run(None)


def test_a_release_is_built_protected_audited_and_published_then_left_alone(loaded, tmp_path):
    res, run_id = _opened(loaded, tmp_path, {name: MARTS[name] for name in SMALL})
    plan = plan_releases(res)
    assert plan.settled == []
    (release,) = plan.releases
    assert release.peildatum == PEILDATUM and release.marts == SMALL
    outcomes = publish_release(res, release, run_id)
    assert {o.mart: o.status for o in outcomes} == dict.fromkeys(SMALL, "published")
    # The release's stage times go with one mart, so that summing over marts stays true.
    timed_outcomes = [o for o in outcomes if o.seconds]
    assert len(timed_outcomes) == 1
    assert {"mart_read", "mart_count", "protect", "audit", "publish"} <= set(
        timed_outcomes[0].seconds
    )
    assert all({"aggregate", "protect", "audit", "publish"} <= set(o.spans) for o in outcomes)
    again = plan_releases(res)
    assert again.releases == []
    assert {o.mart: o.status for o in again.settled} == dict.fromkeys(SMALL, "unchanged")


def test_a_mart_that_cannot_be_counted_fails_alone_and_the_others_publish(loaded, tmp_path):
    wmo = MARTS["wmo_wijk"]
    broken_measure = dataclasses.replace(
        wmo.measures[0], sql=wmo.measures[0].sql.replace("AS leeftijdsklasse", "AS klasse")
    )
    broken = dataclasses.replace(wmo, measures=(broken_measure,))
    marts = {"stapeling_wijk": MARTS["stapeling_wijk"], "wmo_wijk": broken}
    res, run_id = _opened(loaded, tmp_path, marts)
    (release,) = plan_releases(res).releases
    with pytest.raises(StepFailed) as failed:
        count_for_release(res, PEILDATUM, "wmo_wijk")
    (outcome,) = failed.value.outcomes
    assert outcome.status == "failed" and outcome.peildatum == "20261001"
    assert str(failed.value) == outcome.message
    assert outcome.message.startswith("wmo_wijk: not built: wmo_wijk.personen: the query must")
    statuses = {o.mart: o.status for o in publish_release(res, release, run_id)}
    assert statuses == {"stapeling_wijk": "published", "wmo_wijk": "failed"}
    assert res.store.current("wmo_wijk") is None


def test_a_release_the_audit_refuses_publishes_nothing(loaded, tmp_path):
    res, run_id = _opened(loaded, tmp_path, {"stapeling_wijk": MARTS["stapeling_wijk"]})
    counted = [count_for_release(res, PEILDATUM, "stapeling_wijk")]
    protected = protect_release(res, PEILDATUM, counted)
    (built,) = protected.built
    # Publish every hidden cell but one: that one follows from its published line.
    counts = counted[0].designs.named(built.definition.design.name)
    unprotected = dataclasses.replace(
        counts,
        definition=dataclasses.replace(counts.definition, min_cell_size=1, protection_level=1),
    )
    (open_table,), _ = protect_marts([unprotected])
    hidden = built.frame["personen_geheim"].fill_null(False)
    keep = int(hidden.arg_true()[0])
    unhide = hidden & (pl.int_range(pl.len()) != keep)
    leaky = built.frame.with_columns(
        pl.when(unhide).then(False).otherwise(pl.col("personen_geheim")).alias("personen_geheim"),
        pl.when(unhide).then(open_table.frame["personen"]).otherwise(pl.col("personen"))
        .alias("personen"),
    )  # fmt: skip
    tampered = dataclasses.replace(protected, built=[dataclasses.replace(built, frame=leaky)])
    with pytest.raises(StepFailed, match="not published: the disclosure audit of the 20261001"):
        audit_release(res, tampered)
    audited = audit_release(res, protected)
    (outcome,) = publish_audited(res, audited, run_id)
    assert outcome.status == "published"


def test_a_cell_key_mart_is_perturbed_under_the_workspace_secret(loaded, tmp_path):
    """Record keys come from the master key's cell key domain: another workspace's key, or
    the unit ids alone, give other noise."""
    from udc.pseudonymize.keys import derive_domain_key

    wmo = dataclasses.replace(MARTS["wmo_wijk"], protection="cell_key")
    res, run_id = _opened(loaded, tmp_path, {"wmo_wijk": wmo})
    assert res.record_key() == derive_domain_key(res.keys.master_key(), "celsleutel")
    assert res.record_key() not in (res.link_key(), res.log_subject_key())
    counted = count_for_release(res, PEILDATUM, "wmo_wijk")
    (outcome,) = publish_release(res, plan_releases(res).releases[0], run_id)
    assert outcome.status == "published" and outcome.suppressed == 0
    published = pl.read_parquet(res.store.current_path("wmo_wijk"))
    (table,) = protect_marts([counted.counts])[0]
    assert published.equals(table.frame)
    other = count_mart_under(res, wmo, bytes(32))
    assert not protect_marts([other])[0][0].frame.equals(table.frame)


def count_mart_under(res: Resources, definition, secret: bytes):
    from udc.marts.build import count_mart

    _, chosen = choose_inputs(definition, res.contracts, res.catalog.accepted_deliveries())
    tables = {
        source: res.lake.read(source, d.peildatum, list(definition.inputs[source]))
        for source, d in chosen.items()
    }
    return count_mart(definition, tables, PEILDATUM, secret)


def test_a_mart_with_designs_publishes_the_chosen_one_and_says_which(loaded, tmp_path):
    """wmo_wijk without age bands, and with provisions grouped (a person with two grouped
    provisions counts once in the group): published in the design the target picks, its
    name and hidden share in the parquet, the choice in the catalog, the audit passing; a
    rebuild of the same values keeps the design."""
    import json

    from udc.marts.definitions import definition_from_dict

    raw = tomllib.loads((PACKAGED_DEFINITIONS / "wmo_wijk.toml").read_text())
    raw["dimensions"]["voorziening"]["groupings"] = {
        "soort": {"hulp": ["HH", "BG"], "wonen": ["WV", "RV", "VV", "BW"]}
    }
    raw["designs"] = [
        {"name": "fijn"},
        {"name": "zonder_leeftijd", "leeftijdsklasse": "totaal"},
        {"name": "soort", "leeftijdsklasse": "totaal", "voorziening": "soort"},
    ]
    raw["max_hidden_share"] = 0.05
    wmo = definition_from_dict(raw)
    res, run_id = _opened(loaded, tmp_path, {"wmo_wijk": wmo})
    counted = count_for_release(res, PEILDATUM, "wmo_wijk")
    assert [c.definition.design.name for c in counted.designs] == ["fijn", "zonder_leeftijd",
                                                                   "soort"]  # fmt: skip
    protected = protect_release(res, PEILDATUM, [counted])
    choice = protected.designs["wmo_wijk"]
    (built,) = protected.built
    assert built.definition.design.name == choice.design
    assert [name for name, *_ in choice.tried][-1] == choice.design
    (outcome,) = publish_audited(res, audit_release(res, protected), run_id)
    assert outcome.status == "published"
    metadata = res.store.current("wmo_wijk").metadata
    assert metadata["udc.design"] == choice.design
    hidden = built.primary_suppressed + built.secondary_suppressed
    assert float(metadata["udc.hidden_share"]) == round(hidden / built.cells, 4)
    assert json.loads(metadata["udc.dimensions"]) == [d.name for d in built.definition.dimensions]
    (dataset,) = res.catalog.datasets("mart", "wmo_wijk")
    assert json.loads(dataset.stats)["design"]["design"] == choice.design
    # The same values again, with a target only the finest design meets: the design stays.
    easier = dataclasses.replace(wmo, max_hidden_share=0.99)
    res = dataclasses.replace(res, marts={"wmo_wijk": easier})
    again = protect_release(res, PEILDATUM, [count_for_release(res, PEILDATUM, "wmo_wijk")])
    assert again.designs["wmo_wijk"].design == choice.design
