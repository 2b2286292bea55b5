"""The site in a real browser: Debian's Chromium, headless, driven by playwright.

Screenshots go to ``test-artifacts/dashboards/`` (or ``$UDC_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from udc.dashboards.geometries import read_areas
from udc.dashboards.site import build_site

CHROMIUM = Path(os.environ.get("UDC_CHROMIUM", "/usr/bin/chromium"))
REPOSITORY = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("UDC_TEST_ARTIFACTS", REPOSITORY / "test-artifacts"))


@pytest.fixture(scope="module")
def site(published, buurt_outlines, tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    return build_site(published.store, folder / "dashboards", read_areas([buurt_outlines]))


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


class Opened:
    """A page with everything it asked the network for and everything it logged."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 1300})
        self.requests: list[str] = []
        self.messages: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    def external(self) -> list[str]:
        return [url for url in self.requests if not url.startswith("file://")]

    def shot(self, name: str) -> None:
        ARTIFACTS.joinpath("dashboards").mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / "dashboards" / f"{name}.png", full_page=True)


def _rendered(opened: Opened, times: int = 1) -> None:
    opened.page.wait_for_function(f"Number(document.body.dataset.renders || 0) >= {times}")


def test_the_index_and_every_page_load_offline_and_log_nothing(site, browser):
    index = Opened(browser, site.index)
    links = index.page.locator("table.index a[href$='.html']")
    assert links.count() == len(site.pages) == 2
    index.shot("index")
    for built in site.pages:
        opened = Opened(browser, built.page)
        _rendered(opened)
        opened.shot(built.mart)
        assert opened.external() == [] and opened.messages == [], built.mart
    assert index.external() == [] and index.messages == []


def test_the_map_has_a_shape_per_buurt_and_another_measure_redraws_it(site, browser):
    page = next(p for p in site.pages if p.mart == "bijstand_buurt")
    opened = Opened(browser, page.page)
    _rendered(opened)
    assert opened.page.locator("#niveau").input_value() == "buurt"
    assert opened.page.locator("#kaart path.choroplethlocation").count() == 4

    def drawn() -> dict:
        return opened.page.evaluate("""() => {
            const traces = document.getElementById('kaart').data;
            return {shown: traces[0].locations, z: traces[0].z, hidden: traces[1].locations,
                    title: document.getElementById('kaart-titel').textContent};
        }""")

    before = drawn()
    opened.page.select_option("#maat", "inwoners")
    _rendered(opened, 2)
    after = drawn()
    assert after["title"].startswith("Inwoners") and before["title"].startswith("Ontvangers")
    assert (after["shown"], after["z"]) != (before["shown"], before["z"])
    assert opened.page.locator("#kaart path.choroplethlocation").count() == 4
    opened.page.select_option("#niveau", "wijk")
    _rendered(opened, 3)
    assert opened.page.locator("#kaart path.choroplethlocation").count() == 2
    opened.shot("bijstand_buurt-inwoners-wijken")
    assert opened.messages == []


def test_hidden_cells_show_as_geheim_and_never_as_a_number(site, browser):
    page = next(p for p in site.pages if p.mart == "bevolking_buurt")
    opened = Opened(browser, page.page)
    _rendered(opened)
    renders = 1
    seen = 0
    for age in ("0-14", "15-24", "25-44", "45-64", "65+"):
        opened.page.select_option("#dim-leeftijdsklasse", age)
        renders += 1
        _rendered(opened, renders)
        hidden = opened.page.evaluate("() => document.getElementById('kaart').data[1]")
        secret = opened.page.locator("#tabel .geheim")
        assert secret.count() == len(hidden["locations"])
        for i in range(secret.count()):
            text = secret.nth(i).inner_text()
            assert text == "geheim" and not re.search(r"\d", text)
            assert "kleiner dan 10" in secret.nth(i).get_attribute("title")
        if hidden["locations"]:
            seen += len(hidden["locations"])
            assert "geheim" in hidden["hovertemplate"]
            # The hidden shapes are grey, whatever their (unpublished) value.
            assert set(hidden["colorscale"][0][1:]) == {"#b8b8b8"}
            opened.shot(f"bevolking_buurt-{age}")
    assert seen > 0
    # The chart over categories labels a hidden category geheim instead of drawing a bar.
    opened.page.select_option("#dim-leeftijdsklasse", "totaal")
    opened.page.select_option("#gebied", "BU99990102")  # Vijver, five residents
    _rendered(opened, renders + 2)
    bars = opened.page.evaluate("""() => {
        const chart = document.getElementById('categorieen');
        return {y: chart.data[0].y, notes: chart.layout.annotations.map((a) => a.text)};
    }""")
    assert bars["notes"] and set(bars["notes"]) == {"geheim"}
    assert all(v is None or v == 0 or v >= 10 for v in bars["y"])
    opened.shot("bevolking_buurt-vijver")
    assert opened.messages == []
