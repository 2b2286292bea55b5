"""The workspace: folders, settings from ``udc.toml``, and where each kind of file lives."""

from __future__ import annotations

import fcntl
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

DEFAULT_SETTINGS = """\
# udc workspace settings. Paths are relative to this file's folder.

[catalog]
# SQLite by default; for production e.g. "postgresql+psycopg://udc@dbhost:5432/udc".
url = "sqlite:///catalog.db"

[paths]
inbox = "inbox"
# Extra or overriding configuration: contracts (*.toml; a data steward's checks in
# <name>.expectations.toml) and mart definitions (*.toml).
sources = "config/sources"
marts = "config/marts"

[marts]
# The smallest published count; a mart definition may set a higher one.
min_cell_size = 10

[schedule]
# When `udc serve` runs the nightly flow.
cron = "0 2 * * *"
timezone = "Europe/Amsterdam"

[retention]
# Months each kind of file is kept; the nightly run deletes what has expired and logs it.
# Lake data follow the purposes that use a source (their retention_months).
archive_months = 12        # encrypted raw deliveries, from receipt
quarantine_months = 3      # rejected deliveries, from receipt
mart_release_months = 24   # mart releases no longer current, from publication

[dashboards]
# The CBS wijk- en buurtkaart (GeoJSON or GeoPackage, RD New or WGS84, keyed by buurtcode,
# wijkcode and gemeentecode) for the maps of the dashboards in dashboards/. `udc generate`
# writes the synthetic city's outlines here. Without it the dashboards have no maps.
geometries = ["config/geo/wijkenbuurten.geojson"]

# A regional datalab: several municipalities in one workspace, each delivering files that
# name it (inbox/brp/brp_GM0200_20261201.csv), and a regio level above gemeente in every
# mart. A regio's figures are published only when all its members' deliveries passed.
# A gemeente is in one regio at most. `udc generate --scope regio` writes an example.
# [regios.RG0001]
# naam = "Datalab Regio Oost"
# gemeenten = ["GM0200", "GM0201"]

[execution]
# Where the nightly flow's tasks run: "threads" (in the flow's process), or "dask" (a
# dask.distributed cluster through Prefect's DaskTaskRunner): dask_workers local worker
# processes, or the running scheduler at dask_address, e.g. "tcp://10.0.0.5:8786"; its
# workers must reach this workspace at the same path (see docs/data-engineer.md).
runner = "threads"
dask_address = ""
dask_workers = 2

[prefect]
# Empty: `udc run` starts a temporary Prefect server. Set it (or PREFECT_API_URL) to use
# a running server, e.g. "http://127.0.0.1:4200/api".
api_url = ""
"""

RESTRICTED = ("keys", "lake", "quarantine", "archive", "inbox")
RUNNERS = ("threads", "dask")
FOLDERS = (
    "inbox", "quarantine", "archive", "lake", "marts", "dashboards", "feedback", "reports", "keys"
)


class WorkspaceError(RuntimeError):
    """The workspace is missing or misconfigured; the message says what to do."""


GEMEENTECODE = re.compile(r"^GM\d{4}$")
# A province (PV25), a COROP area (CR12) or a datalab's own code (RG0001): never one of the
# prefixes of buurt, wijk and gemeente, whose codes share the gebiedscode column.
REGIOCODE = re.compile(r"^(?!BU|WK|GM)[A-Z]{2}\d{2,4}$")


@dataclass(frozen=True)
class Regio:
    """A named set of gemeenten above the gemeente level (a datalab's members, a province)."""

    code: str
    naam: str
    gemeenten: tuple[str, ...]


def _regios(where: Path, raw: object) -> Mapping[str, Regio]:
    if not isinstance(raw, dict):
        raise WorkspaceError(f"{where}: [regios] must hold one [regios.<code>] table per regio")
    found: dict[str, Regio] = {}
    member_of: dict[str, str] = {}
    for code, entry in sorted(raw.items()):
        at = f"{where}: regios.{code}"
        if not REGIOCODE.match(code):
            raise WorkspaceError(
                f"{at}: a regio code is two capitals and 2 to 4 digits (e.g. PV25 or RG0001), "
                "not starting with BU, WK or GM"
            )
        if not isinstance(entry, dict) or set(entry) - {"naam", "gemeenten"}:
            raise WorkspaceError(f"{at} takes naam and gemeenten only")
        naam, gemeenten = entry.get("naam", code), entry.get("gemeenten")
        if not isinstance(naam, str) or not naam:
            raise WorkspaceError(f"{at}.naam must be a name")
        if (
            not isinstance(gemeenten, list)
            or not gemeenten
            or not all(isinstance(g, str) and GEMEENTECODE.match(g) for g in gemeenten)
        ):
            raise WorkspaceError(f"{at}.gemeenten must list gemeentecodes such as \"GM0200\"")
        for gemeente in gemeenten:
            if gemeente in member_of:
                raise WorkspaceError(
                    f"{at}: {gemeente} is already in regio {member_of[gemeente]}; a gemeente "
                    "is in one regio at most, or the regio totals would overlap"
                )
            member_of[gemeente] = code
        found[code] = Regio(code, naam, tuple(sorted(set(gemeenten))))
    return MappingProxyType(found)


