"""The register of processing purposes: specifications, and versions in the catalog on
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib

import pytest

from udc.catalog.register import (
    PACKAGED_PURPOSES,
    PurposeSpec,
    RegisterError,
    packaged_purposes,
    purpose_from_dict,
)
from udc.catalog.store import Catalog
from udc.marts.definitions import load_definitions


def raw(name: str = "minimabeleid") -> dict:
    return tomllib.loads((PACKAGED_PURPOSES / f"{name}.toml").read_text())


def test_the_packaged_purposes_cover_every_default_mart_and_its_inputs():
    purposes = {p.id: p for p in packaged_purposes()}
    assert set(purposes) == {
        "kerncijfers_bevolking", "minimabeleid", "wmo_monitor", "stapeling_sociaal_domein",
        "veiligheid", "datakwaliteit",
    }  # fmt: skip
    for mart in load_definitions().values():
        purpose = purposes[mart.purpose]
        assert mart.name in purpose.marts
        for source, columns in mart.inputs.items():
            assert set(columns) <= set(purpose.sources[source]), (mart.name, source)


def test_the_lake_keeps_only_what_the_purposes_allow_and_never_names():
    allowed: dict[str, set[str]] = {}
    for purpose in packaged_purposes():
        for source, columns in purpose.sources.items():
            allowed.setdefault(source, set()).update(columns)
    assert allowed["brp"] == {
        "pseudonym", "geboortedatum", "geslachtsaanduiding", "postcode", "huisnummer",
    }  # fmt: skip
    assert allowed["huurachterstand"] == {
        "pseudonym", "achterstand_maanden", "achterstand_bedrag", "postcode", "huisnummer",
    }  # fmt: skip
    assert allowed["politie_incidenten"] == {
        "registratienummer", "datum", "maatschappelijke_klasse", "postcode", "huisnummer",
    }  # fmt: skip
    assert "aanbieder_agb" not in allowed["wmo"]


def test_a_spec_survives_the_catalogs_json():
    spec = purpose_from_dict(raw() | {"valid_until": dt.date(2027, 12, 31)})
    assert PurposeSpec.from_json(spec.to_json()) == spec
    assert spec.expired(dt.date(2028, 1, 1)) and not spec.expired(dt.date(2027, 12, 31))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "Minima"}, "purpose id is lower-case"),
        ({"legal_basis": " "}, "legal_basis must be a non-empty text"),
        ({"data_subjects": []}, "data_subjects must be a non-empty list"),
        ({"retention_months": 0}, "retention_months must be a positive whole number"),
        ({"sources": {}}, "sources must map each source"),
        ({"sources": {"brp": ["pseudonym", "pseudonym"]}}, "names a column twice"),
        ({"valid_until": "eind 2027"}, "valid_until must be a date"),
        ({"bewaartermijn": "2 jaar"}, r"unknown field\(s\) \['bewaartermijn'\]"),
    ],
)
def test_a_purpose_without_what_article_30_asks_is_refused(change, message):
    with pytest.raises(RegisterError, match=message):
        purpose_from_dict(raw() | change)


def test_every_change_is_a_new_version_and_only_decided_versions_hold(database_url):
    catalog = Catalog(database_url)
    spec = purpose_from_dict(raw())
    day = dt.date(2026, 11, 29)
    catalog.add_purpose(spec, by="fg")
    assert catalog.purposes_in_force(day) == {}  # a draft holds nothing
    catalog.approve_purpose("minimabeleid", by="fg", note="DPIA akkoord")
    assert catalog.purposes_in_force(day)["minimabeleid"][0] == spec
    # A change awaits approval; the approved version holds meanwhile.
    changed = dataclasses.replace(spec, retention_months=12)
    catalog.add_purpose(changed, by="data-engineer")
    (held, row) = catalog.purposes_in_force(day)["minimabeleid"]
    assert (held.retention_months, row.version) == (24, 2)
    catalog.approve_purpose("minimabeleid", by="fg")
    assert catalog.purposes_in_force(day)["minimabeleid"][0].retention_months == 12
    catalog.withdraw_purpose("minimabeleid", by="fg", note="project beëindigd")
    assert catalog.purposes_in_force(day) == {}
    versions = catalog.purpose_versions("minimabeleid")
    assert [(v.version, v.status, v.changed_by) for v in versions] == [
        (1, "draft", "fg"), (2, "approved", "fg"), (3, "draft", "data-engineer"),
        (4, "approved", "fg"), (5, "withdrawn", "fg"),
    ]  # fmt: skip
    assert PurposeSpec.from_json(versions[1].spec).retention_months == 24  # still readable
    assert versions[1].note == "DPIA akkoord"
    catalog.close()


def test_register_changes_that_make_no_sense_are_refused(database_url):
    catalog = Catalog(database_url)
    spec = purpose_from_dict(raw())
    with pytest.raises(RegisterError, match="no purpose 'minimabeleid' in the register"):
        catalog.approve_purpose("minimabeleid", by="fg")
    catalog.add_purpose(spec, by="fg")
    with pytest.raises(RegisterError, match="version 1 \\(draft\\) is the same"):
        catalog.add_purpose(spec, by="fg")
    catalog.approve_purpose("minimabeleid", by="fg")
    with pytest.raises(RegisterError, match="version 2 is approved, not a draft"):
        catalog.approve_purpose("minimabeleid", by="fg")
    catalog.withdraw_purpose("minimabeleid", by="fg")
    with pytest.raises(RegisterError, match="withdrawn already"):
        catalog.withdraw_purpose("minimabeleid", by="fg")
    catalog.add_purpose(spec, by="fg")  # the same purpose may be proposed again
    assert catalog.purposes()[0].status == "draft"
    catalog.close()


def test_an_expired_purpose_no_longer_holds(database_url):
    catalog = Catalog(database_url)
    catalog.add_purpose(purpose_from_dict(raw() | {"valid_until": "2026-12-31"}), by="fg")
    catalog.approve_purpose("minimabeleid", by="fg")
    assert "minimabeleid" in catalog.purposes_in_force(dt.date(2026, 12, 31))
    assert catalog.purposes_in_force(dt.date(2027, 1, 1)) == {}
    catalog.close()


def test_the_default_purposes_are_seeded_approved_into_an_empty_register_only(database_url):
    catalog = Catalog(database_url)
    assert catalog.seed_purposes(packaged_purposes(), by="udc") == 6
    assert len(catalog.purposes_in_force(dt.date(2026, 11, 29))) == 6
    catalog.withdraw_purpose("veiligheid", by="fg")
    assert catalog.seed_purposes(packaged_purposes(), by="udc") == 0
    assert "veiligheid" not in catalog.purposes_in_force(dt.date(2026, 11, 29))
    catalog.close()
