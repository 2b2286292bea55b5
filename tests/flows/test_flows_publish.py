"""Which deliveries a mart is built from, and when it is rebuilt."""

from __future__ import annotations

import datetime as dt

from udc.catalog.models import Delivery
from udc.flows.publish import choose_inputs, input_signature
from udc.marts.definitions import load_definitions
from udc.sources.contracts import load_contracts

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
    from udc.flows.resources import init_workspace, open_resources
    from udc.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    init_workspace(workspace)
    workspace.settings_file.write_text(
        workspace.settings_file.read_text().replace("min_cell_size = 10", "min_cell_size = 15")
    )
    res = open_resources(workspace.root)
    assert {d.min_cell_size for d in res.marts.values()} == {15}
