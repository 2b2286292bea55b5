"""Everything a step needs from the workspace, opened once per process."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from udc.catalog.register import packaged_purposes
from udc.catalog.store import Catalog
from udc.marts.definitions import MartDefinition, load_definitions, with_regio
from udc.marts.publish import MartStore
from udc.pseudonymize.keys import KeyStore, KeyStoreError, derive_domain_key, key_fingerprint
from udc.sources.contracts import Contract, load_contracts
from udc.sources.lake import Lake
from udc.workspace.layout import Settings, Workspace

# One pseudonymisation domain for everything that must link across sources.
LINK_DOMAIN = "koppeling"
# The processing log's own domain (access requests): its pseudonyms never match the lake's.
LOG_DOMAIN = "logboek"
# The cell key method's record keys: a unit's noise is computable only with the master key.
CELL_KEY_DOMAIN = "celsleutel"
# Who registered the packaged purposes, in the register's history.
DEFAULT_PURPOSES_BY = "udc (standaardconfiguratie)"


@dataclass(frozen=True)
class Resources:
    workspace: Workspace
    settings: Settings
    catalog: Catalog
    contracts: dict[str, Contract]
    marts: dict[str, MartDefinition]
    lake: Lake
    store: MartStore
    keys: KeyStore

    def allowed_columns(self) -> dict[str, set[str]]:
        """Per source, the columns the approved purposes in force today may use: the lake
        keeps these and no others, and a source none of them uses is not loaded at all.
        Data quality is a purpose of its own: its cross-checks keep a source's link keys
        (the pseudonym, an address) even where no mart reads them."""
        allowed: dict[str, set[str]] = {}
        for spec, _ in self.catalog.purposes_in_force(self.today()).values():
            for source, columns in spec.sources.items():
                allowed.setdefault(source, set()).update(columns)
        return allowed

    def link_key(self) -> bytes:
        return derive_domain_key(self.keys.master_key(), LINK_DOMAIN)

    def log_subject_key(self) -> bytes:
        return derive_domain_key(self.keys.master_key(), LOG_DOMAIN)

    def record_key(self) -> bytes:
        return derive_domain_key(self.keys.master_key(), CELL_KEY_DOMAIN)

    def fingerprint(self) -> str:
        return key_fingerprint(self.keys.master_key())

    def check_key(self) -> None:
        """Refuse to run with another master key than the lake was built with."""
        self.catalog.check_key(LINK_DOMAIN, self.fingerprint())

    def check_contracts(self) -> None:
        """Build every contract's checks once: a configured check GX does not know fails here,
        before any delivery is touched."""
        from udc.quality.suites import check_contract  # imports GX: only when validating

        for contract in self.contracts.values():
            check_contract(contract, self.today())

    def today(self) -> dt.date:
        return dt.datetime.now(ZoneInfo(self.settings.timezone)).date()


def init_workspace(workspace: Workspace) -> None:
    """Create folders, settings, keys and the catalog; never overwrite a key."""
    keys = KeyStore(workspace.keys)
    if keys.exists():
        raise KeyStoreError(
            f"{workspace.root} already holds keys; udc never overwrites a key (the lake would "
            "become unlinkable). Use this workspace as it is, or choose another folder."
        )
    workspace.create_folders()
    keys.create()
    Catalog(workspace.settings().database_url).close()


@functools.cache
def open_resources(root: Path) -> Resources:
    workspace = Workspace(root).require()
    settings = workspace.settings()
    # The workspace's minimum cell size is a floor: a mart may ask for more, never less.
    marts = {
        name: replace(d, min_cell_size=max(d.min_cell_size, settings.min_cell_size))
        for name, d in load_definitions(settings.marts_config).items()
    }
    if settings.regios:
        marts = {name: with_regio(d) for name, d in marts.items()}
    catalog = Catalog(settings.database_url)
    # A new workspace, or one from before the register: the default marts' purposes, so
    # the demo runs; the privacy officer withdraws or changes them with `udc purposes`.
    catalog.seed_purposes(packaged_purposes(), by=DEFAULT_PURPOSES_BY)
    return Resources(
        workspace=workspace,
        settings=settings,
        catalog=catalog,
        contracts=load_contracts(settings.sources_config),
        marts=marts,
        lake=Lake(workspace.lake),
        store=MartStore(workspace.marts),
        keys=KeyStore(workspace.keys),
    )
