from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from udc.marts.definitions import (
    PACKAGED_DEFINITIONS,
    MartError,
    definition_from_dict,
    load_definitions,
)

DEFAULT_MARTS = {
    "bevolking_buurt",
    "bijstand_buurt",
    "wmo_wijk",
    "stapeling_wijk",
    "incidenten_buurt_maand",
    "incidenten_wijk_maand",
}


def raw(name: str) -> dict:
    return tomllib.loads((PACKAGED_DEFINITIONS / f"{name}.toml").read_text(encoding="utf-8"))


def test_the_six_default_marts_load_with_their_purposes():
    definitions = load_definitions()
    assert set(definitions) == DEFAULT_MARTS
    assert {d.purpose for d in definitions.values()} == {
        "kerncijfers_bevolking",
        "minimabeleid",
        "wmo_monitor",
        "stapeling_sociaal_domein",
        "veiligheid",
    }
    assert all(d.min_cell_size == 10 for d in definitions.values())
    assert definitions["wmo_wijk"].geography == ("wijk", "gemeente")
    assert definitions["bevolking_buurt"].finest_code == "buurtcode"


def test_wmo_provision_is_non_additive_and_bijstand_has_a_ratio():
    definitions = load_definitions()
    assert not definitions["wmo_wijk"].dimension("voorziening").additive
    assert definitions["wmo_wijk"].dimension("leeftijdsklasse").additive
    (ratio,) = definitions["bijstand_buurt"].ratios
    assert (ratio.numerator, ratio.denominator, ratio.min_denominator) == (
        "ontvangers",
        "inwoners",
        100,
    )


def test_a_later_folder_overrides_a_mart_by_name_and_adds_new_ones(tmp_path: Path):
    text = (PACKAGED_DEFINITIONS / "bevolking_buurt.toml").read_text(encoding="utf-8")
    (tmp_path / "mine.toml").write_text(
        text.replace("min_cell_size = 10", "min_cell_size = 15"), encoding="utf-8"
    )
    extra = text.replace('name = "bevolking_buurt"', 'name = "bevolking_kopie"')
    (tmp_path / "kopie.toml").write_text(extra, encoding="utf-8")
    definitions = load_definitions(tmp_path)
    assert definitions["bevolking_buurt"].min_cell_size == 15
    assert definitions["bevolking_kopie"].min_cell_size == 10
    assert set(definitions) == DEFAULT_MARTS | {"bevolking_kopie"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(colour="blue"), "unknown setting"),
        (lambda r: r["measures"][0]["dimensions"].append("buurtkleur"), "not declared"),
        (lambda r: r["inputs"]["buurtindeling"].remove("wijknaam"), "geography needs"),
        (lambda r: r.update(geography=["gemeente", "buurt"]), "finest to coarsest"),
        (lambda r: r.update(min_cell_size=0), "positive integer"),
        (lambda r: r["dimensions"]["geslacht"].update(values=["M", "totaal"]), "total level"),
        (lambda r: r.update(purpose="Kerncijfers!"), "purpose id"),
    ],
)
def test_invalid_definitions_are_refused(change, message):
    definition = raw("bevolking_buurt")
    change(definition)
    with pytest.raises(MartError, match=message):
        definition_from_dict(definition)


def test_a_measure_must_use_every_non_additive_dimension():
    definition = raw("wmo_wijk")
    definition["measures"][0]["dimensions"] = ["leeftijdsklasse"]
    with pytest.raises(MartError, match="non-additive dimension 'voorziening'"):
        definition_from_dict(definition)


def test_a_ratio_denominator_cannot_have_dimensions_the_numerator_lacks():
    definition = raw("bijstand_buurt")
    definition["ratios"][0].update(numerator="inwoners", denominator="ontvangers")
    with pytest.raises(MartError, match="denominator's dimensions"):
        definition_from_dict(definition)


def test_a_measure_may_say_it_counts_the_same_units_as_another_marts_measure(tmp_path: Path):
    [inwoners] = [m for m in load_definitions()["bijstand_buurt"].measures if m.same_as]
    assert (inwoners.name, inwoners.same_as) == ("inwoners", "bevolking_buurt.personen")

    text = (PACKAGED_DEFINITIONS / "bijstand_buurt.toml").read_text(encoding="utf-8")
    for wrong, message in (
        ("bevolking_buurt.onbekend", "no mart measure"),
        ("wmo_wijk.personen", "non-additive dimension 'voorziening'"),
        ("zonder_punt", "must be '<mart>.<measure>'"),
    ):
        (tmp_path / "bijstand_buurt.toml").write_text(
            text.replace('"bevolking_buurt.personen"', f'"{wrong}"'), encoding="utf-8"
        )
        with pytest.raises(MartError, match=message):
            load_definitions(tmp_path)
    # Cells are the same only where the shared dimensions have the same categories.
    (tmp_path / "bijstand_buurt.toml").write_text(
        text.replace('"65+", "onbekend"]', '"65+"]', 1), encoding="utf-8"
    )
    with pytest.raises(MartError, match="the same categories"):
        load_definitions(tmp_path)


def test_disclosure_settings_default_to_min_cell_size_and_group_disclosure_on_ratios():
    definitions = load_definitions()
    for definition in definitions.values():
        assert definition.protection_level == definition.min_cell_size == 10
    (ratio,) = definitions["bijstand_buurt"].ratios
    assert ratio.group_disclosure and ratio.min_denominator == 100
    assert definitions["stapeling_wijk"].measure("personen").group_disclosure == (
        "aantal_regelingen",
    )
    assert definitions["bevolking_buurt"].measure("personen").group_disclosure == ()


