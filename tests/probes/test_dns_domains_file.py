"""`--domains FILE`: one domain a line or a CSV with a domain column, checked line by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovscan.errors import ConfigError
from sovscan.probes.dns import DomainsFile, normalize_domain, read_domains_file


def write(tmp_path: Path, text: str, name: str = "domains.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_one_domain_a_line_with_comments_idn_trailing_dots_and_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# institutions\nUniversite.Example.\n\n  cégep.example  \nuniversite.example\n"
        "xn--cgep-bpa.example\nhostile.example  # kept: a comment after the domain\n",
    )
    assert read_domains_file(path) == DomainsFile(
        ("universite.example", "xn--cgep-bpa.example", "hostile.example")
    )


def test_csv_with_a_domain_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'name,domain,notes\n"Université, Exemple",universite.example,x\nCégep,cégep.example,\n',
        "domains.csv",
    )
    assert read_domains_file(path) == DomainsFile(
        ("universite.example", "xn--cgep-bpa.example"),
        (("universite.example", "Université, Exemple"), ("xn--cgep-bpa.example", "Cégep")),
    )


def test_a_single_domain_column_header_is_not_a_domain(tmp_path: Path) -> None:
    read = read_domains_file(write(tmp_path, "domain\nfaculte.example\n"))
    assert read == DomainsFile(("faculte.example",))


def test_a_french_excel_csv_with_semicolons_a_bom_and_french_headers(tmp_path: Path) -> None:
    # French Excel writes "CSV UTF-8" with a byte order mark, ';' between cells (',' is its
    # decimal mark), and the auditor's own French headers. It failed at line 1 as no domain.
    path = tmp_path / "organismes.csv"
    path.write_bytes(
        "\ufeffNom;Domaine;Région\n"
        "Centre de services scolaire des Cèdres, ouest;cssdescedres.example;Montérégie\n"
        "Ville de Québec;québec.example;Capitale-Nationale\n"
        "Doublon;CSSDESCEDRES.example.;\n".encode()
    )
    assert read_domains_file(path) == DomainsFile(
        ("cssdescedres.example", "xn--qubec-csa.example"),
        (
            ("cssdescedres.example", "Centre de services scolaire des Cèdres, ouest"),
            ("xn--qubec-csa.example", "Ville de Québec"),
        ),
    )


@pytest.mark.parametrize(
    ("header", "found"),
    [
        ("Organisme,Site web", "Organisme, Site web"),
        ("organisme;site", "organisme, site"),
        ('"Nom, complet";Adresse;URL', "Nom, complet, Adresse, URL"),
    ],
)
def test_a_csv_header_without_a_domain_column_says_so(
    tmp_path: Path, header: str, found: str
) -> None:
    path = write(tmp_path, f"# bodies audited\n{header}\nBoard A,a.example\n", "fr.csv")
    with pytest.raises(ConfigError) as caught:
        read_domains_file(path)
    assert str(caught.value) == f"{path}:2: a CSV needs a 'domain' column; found columns {found}"


def test_a_headerless_line_with_a_comma_is_still_a_bad_domain_line(tmp_path: Path) -> None:
    # A cell is a domain: this is no header, so the line is reported as the bad line it is.
    path = write(tmp_path, "a.example,Board A\n")
    with pytest.raises(ConfigError, match=r":1: expected a domain name such as universite"):
        read_domains_file(path)


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        ("ok.example\nnot a domain\n", 2, "'not a domain'"),
        ("ok.example\n\nlocalhost\n", 3, "'localhost'"),
        ("-bad.example\n", 1, "'-bad.example'"),
        ("a" * 300 + ".example\n", 1, "'" + "a" * 77 + "...'"),
        ("domain,x\nok.example,1\nbad_name.example,2\n", 3, "'bad_name.example'"),
    ],
)
def test_an_invalid_line_names_the_file_and_line(
    tmp_path: Path, text: str, line: int, shown: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_domains_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: expected a domain name such as universite.example;")
    assert shown in message
    assert "\n" not in message


def test_a_csv_row_without_the_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name,domain\nonly-a-name\n")
    with pytest.raises(ConfigError, match=r":2: expected a 'domain' column; got 1 cells"):
        read_domains_file(path)


def test_a_csv_row_with_an_empty_domain_cell_is_an_error(tmp_path: Path) -> None:
    # A school board listed without its domain would otherwise be left out of the scan silently.
    path = write(tmp_path, "name,domain\nBoard A,a.example\nBoard B,  \nBoard C,c.example\n")
    with pytest.raises(ConfigError) as caught:
        read_domains_file(path)
    assert str(caught.value) == (
        f"{path}:3: the 'domain' cell is empty; expected a domain name such as "
        "universite.example (or remove the row)"
    )


def test_a_csv_cell_past_the_csv_modules_limit_is_one_line(tmp_path: Path) -> None:
    # csv.Error (a field over 131,072 characters, as a pasted blob makes) was an internal error.
    path = write(tmp_path, f'domain,name\na.example,A\nb.example,"{"x" * 200_000}"\n')
    with pytest.raises(ConfigError) as caught:
        read_domains_file(path)
    assert str(caught.value) == (
        f"{path}:3: not a CSV row sovscan can read (field larger than field limit (131072))"
    )


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the domains file"):
        read_domains_file(tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9.example\n")
    with pytest.raises(ConfigError, match=r"cannot read the domains file"):
        read_domains_file(tmp_path / "latin1.txt")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.ORG.", "example.org"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("example", None),
        ("a..example", None),
        ("", None),
        ("\u0000.example", None),
    ],
)
def test_normalize_domain(value: str, expected: str | None) -> None:
    assert normalize_domain(value) == expected
