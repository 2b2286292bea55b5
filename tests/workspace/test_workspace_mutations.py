"""Random damage to a valid delivery: the delivery step never crashes, loses or leaks.

Hypothesis mutates the bytes of a small valid synthetic delivery (lines deleted, doubled,
swapped, truncated, stray bytes, other separators, broken fields and quotes, bad BSNs,
extra columns, empty files) and feeds it through ``process_delivery``. Whatever arrives,
the call returns, the file leaves the inbox for quarantine (byte for byte) or the
encrypted archive, the source gets a feedback report, and no delivered BSN shows up in
the feedback, the lake, the catalog or the outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from udc.pseudonymize.keys import KeyStore
from udc.sources.synthetic import write_deliveries
from udc.workspace.ingest import DeliveryOutcome, process_delivery
from udc.workspace.layout import Workspace
from udc.workspace.resources import Resources, open_resources

SOURCES = ("brp", "bijstand", "politie_incidenten")
BSN_COLUMNS = {"brp": "burgerservicenummer", "bijstand": "bsn"}
ROWS = 30
BOM = b"\xef\xbb\xbf"
PROCESSED = ("accepted", "accepted_with_warnings")
# Digit runs a BSN column can hold: a BSN, or one that lost its leading zero.
BSN_LIKE = re.compile(rb"^\d{8,9}$")
FIRST_PEILDATUM = dt.date(2001, 1, 1)
# Each example gets its own peildatum so that no delivery replaces an earlier one; the
# modulus keeps every peildatum in the past however many examples run.
_days = itertools.count()
PEILDATUM_SPAN = 9000

STRAY_BYTES = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\x85",
    BOM,
    b"\r",
    b"\r\n",
    b"\n",
    b";",
    b'"',
    b"\x1a",
    "\u2028".encode(),
    "é".encode(),
    b"\t",
]

_index = st.integers(min_value=0, max_value=10_000)
_field_text = st.text(max_size=12)
MUTATION = st.one_of(
    st.tuples(st.just("delete_line"), _index),
    st.tuples(st.just("duplicate_line"), _index),
    st.tuples(st.just("swap_lines"), _index, _index),
    st.tuples(st.just("truncate"), st.integers(min_value=0, max_value=1 << 20)),
    st.tuples(
        st.just("insert"),
        st.integers(min_value=0, max_value=1 << 20),
        st.one_of(st.sampled_from(STRAY_BYTES), st.binary(min_size=1, max_size=8)),
    ),
    st.tuples(st.just("delimiter"), _index, st.sampled_from([b",", b"\t", b"|", b"; ", b";;"])),
    st.tuples(st.just("blank_field"), _index, _index),
    st.tuples(st.just("garble_field"), _index, _index, _field_text),
    st.tuples(st.just("drop_header")),
    st.tuples(st.just("duplicate_header"), _index),
    st.tuples(
        st.just("quote_field"),
        _index,
        _index,
        st.sampled_from(["wrap", "open", "inner", "escaped"]),
    ),
    st.tuples(st.just("bsn_short"), _index),
    st.tuples(st.just("bsn_check"), _index),
    st.tuples(st.just("extra_column"), st.one_of(st.none(), _index), _field_text),
    st.tuples(st.just("empty"), st.sampled_from([b"", b"\n", b" \r\n\t", BOM, BOM + b"\n"])),
    st.tuples(st.just("crlf")),
    st.tuples(st.just("bom")),
    st.tuples(st.just("header_only")),
)


def _lines(data: bytes) -> list[bytes]:
    return re.findall(rb"[^\n]*\n|[^\n]+$", data)


def _split(line: bytes) -> tuple[list[bytes], bytes]:
    body = line.rstrip(b"\r\n")
    return body.split(b";"), line[len(body) :]


def _edit_field(data: bytes, line: int, column: int, change: Callable[[bytes], bytes]) -> bytes:
    lines = _lines(data)
    if not lines:
        return data
    i = line % len(lines)
    fields, end = _split(lines[i])
    j = column % len(fields)
    fields[j] = change(fields[j])
    lines[i] = b";".join(fields) + end
    return b"".join(lines)


def _data_line(data: bytes, index: int) -> int:
    """A line after the header when there is one, so BSN damage hits a BSN."""
    count = len(_lines(data))
    return 1 + index % (count - 1) if count > 1 else 0


def _bsn_column(header: bytes, source: str) -> int | None:
    names = [n.strip().strip(b'"').decode() for n in header.rstrip(b"\r\n").split(b";")]
    column = BSN_COLUMNS.get(source)
    return names.index(column) if column in names else None


def _short(value: bytes) -> bytes:
    return value[:-1] if len(value) > 1 else b"12345678"


def _failing_check(value: bytes) -> bytes:
    # Changing only the last digit always breaks the 11-check: the sum moves by 1 or -9.
    if value[-1:].isdigit():
        return value[:-1] + str((int(value[-1:]) + 1) % 10).encode()
    return value + b"0"


def mutate(data: bytes, mutation: tuple, bsn_column: int | None) -> bytes:
    """Apply one mutation; its indexes wrap around, so every drawn mutation applies and
    Hypothesis shrinks towards the first line, field and byte."""
    kind, *args = mutation
    lines = _lines(data)
    n = len(lines)
    if kind == "delete_line" and n:
        del lines[args[0] % n]
    elif kind == "duplicate_line" and n:
        i = args[0] % n
        lines.insert(i, lines[i] if lines[i].endswith(b"\n") else lines[i] + b"\n")
    elif kind == "swap_lines" and n:
        i, j = args[0] % n, args[1] % n
        if not lines[-1].endswith(b"\n"):
            lines[-1] += b"\n"
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "truncate":
        return data[: args[0] % (len(data) + 1)]
    elif kind == "insert":
        at = args[0] % (len(data) + 1)
        return data[:at] + args[1] + data[at:]
    elif kind == "delimiter" and n:
        i = args[0] % n
        lines[i] = lines[i].replace(b";", args[1])
    elif kind == "blank_field":
        return _edit_field(data, args[0], args[1], lambda _: b"")
    elif kind == "garble_field":
        return _edit_field(data, args[0], args[1], lambda _: args[2].encode())
    elif kind == "drop_header" and n:
        del lines[0]
    elif kind == "duplicate_header" and n:
        header = lines[0] if lines[0].endswith(b"\n") else lines[0] + b"\n"
        lines.insert(args[0] % (n + 1), header)
    elif kind == "quote_field":
        wrap = {
            "wrap": lambda v: b'"' + v + b'"',
            "open": lambda v: b'"' + v,
            "inner": lambda v: v + b'"x',
            "escaped": lambda v: b'"' + v + b'""x"',
        }[args[2]]
        return _edit_field(data, args[0], args[1], wrap)
    elif kind in ("bsn_short", "bsn_check") and bsn_column is not None:
        change = _short if kind == "bsn_short" else _failing_check
        return _edit_field(data, _data_line(data, args[0]), bsn_column, change)
    elif kind == "extra_column" and n:
        chosen = range(n) if args[0] is None else [args[0] % n]
        for i in chosen:
            fields, end = _split(lines[i])
            lines[i] = b";".join([*fields, args[1].encode()]) + end
    elif kind == "empty":
        return args[0]
    elif kind == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    elif kind == "bom":
        return BOM + data
    elif kind == "header_only" and n:
        return lines[0]
    return b"".join(lines)


class Delivered(bytes):
    """Delivered bytes that a failing test shows by size only: they hold BSNs."""

    def __repr__(self) -> str:
        return f"Delivered({len(self)} bytes)"


class Bsns(set):
    """Delivered BSNs that a failing test shows by count only."""

    def __repr__(self) -> str:
        return f"Bsns({len(self)})"


def delivered_bsns(data: bytes, bsn_column: int | None) -> Bsns:
    """Every BSN-like value in the BSN column of the delivered (damaged) file."""
    found = Bsns()
    if bsn_column is None:
        return found
    for line in _lines(data):
        fields, _ = _split(line)
        if bsn_column < len(fields):
            value = fields[bsn_column].strip().strip(b'"').strip()
            if BSN_LIKE.match(value):
                found.add(value)
    return found


def assert_no_bsn(text: bytes, bsns: set[bytes], where: str) -> None:
    """No value of ``bsns`` occurs in ``text`` as a whole digit run.

    Only a count reaches the assertion, and this frame (whose ``text`` may hold the BSN)
    is left out of the traceback, so a failure never prints a BSN.
    """
    __tracebackhide__ = True
    found = len(set(re.findall(rb"\d+", text)) & bsns)
    assert found == 0, f"{found} delivered BSN(s) in {where}"


class Setup:
    """The module's workspace, catalog run and valid files; a failure report names the root.

    A plain class, not a dataclass: Hypothesis prints a dataclass field by field.
    """

    def __init__(self, res: Resources, run_id: str, valid: dict[str, Delivered]) -> None:
        self.res, self.run_id, self.valid = res, run_id, valid

    def __repr__(self) -> str:
        return f"Setup({self.res.workspace.root})"


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    root = tmp_path_factory.mktemp("mutations") / "ws"
    workspace = Workspace(root)
    workspace.create_folders()
    catalog = root / "catalog.db"
    workspace.settings_file.write_text(
        workspace.settings_file.read_text().replace(
            'url = "sqlite:///catalog.db"', f'url = "sqlite:///{catalog}"'
        )
    )
    KeyStore(workspace.keys).create()
    res = open_resources(workspace.root)
    generated = tmp_path_factory.mktemp("generated")
    files = {p.parent.name: p for p in write_deliveries(generated, 2000, 11, dt.date(2026, 10, 1))}
    valid = {
        source: Delivered(b"".join(_lines(files[source].read_bytes())[: ROWS + 1]))
        for source in SOURCES
    }
    return Setup(res, res.catalog.start_run(None), valid)


def deliver(res, source: str, name: str, data: bytes) -> Path:
    path = res.settings.inbox / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def check_delivery(setup: Setup, source: str, data: Delivered, bsns: Bsns) -> DeliveryOutcome:
    """Deliver ``data`` and assert everything that must hold, whatever the bytes were."""
    res = setup.res
    peildatum = FIRST_PEILDATUM + dt.timedelta(days=next(_days) % PEILDATUM_SPAN)
    name = f"{source}_{peildatum:%Y%m%d}.csv"
    path = deliver(res, source, name, data)
    digest = hashlib.sha256(data).hexdigest()

    outcome = process_delivery(res, path, setup.run_id)

    status = outcome.status
    assert status in (*PROCESSED, "quarantined", "duplicate"), status
    assert not path.exists(), f"{status}: the file is still in the inbox"
    assert_no_bsn(outcome.message.encode(), bsns, f"the outcome message ({status})")
    if status == "duplicate":
        return outcome
    if status == "quarantined":
        folder = res.workspace.quarantine / source
        stored = [p for p in (folder / name, folder / f"{name}.{digest[:12]}") if p.is_file()]
        kept = next((p for p in stored if p.read_bytes() == data), None)
        assert kept is not None, "the quarantined file differs or is lost"
        reason = kept.with_name(f"{kept.name}.reason.txt")
        assert reason.is_file(), "no reason file beside the quarantined file"
        assert_no_bsn(reason.read_bytes(), bsns, "the reason file")
    else:
        archived = list((res.workspace.archive / source).glob(f"{name}.*.enc"))
        assert archived, f"{status}: not in the archive"
        assert all(data not in p.read_bytes() for p in archived), "archive holds plain text"
        lake = res.lake.path(source, peildatum)
        assert lake.is_file(), f"{status}: no lake dataset"
        assert_no_bsn(lake.read_bytes(), bsns, "the lake file")
        frame = pl.read_parquet(lake)
        text = frame.select(pl.all().cast(pl.String)).write_csv().encode()
        assert_no_bsn(text, bsns, "the lake data")
    feedback = res.workspace.feedback / source
    for suffix in (".html", ".csv"):
        report = feedback / f"{source}_{peildatum:%Y%m%d}{suffix}"
        assert report.is_file(), f"{status}: no feedback {suffix}"
        assert_no_bsn(report.read_bytes(), bsns, f"the feedback {suffix} ({status})")
    recorded = [d for d in res.catalog.deliveries(source) if d.sha256 == digest]
    assert recorded, f"{status}: not in the catalog"
    catalogued = " ".join(str(v) for d in recorded for v in vars(d).values()).encode()
    assert_no_bsn(catalogued, bsns, "the catalog")
    return outcome


@pytest.mark.parametrize("source", SOURCES)
def test_the_valid_delivery_is_accepted(setup, source):
    data = setup.valid[source]
    bsns = delivered_bsns(data, _bsn_column(_lines(data)[0], source))
    if source in BSN_COLUMNS:
        assert len(bsns) >= ROWS - 2
    outcome = check_delivery(setup, source, data, bsns)
    assert outcome.status in PROCESSED
    assert outcome.rows == ROWS


@pytest.mark.parametrize("source", SOURCES)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_a_damaged_delivery_is_never_lost_crashed_on_or_leaked(setup, source, mutations):
    data = setup.valid[source]
    bsn_column = _bsn_column(_lines(data)[0], source)
    bsns = delivered_bsns(data, bsn_column)
    for mutation in mutations:
        data = mutate(data, mutation, bsn_column)
        bsns |= delivered_bsns(data, bsn_column)
    outcome = check_delivery(setup, source, Delivered(data), bsns)
    event(f"status: {outcome.status}")