@dataclass(frozen=True)
class Settings:
    database_url: str
    inbox: Path
    sources_config: Path
    marts_config: Path
    min_cell_size: int
    cron: str
    timezone: str
    prefect_api_url: str
    archive_months: int = 12
    quarantine_months: int = 3
    mart_release_months: int = 24
    geometries: tuple[Path, ...] = ()
    regios: Mapping[str, Regio] = field(default_factory=lambda: MappingProxyType({}))
    runner: str = "threads"
    dask_address: str = ""
    dask_workers: int = 2

    @property
    def members(self) -> tuple[str, ...]:
        """The gemeenten of the configured regios (none: a workspace of one municipality)."""
        return tuple(sorted(g for regio in self.regios.values() for g in regio.gemeenten))


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def resolve(cls, folder: Path | str | None) -> Workspace:
        chosen = folder or os.environ.get("UDC_WORKSPACE") or Path.cwd()
        return cls(Path(chosen).expanduser().resolve())

    @property
    def settings_file(self) -> Path:
        return self.root / "udc.toml"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def marts(self) -> Path:
        return self.root / "marts"

    @property
    def dashboards(self) -> Path:
        return self.root / "dashboards"

    @property
    def geometries_default(self) -> Path:
        """Where `udc generate` writes the synthetic city's outlines."""
        return self.root / "config" / "geo" / "wijkenbuurten.geojson"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dask_scratch(self) -> Path:
        """Where local Dask workers spill: task results may hold counts, so not in /tmp."""
        return self.root / ".dask"

    @property
    def counting_scratch(self) -> Path:
        """Where counting spills its per-person tables (pseudonymised, as the lake is)."""
        return self.root / ".counting"

    @property
    def prefect_home(self) -> Path:
        return self.root / ".prefect"

    def exists(self) -> bool:
        return self.settings_file.is_file()

    def require(self) -> Workspace:
        if not self.exists():
            raise WorkspaceError(
                f"{self.root} is not a udc workspace (no udc.toml); run `udc init` there first "
                "or pass --workspace"
            )
        return self

    def settings(self) -> Settings:
        self.require()
        try:
            raw = tomllib.loads(self.settings_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{self.settings_file}: {exc}") from None
        defaults = tomllib.loads(DEFAULT_SETTINGS)

        def get(section: str, key: str) -> object:
            return raw.get(section, {}).get(key, defaults[section][key])

        url = str(get("catalog", "url"))
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            url = f"sqlite:///{self.root / url.removeprefix('sqlite:///')}"
        min_cell_size = get("marts", "min_cell_size")
        if not isinstance(min_cell_size, int) or min_cell_size < 2:
            raise WorkspaceError(
                f"{self.settings_file}: marts.min_cell_size must be an integer >= 2"
            )
        months = {}
        for key in ("archive_months", "quarantine_months", "mart_release_months"):
            value = get("retention", key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise WorkspaceError(f"{self.settings_file}: retention.{key} must be months >= 0")
            months[key] = value
        geometries = get("dashboards", "geometries")
        if isinstance(geometries, str):
            geometries = [geometries]
        if not isinstance(geometries, list) or not all(isinstance(g, str) for g in geometries):
            raise WorkspaceError(
                f"{self.settings_file}: dashboards.geometries must be a list of file paths"
            )
        runner = get("execution", "runner")
        if runner not in RUNNERS:
            raise WorkspaceError(
                f"{self.settings_file}: execution.runner must be one of {list(RUNNERS)}"
            )
        address = get("execution", "dask_address")
        workers = get("execution", "dask_workers")
        if not isinstance(address, str) or (address and "://" not in address):
            raise WorkspaceError(
                f"{self.settings_file}: execution.dask_address must be a scheduler address "
                'such as "tcp://10.0.0.5:8786", or empty for local worker processes'
            )
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise WorkspaceError(f"{self.settings_file}: execution.dask_workers must be >= 1")
        return Settings(
            database_url=os.environ.get("UDC_DATABASE_URL", url),
            inbox=self.root / str(get("paths", "inbox")),
            sources_config=self.root / str(get("paths", "sources")),
            marts_config=self.root / str(get("paths", "marts")),
            min_cell_size=min_cell_size,
            cron=str(get("schedule", "cron")),
            timezone=str(get("schedule", "timezone")),
            prefect_api_url=os.environ.get("PREFECT_API_URL") or str(get("prefect", "api_url")),
            **months,
            geometries=tuple(self.root / g for g in geometries),
            regios=_regios(self.settings_file, raw.get("regios", {})),
            runner=str(runner),
            dask_address=os.environ.get("UDC_DASK_ADDRESS", address),
            dask_workers=workers,
        )

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Hold the workspace for one run; yields False when another run holds it."""
        with open(self.root / ".udc.lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def create_folders(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for name in FOLDERS:
            folder = self.root / name
            folder.mkdir(exist_ok=True)
            if name in RESTRICTED:
                folder.chmod(0o700)
        if not self.settings_file.exists():
            self.settings_file.write_text(DEFAULT_SETTINGS, encoding="utf-8")
