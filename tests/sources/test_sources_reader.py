import pytest

from udc.sources.contracts import load_contracts
from udc.sources.reader import MAX_LINE_BYTES, DeliveryRejected, parse_delivery

BIJSTAND = load_contracts()["bijstand"]
HEADER = b"bsn;regeling;leefvorm;ingangsdatum;einddatum"
ROW = b"123456782;PW;alleenstaand;20200101;"
BSN = "123456782"


def parse(data: bytes):
    return parse_delivery(data, BIJSTAND)


def rejected(data: bytes) -> DeliveryRejected:
    with pytest.raises(DeliveryRejected) as info:
        parse(data)
    assert BSN not in info.value.reason and BSN not in info.value.reden
    return info.value


def test_reads_by_contract_with_free_order_case_bom_and_crlf():
    data = (
        b"\xef\xbb\xbfLeefvorm;BSN;Extra;regeling;EINDDATUM;ingangsdatum\r\n"
        b"alleenstaand; 123456782 ;x;PW;;20200101\r\n"
        b"gehuwd_samenwonend;111222333;y;IOAW;20271231;20210101\r\n"
    )
    parsed = parse(data)
    assert parsed.frame.columns == [
        "leefvorm",
        "bsn",
        "regeling",
        "einddatum",
        "ingangsdatum",
        "line_number",
    ]
    assert parsed.frame.rows() == [
        ("alleenstaand", BSN, "PW", None, "20200101", 2),
        ("gehuwd_samenwonend", "111222333", "IOAW", "20271231", "20210101", 3),
    ]


def test_blank_lines_are_skipped_but_keep_line_numbers():
    parsed = parse(HEADER + b"\n" + ROW + b"\n\n" + ROW + b"\n\n")
    assert parsed.frame["line_number"].to_list() == [2, 4]
    assert parsed.blank_lines == 2


def test_quoted_fields_with_separator_and_newline_keep_physical_line_numbers():
    data = HEADER + b'\n"123456782";PW;"alleen\nstaand";20200101;\n' + ROW + b"\n"
    parsed = parse(data)
    assert parsed.frame["leefvorm"].to_list() == ["alleen\nstaand", "alleenstaand"]
    assert parsed.frame["line_number"].to_list() == [2, 4]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (HEADER + b"\n", "no data rows"),
        (HEADER + b"\n" + ROW + b"\x00\n", "binary"),
        (HEADER + b"\n" + ROW.replace(b"PW", b"P\xe9") + b"\n", "not UTF-8"),
        (HEADER.replace(b";", b",") + b"\n" + ROW.replace(b";", b",") + b"\n", "comma"),
        (HEADER.replace(b";leefvorm", b"") + b"\n123456782;PW;20200101;\n", "leefvorm"),
        (HEADER + b";BSN\n" + ROW + b";1\n", "repeats a column: bsn"),
        (HEADER + b"\n" + ROW + b"\n123456782;PW\n", "line 3"),
        (HEADER + b"\n" + ROW + b";extra\n", "line 2"),
        (HEADER + b"\n" + ROW + b"\n" + ROW[:14], "truncated"),
        (HEADER + b'\n"123456782;PW;alleenstaand;20200101;\n', "quotes"),
        (HEADER + b"\n" + ROW + b"x" * (MAX_LINE_BYTES + 1) + b"\n", "bytes long"),
    ],
)
def test_structurally_broken_files_are_rejected_without_echoing_values(data, fragment):
    error = rejected(data)
    assert fragment in error.reason
    assert error.reden


def test_unknown_duplicate_columns_are_not_named():
    error = rejected(HEADER + b";123456782;123456782\n" + ROW + b";1;2\n")
    assert "2 column name" in error.reason or "1 column name" in error.reason
