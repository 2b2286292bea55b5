"""Everything a step needs from the workspace, opened once per process."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from udc.catalog.store import Catalog
from udc.marts.definitions import MartDefinition, columns_needed, load_definitions
from udc.marts.publish import MartStore
from udc.pseudonymize.keys import KeyStore, KeyStoreError, derive_domain_key, key_fingerprint
from udc.sources.contracts import Contract, load_contracts
from udc.sources.lake import Lake
from udc.workspace import Settings, Workspace

# One pseudonymisation domain for everything that must link across sources.
LINK_DOMAIN = "koppeling"


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

    @property
    def needed_columns(self) -> dict[str, set[str]]:
        """Per source, the columns the lake keeps: what marts read, and the cross-checks' keys.

        Cross-checks are a purpose of their own (data quality): they keep a source's link keys
        (the pseudonym, an address) even where no mart reads them.
        """
        needed = columns_needed(self.marts)
        for contract in self.contracts.values():
            for check in contract.cross_checks:
                needed.setdefault(contract.id, set()).update(check.columns)
                needed.setdefault(check.reference, set()).update(check.reference_columns)
        return needed

    def link_key(self) -> bytes:
        return derive_domain_key(self.keys.master_key(), LINK_DOMAIN)

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
    return Resources(
        workspace=workspace,
        settings=settings,
        catalog=Catalog(settings.database_url),
        contracts=load_contracts(settings.sources_config),
        marts=marts,
        lake=Lake(workspace.lake),
        store=MartStore(workspace.marts),
        keys=KeyStore(workspace.keys),
    )