def test_protection_level_follows_min_cell_size_unless_set():
    definition = raw("bevolking_buurt")
    definition["min_cell_size"] = 15
    assert definition_from_dict(definition).protection_level == 15
    definition["protection_level"] = 5
    parsed = definition_from_dict(definition)
    assert (parsed.min_cell_size, parsed.protection_level) == (15, 5)


def test_group_disclosure_can_be_switched_off_on_a_ratio():
    definition = raw("bijstand_buurt")
    definition["ratios"][0]["group_disclosure"] = False
    assert not definition_from_dict(definition).ratios[0].group_disclosure


def first_measure(r: dict) -> dict:
    return r["measures"][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(protection_level=0), "protection_level must be a positive integer"),
        (lambda r: r.update(protection_level=2.5), "protection_level must be a positive integer"),
        (
            lambda r: first_measure(r).update(group_disclosure=["buurtkleur"]),
            "group_disclosure: 'buurtkleur' is not a dimension of it",
        ),
        (
            lambda r: first_measure(r).update(group_disclosure="geslacht"),
            "group_disclosure must be a list",
        ),
        (
            lambda r: first_measure(r).update(group_disclosure=["geslacht", "geslacht"]),
            "group_disclosure has duplicates",
        ),
    ],
)
def test_invalid_disclosure_settings_are_refused(change, message):
    definition = raw("bevolking_buurt")
    change(definition)
    with pytest.raises(MartError, match=message):
        definition_from_dict(definition)


def test_group_disclosure_needs_a_dimension_the_measure_uses():
    definition = raw("bijstand_buurt")
    definition["measures"][1]["group_disclosure"] = ["leefvorm"]
    with pytest.raises(MartError, match=r"inwoners\.group_disclosure: 'leefvorm' is not a dim"):
        definition_from_dict(definition)


def test_group_disclosure_needs_an_additive_dimension():
    definition = raw("wmo_wijk")
    definition["measures"][0]["group_disclosure"] = ["voorziening"]
    with pytest.raises(MartError, match="'voorziening' is not additive"):
        definition_from_dict(definition)


def test_a_ratios_group_disclosure_must_be_a_boolean():
    definition = raw("bijstand_buurt")
    definition["ratios"][0]["group_disclosure"] = "ja"
    with pytest.raises(MartError, match="group_disclosure must be true or false"):
        definition_from_dict(definition)


def test_stapeling_publishes_the_arrears_amount_as_a_sum_under_the_p_percent_rule():
    definition = definition_from_dict(raw("stapeling_wijk"))
    amount = definition.measure("huurachterstand_euro")
    assert (amount.kind, amount.dominance_p, amount.unit) == ("sum", 10, "euro")
    assert definition.measure("personen").kind == "count"
    assert "achterstand_bedrag" in definition.inputs["huurachterstand"]


def sum_measure(r: dict) -> dict:
    return r["measures"][1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: sum_measure(r).update(kind="magnitude"), r"kind must be one of \['count'"),
        (lambda r: sum_measure(r).update(dominance_p=0), "dominance_p must be a whole percent"),
        (lambda r: sum_measure(r).update(dominance_p=100), "dominance_p must be a whole perc"),
        (lambda r: sum_measure(r).update(dominance_p=True), "dominance_p must be a whole perc"),
        (lambda r: first_measure(r).update(dominance_p=10), "for kind = 'sum' only"),
        (
            lambda r: sum_measure(r).update(group_disclosure=["aantal_regelingen"]),
            "same_as and group_disclosure are for counts, not sums",
        ),
        (
            lambda r: r.update(ratios=[{"name": "gemiddeld", "numerator": "huurachterstand_euro",
                                        "denominator": "personen"}]),
            "a ratio is a share of counts",
        ),
        (lambda r: r.update(protection="cell_key"), "the cell key method protects counts only"),
    ],
)  # fmt: skip
def test_invalid_sum_settings_are_refused(change, message):
    definition = raw("stapeling_wijk")
    change(definition)
    with pytest.raises(MartError, match=message):
        definition_from_dict(definition)


def test_the_cell_key_method_is_chosen_per_mart_with_its_ptable():
    assert definition_from_dict(raw("bevolking_buurt")).protection == "suppression"
    definition = raw("incidenten_buurt_maand") | {"protection": "cell_key"}
    parsed = definition_from_dict(definition)
    assert (parsed.protection, parsed.ptable) == ("cell_key", "default")
    assert definition_from_dict(definition | {"ptable": "strenger"}).ptable == "strenger"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"protection": "ruis"}, "protection must be one of"),
        ({"ptable": "default"}, "for protection = 'cell_key' only"),
        ({"protection": "cell_key", "ptable": "../x"}, "must be lower-case"),
    ],
)
def test_a_bad_protection_setting_is_refused(change, message):
    with pytest.raises(MartError, match=message):
        definition_from_dict(raw("incidenten_buurt_maand") | change)


def test_cells_two_marts_share_need_the_same_protection(tmp_path):
    text = (PACKAGED_DEFINITIONS / "bevolking_buurt.toml").read_text(encoding="utf-8")
    (tmp_path / "bevolking_buurt.toml").write_text(
        'protection = "cell_key"\n' + text, encoding="utf-8"
    )
    with pytest.raises(MartError, match="cells two marts share need the same protection"):
        load_definitions(tmp_path)
