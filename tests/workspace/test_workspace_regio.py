"""A regional workspace's mart stage: which members a release holds, which regios wait."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from udc.catalog.models import Delivery
from udc.marts.definitions import load_definitions, with_regio
from udc.sources.contracts import load_contracts
from udc.workspace.ingest import member_refusal, rows_of_other_gemeenten
from udc.workspace.layout import Regio, Workspace, WorkspaceError
from udc.workspace.publish import ReleaseInputs, choose_release, input_signature

CONTRACTS = load_contracts()
MART = with_regio(load_definitions()["bijstand_buurt"])
REGIOS = {
    "RG0001": Regio("RG0001", "Regio Oost", ("GM0101", "GM0102")),
    "RG0002": Regio("RG0002", "Regio West", ("GM0103",)),
}


def delivered(source: str, gemeente: str | None, day: str, sha: str = "0" * 64) -> Delivery:
    return Delivery(
        source=source,
        gemeentecode=gemeente,
        peildatum=dt.datetime.strptime(day, "%Y%m%d").date(),
        sha256=sha,
        status="accepted",
    )


def complete(gemeente: str, day: str) -> list[Delivery]:
    return [delivered(s, gemeente, day) for s in ("brp", "bijstand", "buurtindeling")]


def test_a_regio_is_published_only_when_all_its_members_line_up():
    accepted = complete("GM0101", "20261101") + complete("GM0103", "20261101")
    accepted += complete("GM0102", "20261001")
    accepted.append(delivered("bijstand", "GM0102", "20261101"))  # its brp is quarantined
    choice = choose_release(MART, CONTRACTS, accepted, REGIOS)
    assert isinstance(choice, ReleaseInputs)
    assert choice.peildatum == dt.date(2026, 11, 1)
    assert choice.members == ("GM0101", "GM0103")
    assert choice.regios == {"RG0002": ("GM0103",)}
    assert "GM0102 is not in it (no accepted brp of 20261101)" in choice.waiting
    assert "regio RG0001 waits for GM0102" in choice.waiting
    assert set(choice.chosen) == {
        f"{s}@{g}" for s in ("brp", "bijstand", "buurtindeling") for g in ("GM0101", "GM0103")
    }
    assert choice.member_inputs("GM0103")["brp"].gemeentecode == "GM0103"


def test_every_member_in_publishes_every_regio_and_a_new_regio_changes_the_signature():
    accepted = [d for g in ("GM0101", "GM0102", "GM0103") for d in complete(g, "20261101")]
    choice = choose_release(MART, CONTRACTS, accepted, REGIOS)
    assert isinstance(choice, ReleaseInputs)
    assert choice.waiting == ()
    assert choice.regios == {"RG0001": ("GM0101", "GM0102"), "RG0002": ("GM0103",)}
    signature = input_signature(MART, choice.chosen, "k", choice.regios)
    assert signature != input_signature(MART, choice.chosen, "k", {"RG0002": ("GM0103",)})


def test_a_member_that_never_delivered_is_reported_and_nothing_lines_up_says_why():
    accepted = complete("GM0101", "20261101") + complete("GM0102", "20261101")
    choice = choose_release(MART, CONTRACTS, accepted, REGIOS)
    assert isinstance(choice, ReleaseInputs)
    assert choice.regios == {"RG0001": ("GM0101", "GM0102")}
    assert any(
        w.startswith("GM0103 is not in it (no accepted delivery yet") for w in choice.waiting
    )
    reason = choose_release(MART, CONTRACTS, [delivered("brp", "GM0101", "20261101")], REGIOS)
    assert isinstance(reason, str) and reason.startswith("no member lines up yet: GM0101:")


def test_a_workspace_of_one_municipality_reads_as_before():
    accepted = [delivered(s, None, "20261101") for s in ("brp", "bijstand", "buurtindeling")]
    choice = choose_release(load_definitions()["bijstand_buurt"], CONTRACTS, accepted)
    assert isinstance(choice, ReleaseInputs)
    assert choice.members == (None,) and choice.regios == {} and choice.waiting == ()
    assert set(choice.chosen) == {"brp", "bijstand", "buurtindeling"}


def test_a_regional_workspace_refuses_files_that_name_no_member():
    assert member_refusal({}, "brp", None) is None
    assert member_refusal(REGIOS, "brp", "GM0102") is None
    unnamed = member_refusal(REGIOS, "brp", None)
    assert unnamed is not None and "brp_GMnnnn_YYYYMMDD.csv" in unnamed.reason
    stranger = member_refusal(REGIOS, "brp", "GM0999")
    assert stranger is not None and "GM0999 is not a member of any regio" in stranger.reason


@pytest.mark.parametrize(
    ("codes", "elsewhere"),
    [(["0101", "0101"], 0), (["GM0101", "gm0101 "], 0), (["0101", "0102"], 1)],
)
def test_rows_of_another_gemeente_are_counted(codes, elsewhere):
    frame = pl.DataFrame({"gemeentecode": codes})
    assert rows_of_other_gemeenten(frame, "GM0101") == elsewhere
    assert rows_of_other_gemeenten(frame.rename({"gemeentecode": "x"}), "GM0101") == 0


def _settings_with(tmp_path, text: str):
    workspace = Workspace(tmp_path / "ws")
    workspace.create_folders()
    with workspace.settings_file.open("a", encoding="utf-8") as handle:
        handle.write(text)
    return workspace.settings()


def test_udc_toml_declares_the_regios_and_their_members(tmp_path):
    settings = _settings_with(
        tmp_path,
        '[regios.RG0001]\nnaam = "Regio Oost"\ngemeenten = ["GM0102", "GM0101"]\n'
        '[regios.PV25]\nnaam = "Gelderland"\ngemeenten = ["GM0103"]\n',
    )
    assert settings.regios["RG0001"] == Regio("RG0001", "Regio Oost", ("GM0101", "GM0102"))
    assert settings.members == ("GM0101", "GM0102", "GM0103")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[regios.BU0001]\ngemeenten = ["GM0101"]\n', "not starting with BU, WK or GM"),
        ('[regios.RG0001]\ngemeenten = ["0101"]\n', 'gemeentecodes such as "GM0200"'),
        (
            '[regios.RG0001]\ngemeenten = ["GM0101"]\n[regios.RG0002]\ngemeenten = ["GM0101"]\n',
            "GM0101 is already in regio RG0001",
        ),
        ('[regios.RG0001]\ngemeenten = ["GM0101"]\nleden = 3\n', "takes naam and gemeenten"),
    ],
)
def test_a_regio_that_cannot_be_one_is_refused_with_the_reason(tmp_path, text, says):
    with pytest.raises(WorkspaceError, match=says):
        _settings_with(tmp_path, text)
