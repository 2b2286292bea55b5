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


@pytest.mark.parametrize("blank", [b"   ", b"\t", b" \t ", b"  \r"])
@pytest.mark.parametrize("quoted", [False, True], ids=["fast", "csv"])
def test_whitespace_only_lines_are_skipped_as_blank_and_keep_line_numbers(blank, quoted):
    first = b'"123456782";PW;alleenstaand;20200101;' if quoted else ROW
    parsed = parse(HEADER + b"\n" + first + b"\n" + blank + b"\n\n" + ROW + b"\n" + blank)
    assert parsed.frame["line_number"].to_list() == [2, 5]
    assert parsed.frame["bsn"].to_list() == [BSN, BSN]
    assert parsed.blank_lines == 3


@pytest.mark.parametrize("quoted", [False, True], ids=["fast", "csv"])
def test_whitespace_before_content_is_not_a_blank_line(quoted):
    first = b'"123456782";PW;alleenstaand;20200101;' if quoted else ROW
    error = rejected(HEADER + b"\n" + first + b"\n   123456782\n")
    assert "first on line 3 (1 fields)" in error.reason


def test_a_quoted_blank_field_alone_on_a_line_is_not_a_blank_line():
    error = rejected(HEADER + b"\n" + ROW + b'\n"   "\n')
    assert "first on line 3 (1 fields)" in error.reason


def test_a_file_of_header_and_whitespace_lines_has_no_data_rows():
    assert "no data rows" in rejected(HEADER + b"\n  \n\t\n").reason


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_old_mac_line_ends_are_rejected_as_such(bom):
    error = rejected(bom + (HEADER + b"\r" + ROW + b"\r" + ROW + b"\r"))
    assert error.reason == "the file uses CR (old Mac) line ends; the contract asks for LF or CRLF"
    assert error.reden == "het bestand gebruikt CR-regeleinden (oude Mac); lever aan met LF of CRLF"


@pytest.mark.parametrize("quoted", [False, True], ids=["fast", "csv"])
def test_cr_line_ends_among_lf_lines_are_named_instead_of_their_symptom(quoted):
    first = b'"123456782";PW;alleenstaand;20200101;' if quoted else ROW
    data = HEADER + b"\r\n" + first + b"\r\n" + ROW + b"\r" + ROW + b"\r\n"
    error = rejected(data)
    offset = data.index(ROW + b"\r" + ROW) + len(ROW)
    assert error.reason == (
        f"line 3 holds a CR line end without LF (offset {offset}); the contract asks for LF or CRLF"
    )
    assert f"regel 3 bevat een CR-regeleinde zonder LF (positie {offset})" in error.reden


def test_a_cr_that_breaks_no_line_is_left_to_the_quality_checks():
    parsed = parse(HEADER + b"\n" + ROW.replace(b";PW", b"\r;PW") + b"\r\r\n" + ROW + b"\n")
    assert parsed.frame["bsn"].to_list() == [BSN, BSN]
    assert parsed.frame["line_number"].to_list() == [2, 3]


def test_a_cr_inside_quotes_is_content_and_keeps_line_numbers():
    data = HEADER + b'\n"123456782";PW;"alleen\rstaand";20200101;\n' + ROW + b"\n"
    parsed = parse(data)
    assert parsed.frame["leefvorm"].to_list() == ["alleen\rstaand", "alleenstaand"]
    assert parsed.frame["line_number"].to_list() == [2, 3]


def test_a_cr_closing_the_last_line_is_accepted():
    parsed = parse(HEADER + b"\n" + ROW + b"\n" + ROW + b"\r")
    assert parsed.frame["line_number"].to_list() == [2, 3]
    assert parsed.frame["einddatum"].to_list() == [None, None]


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
        (HEADER + b"\r\n" + ROW + b"\r\n123456782;PW\r\n", "first on line 3"),
        (HEADER + b"\n" + ROW + b";extra\n", "line 2"),
        (HEADER + b"\n" + ROW + b"\n" + ROW[:14], "truncated"),
        (HEADER + b'\n"123456782;PW;alleenstaand;20200101;\n', "quotes"),
        (HEADER + b"\n" + ROW + b"x" * (MAX_LINE_BYTES + 1) + b"\n", "bytes long"),
        (HEADER + b"\r" + ROW + b"\r", "old Mac"),
        (HEADER + b"\r\n" + ROW + b"\r\r" + ROW + b"\r\n", "line 2 holds a CR"),
    ],
)
def test_structurally_broken_files_are_rejected_without_echoing_values(data, fragment):
    error = rejected(data)
    assert fragment in error.reason
    assert error.reden


def test_unknown_duplicate_columns_are_not_named():
    error = rejected(HEADER + b";123456782;123456782\n" + ROW + b";1;2\n")
    assert "2 column name" in error.reason or "1 column name" in error.reason
