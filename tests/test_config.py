"""The inventory file: the documented shape parses, and every bad value is one precise line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sovscan.config import load_config
from sovscan.errors import ConfigError
from tests.conftest import REPO

GOOD = """
[institution]
name = "Université Exemple"
home = "CA-QC"
allowed_locations = ["CA-QC", "CA"]
default_classification = "personal"

[[aws]]
profile = "audit"
regions = ["ca-central-1", "us-east-1"]

[[aws]]
role_arn = "arn:aws:iam::123456789012:role/sovscan-audit"
regions = "all"

[dns]
domains = ["universite.example", "Université.example.", "universite.example"]

[[saas]]
name = "LMS"
url = "https://lms.universite.example"
classification = "personal"
"""


INSTITUTION = '[institution]\nname = "X"\nhome = "CA"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sovscan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_documented_shape_parses(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.policy.institution == "Université Exemple"
    assert config.policy.home == "CA-QC"
    assert config.policy.allowed_locations == ("CA-QC", "CA")
    assert config.policy.home_jurisdictions == ("CA-QC", "CA")
    assert config.aws[0].profile == "audit"
    assert config.aws[0].regions == ("ca-central-1", "us-east-1")
    assert config.aws[1].regions is None  # "all"
    # IDN to punycode, trailing dot dropped, duplicates removed, order kept
    assert config.domains == ("universite.example", "xn--universit-j4a.example")
    assert config.saas[0].host == "lms.universite.example"
    assert config.saas[0].classification == "personal"


def test_example_file_in_repo_is_valid() -> None:
    config = load_config(REPO / "sovscan.example.toml")
    assert config.policy.home == "CA-QC"
    assert config.domains


def test_defaults_when_optional_keys_are_missing(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[institution]\nname = "X"\nhome = "FR"\n'))
    assert config.policy.allowed_locations == ("FR",)
    assert config.policy.home_jurisdictions == ("FR", "EU")
    assert config.policy.default_classification == "personal"
    assert config.aws == () and config.domains == () and config.saas == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[institution]\nname = "X"\nhome = "Quebec"\n', "institution.home: expected an ISO 3166"),
        ('[institution]\nname = "X"\nhome = "ZZ"\n', "institution.home: expected an ISO 3166"),
        ('[institution]\nhome = "CA"\n', "institution.name: missing; it is required: a non-empty"),
        ("[dns]\ndomains = []\n", "institution: missing; it is required: a [institution] table"),
        (
            '[institution]\nname = "X"\nhome = "CA"\nallowed_locations = "CA"\n',
            "institution.allowed_locations: expected a list of strings",
        ),
        (
            '[institution]\nname = "X"\nhome = "CA"\ncolour = "red"\n',
            "institution.colour: unknown key; expected one of",
        ),
        (
            '[institution]\nname = "X"\nhome = "CA"\n[[aws]]\nregions = ["Montreal"]\n',
            "aws[0].regions[0]: expected an AWS region name",
        ),
        (
            '[institution]\nname = "X"\nhome = "CA"\n[[aws]]\nrole_arn = "admin"\n',
            "aws[0].role_arn: expected an IAM role ARN",
        ),
        (
            '[institution]\nname = "X"\nhome = "CA"\n[dns]\ndomains = ["not a domain"]\n',
            "dns.domains[0]: expected a valid domain name",
        ),
        (
            '[institution]\nname = "X"\nhome = "CA"\n[[saas]]\nname = "A"\nurl = "ftp://x.example"\n',
            "saas[0].url: expected an http(s) URL",
        ),
        (
            (
                '[institution]\nname = "X"\nhome = "CA"\n[[saas]]\nname = "A"\n'
                'url = "https://a.example"\nclassification = "Top Secret!"\n'
            ),
            "saas[0].classification: expected a classification label",
        ),
        ('[institution\nname = "X"\n', "invalid TOML"),
        # The value of a bad secret was quoted back on stderr, which CI logs keep.
        (
            f'{INSTITUTION}[[aws]]\nexternal_id = "Zx9-s3cr3t{"b" * 600}"\n',
            "aws[0].external_id: expected a non-empty string of at most 512 characters; "
            + "got a text of 610 characters (not shown: it is a secret)",
        ),
        (
            f'{INSTITUTION}[[aws]]\nexternal_id = ["Zx9-s3cr3t"]\n',
            "got a list (not shown: it is a secret)",
        ),
        (
            f'{INSTITUTION}[[aws]]\nmember_external_id = {{ a = "Zx9-s3cr3t" }}\n',
            "member_external_id: expected a non-empty string",
        ),
        (
            f'{INSTITUTION}[[saas]]\nname="L"\nurl = "https://l.example/?t=Zx9-s3cr3t{"a" * 600}"',
            "saas[0].url: expected a non-empty string of at most 512 characters; "
            + "got 'https://l.example/'",
        ),
        # tomllib recurses per level: a deep array was an internal error, exit 4.
        ('[institution]\nname = "X"\nx = ' + "[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ('[institution]\nname = "X"\nx = ' + "{a=" * 50_000 + "1" + "}" * 50_000, "too deeply"),
    ],
)
def test_bad_values_fail_with_one_line_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message
    assert "Zx9-s3cr3t" not in message  # a secret is named, never shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[institution]\nname = "X"\n',
            (
                "institution.home: missing; it is required: an ISO 3166-1 or 3166-2 code such "
                "as 'CA', 'FR', 'CA-QC' or 'DE-BY'"
            ),
        ),
        (
            '[institution]\nname = "X"\nhome = "CA"\n[[saas]]\nname = "A"\n',
            "saas[0].url: missing; it is required: ",
        ),
    ],
)
def test_a_missing_required_key_says_it_is_required(
    tmp_path: Path, text: str, expected: str
) -> None:
    # Not "got 'nothing'": the file wrote nothing, and 'nothing' in quotes reads as a value.
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "nothing" not in str(info.value)


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the inventory file"):
        load_config(tmp_path / "missing.toml")
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[institution]\nname = "Universit\xe9"\n')
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(path)


def test_profile_waivers_and_rule_dirs(tmp_path: Path) -> None:
    (tmp_path / "our-rules").mkdir()
    text = (
        '[institution]\nname = "X"\nhome = "CA-QC"\nprofile = "quebec-law25"\n'
        'allowed_locations = ["CA"]\n'
        '[rules]\ndirs = ["our-rules"]\n'
        '[[waivers]]\nasset = "aws:123456789012:s3:research-data"\nreason = "TIA-7"\n'
        'owner = "dpo@x.example"\nexpires = 2027-06-30\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.profile == "quebec-law25"
    assert config.policy_overrides == frozenset({"allowed_locations"})
    assert config.rule_dirs == (tmp_path / "our-rules",)
    (waiver,) = config.waivers
    assert waiver.asset == "aws:123456789012:s3:research-data"
    assert waiver.expires.isoformat() == "2027-06-30"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[rules]\ndirs = ["missing"]\n', "rules.dirs[0]: expected an existing folder"),
        ('[[waivers]]\nasset = "a"\nowner = "o"\nexpires = 2027-01-01\n', "waivers[0].reason"),
        (
            '[[waivers]]\nasset = "aws:*"\nreason = "r"\nowner = "o"\nexpires = 2027-01-01\n',
            "waivers[0].asset: expected an exact asset id",
        ),
        (
            '[[waivers]]\nfinding = "abc"\nreason = "r"\nowner = "o"\nexpires = 2027-01-01\n',
            "waivers[0].finding: expected a 32-hex-digit finding key",
        ),
    ],
)
def test_bad_waivers_and_rule_dirs(tmp_path: Path, extra: str, expected: str) -> None:
    path = write(tmp_path, '[institution]\nname = "X"\nhome = "CA"\n' + extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_profile_is_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sovscan.cli import cli

    path = write(tmp_path, '[institution]\nname = "X"\nhome = "CA"\nprofile = "hipaa"\n')
    result = CliRunner().invoke(cli, ["scan", "-c", str(path), "--no-store"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(
        f"sovscan: error: {path}: institution.profile: expected one of"
    )
    assert "'hipaa'" in result.stderr
    flag = CliRunner().invoke(cli, ["demo", "--profile", "sox"])
    assert flag.exit_code == 2 and flag.stderr.startswith("sovscan: error: --profile: expected")


def test_organization_sources_build_an_organization_probe(tmp_path: Path) -> None:
    import boto3

    from sovscan.probes.aws import AwsOrganizationProbe, AwsProbe
    from sovscan.scan import build_probes

    text = (
        '[institution]\nname = "X"\nhome = "CA"\n'
        '[[aws]]\nname = "org"\nmember_role = "sovscan-audit"\nclassification_tag = "Data"\n'
        '[[aws]]\nname = "single"\nregions = ["ca-central-1"]\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.aws[0].member_role == "sovscan-audit"
    assert config.aws[0].classification_tag == "Data"
    assert config.aws[1].classification_tag == "DataClassification"
    probes, gaps = build_probes(
        config, resolver=None, session_factory=lambda _source: boto3.Session()
    )
    assert gaps == []
    assert [type(p) for p in probes] == [AwsOrganizationProbe, AwsProbe]


def test_an_unknown_or_misspelt_classification_counts_as_sensitive(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[institution]\nname = "X"\nhome = "CA"\n'))
    policy = config.policy
    assert policy.is_sensitive("personal") and policy.is_sensitive("personnal")
    assert policy.is_sensitive("secret")
    assert not policy.is_sensitive("public")
    custom = load_config(
        write(
            tmp_path,
            '[institution]\nname = "X"\nhome = "CA"\npublic_classifications = ["public", "open"]\n',
        )
    ).policy
    assert not custom.is_sensitive("open") and custom.is_sensitive("internal")


def test_limits_are_configuration_with_safe_defaults(tmp_path: Path) -> None:
    from sovscan.config import Limits
    from sovscan.probes.aws import AwsProbe
    from sovscan.probes.dns import DnsProbe
    from sovscan.scan import build_probes

    defaults = load_config(write(tmp_path, '[institution]\nname = "X"\nhome = "CA"\n')).limits
    assert defaults == Limits()
    text = (
        '[institution]\nname = "X"\nhome = "CA"\n[[aws]]\nregions = ["ca-central-1"]\n'
        '[dns]\ndomains = ["x.example"]\n'
        "[limits]\ndns_timeout = 0.5\ndns_lifetime = 1.5\ndns_concurrency = 3\n"
        "aws_workers = 2\naws_max_attempts = 1\naws_connect_timeout = 1\naws_read_timeout = 4\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.limits == Limits(0.5, 1.5, 3, 2, 1, 1, 4)
    import boto3

    probes, _gaps = build_probes(config, resolver=None, session_factory=lambda _s: boto3.Session())
    aws, dns_probe = probes
    assert isinstance(aws, AwsProbe) and isinstance(dns_probe, DnsProbe)
    assert aws.max_workers == 2
    assert aws.client_config.connect_timeout == 1 and aws.client_config.read_timeout == 4
    assert aws.client_config.retries == {"mode": "adaptive", "max_attempts": 1}
    assert dns_probe.resolver.timeout == 0.5 and dns_probe.resolver.lifetime == 1.5


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("dns_timeout = 0", "limits.dns_timeout: expected a number from 0.1 to 60"),
        ("dns_concurrency = 2.5", "limits.dns_concurrency: expected a whole number from 1 to 256"),
        ("aws_workers = true", "limits.aws_workers: expected a whole number"),
        ("dns_ttl = 3", "limits.dns_ttl: unknown key; expected one of"),
    ],
)
def test_bad_limits(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, f'[institution]\nname = "X"\nhome = "CA"\n[limits]\n{line}\n')
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        load_config(path)


def test_https_is_off_by_default_and_configurable(tmp_path: Path) -> None:
    from sovscan.config import OPENID_URL, HttpsSettings
    from sovscan.probes.saas import SaasProbe
    from sovscan.probes.tenant import M365TenantProbe
    from sovscan.scan import build_probes

    base = '[institution]\nname = "X"\nhome = "CA"\n[dns]\ndomains = ["x.example"]\n'
    base += '[[saas]]\nname = "LMS"\nurl = "https://lms.x.example/"\n'
    config = load_config(write(tmp_path, base))
    assert config.https == HttpsSettings()
    probes, _ = build_probes(config, resolver=None)
    assert [type(p).__name__ for p in probes] == ["DnsProbe", "SaasProbe"]
    assert isinstance(probes[1], SaasProbe) and probes[1].https is None
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    text = base + (
        "[https]\nsaas = true\nm365_tenant = true\ntimeout = 2\nmax_redirects = 1\n"
        'ca_file = "ca.pem"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.https == HttpsSettings(
        saas=True,
        m365_tenant=True,
        timeout=2.0,
        max_redirects=1,
        ca_file=tmp_path / "ca.pem",
        openid_url=OPENID_URL,
    )
    probes, _ = build_probes(config, resolver=None)
    saas, tenant = probes[1], probes[2]
    assert isinstance(saas, SaasProbe) and isinstance(tenant, M365TenantProbe)
    assert saas.https is not None and saas.https.max_redirects == 1
    assert saas.https.ca_file == tmp_path / "ca.pem"
    assert tenant.domains == ("x.example",)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("saas = 1", "https.saas: expected true or false; got 1"),
        ("timeout = 0", "https.timeout: expected a number of seconds from 0.1 to 120; got 0"),
        ("max_redirects = 11", "https.max_redirects: expected a whole number from 0 to 10"),
        (
            'ca_file = "missing.pem"',
            "https.ca_file: expected a readable PEM file; got 'missing.pem'",
        ),
        ('openid_url = "http://x/{domain}"', "https.openid_url: expected an https URL with one"),
        ("proxy = 'x'", "https.proxy: unknown key; expected one of"),
    ],
)
def test_bad_https_settings(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, f'[institution]\nname = "X"\nhome = "CA"\n[https]\n{line}\n')
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {expected}")):
        load_config(path)


def test_aws_regions_are_checked_against_the_region_table(tmp_path: Path) -> None:
    from sovscan.config import check_aws_regions
    from sovscan.demo import demo_config
    from sovscan.resolve import load_knowledge

    table = load_knowledge().regions
    known = {region for provider, region in table if provider == "aws"}
    check_aws_regions(load_config(REPO / "sovscan.example.toml"), known)
    # Every region of the table passes the file's own syntax check too, the AWS European
    # Sovereign Cloud's eusc-de-east-1 included.
    every = tmp_path / "every.toml"
    names = sorted(r for (p, r), place in table.items() if p == "aws" and place.kind == "region")
    every.write_text(
        f'[institution]\nname = "X"\nhome = "CA"\n[[aws]]\nregions = {names!r}\n'.replace("'", '"'),
        encoding="utf-8",
    )
    assert "eusc-de-east-1" in names
    check_aws_regions(load_config(every), known)
    check_aws_regions(demo_config(), known)
    path = tmp_path / "sovscan.toml"
    path.write_text(
        '[institution]\nname = "X"\nhome = "CA"\n[[aws]]\nregions = "all"\n'
        '[[aws]]\nname = "b"\nregions = ["us-east-1", "eu-west-33"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        check_aws_regions(load_config(path), known)
    assert str(info.value) == (
        f"{path}: aws[1].regions[1]: expected an AWS region; got 'eu-west-33': did you mean "
        "eu-west-3, eu-west-1 or eu-west-2?"
    )


@pytest.mark.parametrize(
    ("region", "hint"),
    [
        ("ca-centrl-1", "got 'ca-centrl-1': did you mean ca-central-1?"),
        ("us-est-1", "got 'us-est-1': did you mean us-east-1, us-west-1 or us-west-2?"),
        # Close to no region: maybe one newer than the installed botocore.
        (
            "xx-nowhere-9",
            (
                "expected an AWS region such as ca-central-1 (or one newer than the installed "
                "boto3: pip install -U boto3); got 'xx-nowhere-9'"
            ),
        ),
    ],
)
def test_a_misspelt_aws_region_suggests_the_closest(tmp_path: Path, region: str, hint: str) -> None:
    from sovscan.config import check_aws_regions
    from sovscan.resolve import load_knowledge

    known = {r for provider, r in load_knowledge().regions if provider == "aws"}
    path = write(
        tmp_path, f'[institution]\nname = "X"\nhome = "CA"\n[[aws]]\nregions = ["{region}"]\n'
    )
    with pytest.raises(ConfigError) as info:
        check_aws_regions(load_config(path), known)
    message = str(info.value)
    assert message.startswith(f"{path}: aws[0].regions[0]: ") and message.endswith(hint)
    assert ("boto3" in message) == ("did you mean" not in message)


def scan_writes_nothing(tmp_path: Path, config: Path, *extra: str) -> str:
    """`sovscan scan` on `config`: exit 2, one line on stderr (returned without its prefix), and
    neither a report nor a history store left behind."""
    from click.testing import CliRunner

    from sovscan.cli import cli

    output, store = tmp_path / "report.json", tmp_path / "history.sqlite"
    args = ["scan", "-c", str(config), "-o", str(output), "--store", str(store), *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sovscan: error: ")
    assert not output.exists() and not store.exists()
    return lines[0].removeprefix("sovscan: error: ")


SAAS_PAIR = """[institution]
name = "X"
home = "CA-QC"
[[saas]]
name = "LMS"
url = "https://lms.universite.example/moodle"
classification = "public"
[[saas]]
name = "Student records"
url = "{second}"
classification = "confidential"
"""


@pytest.mark.parametrize(
    "second",
    [
        "https://lms.universite.example/records",
        "https://LMS.Universite.Example./records",  # case and a trailing dot: the same host
        "http://lms.universite.example:8443/records",  # a port: the same host, the same asset
    ],
)
def test_two_saas_entries_on_one_host_are_an_error(tmp_path: Path, second: str) -> None:
    # They were one asset, saas:lms.universite.example: the second entry was dropped, and
    # which classification survived depended on the order (public: exit 0; swapped: exit 1).
    path = write(tmp_path, SAAS_PAIR.format(second=second))
    expected = (
        f"{path}: saas[1].url: host lms.universite.example is already saas[0] ('LMS'); give "
        "one entry per host, with the most sensitive classification of the data it holds"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == expected
    assert scan_writes_nothing(tmp_path, path) == expected


def test_saas_entries_on_different_hosts_are_kept(tmp_path: Path) -> None:
    text = SAAS_PAIR.format(second="https://records.universite.example/")
    config = load_config(write(tmp_path, text))
    assert [e.asset_host for e in config.saas] == [
        "lms.universite.example",
        "records.universite.example",
    ]


DECLARED = """[institution]
name = "X"
home = "CA-QC"
[[saas]]
name = "LMS"
url = "https://lms.universite.example/"
{lines}
"""


def test_a_saas_data_location_is_read_with_its_basis(tmp_path: Path) -> None:
    lines = 'data_location = "ca-qc"\ndata_location_basis = "DPA with D2L, schedule 2"'
    (endpoint,) = load_config(write(tmp_path, DECLARED.format(lines=lines))).saas
    assert (endpoint.data_location, endpoint.data_location_basis) == (
        "CA-QC",
        "DPA with D2L, schedule 2",
    )


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            'data_location = "CA-QC"',
            (
                "saas[0].data_location_basis: required with data_location: where the declared "
                "location comes from, e.g. 'DPA with the vendor, schedule 2'"
            ),
        ),
        (
            'data_location_basis = "contract"',
            (
                "saas[0].data_location_basis: given without data_location; add the "
                "data_location it is the basis of"
            ),
        ),
        (
            'data_location = "EU"\ndata_location_basis = "contract"',
            (
                "saas[0].data_location: expected an ISO 3166-1 or 3166-2 code such as 'CA', 'FR', "
                "'CA-QC' or 'DE-BY'; got 'EU'"
            ),
        ),
        (
            'data_location = "Quebec"\ndata_location_basis = "contract"',
            (
                "saas[0].data_location: expected an ISO 3166-1 or 3166-2 code such as 'CA', 'FR', "
                "'CA-QC' or 'DE-BY'; got 'Quebec'"
            ),
        ),
    ],
)
def test_a_bad_saas_data_location_is_one_line(tmp_path: Path, lines: str, problem: str) -> None:
    path = write(tmp_path, DECLARED.format(lines=lines))
    assert scan_writes_nothing(tmp_path, path) == f"{path}: {problem}"


WAIVER = '[[waivers]]\n{target}\nreason = "r"\nowner = "dpo@x.example"\nexpires = {expires}\n'
KEY = "3f1c0e2a9b7d4c6e8f0a1b2c3d4e5f60"
FINDING, ASSET = f'finding = "{KEY}"', 'asset = "saas:lms.universite.example"'


@pytest.mark.parametrize(
    ("target", "other", "kind", "shown"),
    [
        (FINDING, ASSET, "finding", f"finding {KEY}"),
        (ASSET, FINDING, "asset", "asset 'saas:lms.universite.example'"),
    ],
    ids=["finding", "asset"],
)
def test_two_waivers_for_one_finding_or_asset_are_an_error(
    tmp_path: Path, target: str, other: str, kind: str, shown: str
) -> None:
    # The later silently won, and the other was reported as "waiver matched nothing".
    neighbour = target.replace("f60", "f61").replace("saas:lms", "saas:www")
    waivers = [(target, "2099-01-31"), (other, "2099-06-30"), (neighbour, "2099-06-30")]
    text = '[institution]\nname = "X"\nhome = "CA-QC"\n' + "".join(
        WAIVER.format(target=t, expires=e) for t, e in [*waivers, (target, "2099-06-30")]
    )
    path = write(tmp_path, text + '[dns]\ndomains = ["universite.example"]\n')
    expected = (
        f"{path}: waivers[3].{kind}: {shown} is already waived by waivers[0]; give one waiver "
        f"in force per {kind} (to renew one, change its expires)"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == expected
    assert scan_writes_nothing(tmp_path, path) == expected
    # A finding waiver and an asset waiver may cover one finding (the finding's wins).
    distinct = '[institution]\nname = "X"\nhome = "CA-QC"\n' + "".join(
        WAIVER.format(target=t, expires=e) for t, e in waivers
    )
    assert len(load_config(write(tmp_path, distinct)).waivers) == 3
    # An expired waiver kept beside its renewal is a record, not a second waiver in force.
    renewed = '[institution]\nname = "X"\nhome = "CA-QC"\n' + "".join(
        WAIVER.format(target=target, expires=e) for e in ("2020-01-31", "2099-06-30")
    )
    assert len(load_config(write(tmp_path, renewed)).waivers) == 2


def test_an_expiry_date_is_a_toml_date_or_the_same_text(tmp_path: Path) -> None:
    # "2027-06-30" quoted reads as the date; other forms Python would take ("20270630") are
    # refused, since the reader could not be sure which day was meant.
    text = (
        '[institution]\nname = "X"\nhome = "CA-QC"\n[dns]\ndomains = ["universite.example"]\n'
        + WAIVER.format(target=FINDING, expires='"20270630"')
    )
    path = write(tmp_path, text)
    expected = f"{path}: waivers[0].expires: required: a date such as 2027-06-30; got '20270630'"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == expected
    assert scan_writes_nothing(tmp_path, path) == expected
    for written in ("2027-06-30", '"2027-06-30"'):
        config = load_config(write(tmp_path, text.replace('"20270630"', written)))
        assert config.waivers[0].expires.isoformat() == "2027-06-30"


ROLE = "arn:aws:iam::123456789012:role/sovscan-audit"
NAME_TAKEN = (
    "is already the name of aws[0]; give each [[aws]] source its own name (its gaps are named "
    "probe:aws:<name>)"
)
SAME_ACCOUNT = (
    "aws[1]: the same profile, role, regions and options as aws[0], so the same account would "
    "be scanned twice; remove one"
)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (
            'name = "main"\nprofile = "audit"',
            'name = "main"\nrole_arn = "' + ROLE + '"',
            "aws[1].name: the name 'main' " + NAME_TAKEN,
        ),
        (  # unnamed, one profile: named after it
            'profile = "audit"\nregions = ["ca-central-1"]',
            'profile = "audit"\nregions = ["us-east-1"]',
            "aws[1].profile: without a name, the source is named after its profile 'audit', "
            "which " + NAME_TAKEN,
        ),
        (
            'name = "' + ROLE + '"',
            'role_arn = "' + ROLE + '"\nregions = ["ca-central-1"]',
            f"aws[1].role_arn: without a name, the source is named after its role_arn '{ROLE}', "
            "which " + NAME_TAKEN,
        ),
        (  # the same account, twice: naming them apart would not help
            'name = "a"\nprofile = "audit"\nregions = ["ca-central-1", "us-east-1"]',
            'name = "b"\nprofile = "audit"\nregions = ["us-east-1", "ca-central-1"]',
            SAME_ACCOUNT,
        ),
        (
            'profile = "audit"',
            'profile = "audit"',
            SAME_ACCOUNT,
        ),
    ],
    ids=["same-name", "same-profile", "name-is-role", "same-account", "same-unnamed"],
)
def test_aws_sources_with_one_name_or_one_account_are_an_error(
    tmp_path: Path, first: str, second: str, expected: str
) -> None:
    # They were accepted, and their gaps (probe:aws:<name>) and progress were ambiguous.
    path = write(
        tmp_path,
        f'[institution]\nname = "X"\nhome = "CA"\n[[aws]]\n{first}\n[[aws]]\n{second}\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {expected}"
    assert scan_writes_nothing(tmp_path, path) == f"{path}: {expected}"


def test_aws_sources_apart_by_name_or_region_are_kept(tmp_path: Path) -> None:
    from sovscan.config import aws_source_name

    text = (
        '[institution]\nname = "X"\nhome = "CA"\n'
        '[[aws]]\nname = "canada"\nprofile = "audit"\nregions = ["ca-central-1"]\n'
        '[[aws]]\nname = "us"\nprofile = "audit"\nregions = ["us-east-1"]\n'
        '[[aws]]\n[[aws]]\nregions = ["ca-central-1"]\n'
        # One profile assuming a role in each of two accounts: named after their roles.
        f'[[aws]]\nprofile = "audit"\nrole_arn = "{ROLE}"\n'
        f'[[aws]]\nprofile = "audit"\nrole_arn = "{ROLE.replace("012:", "013:")}"\n'
    )
    config = load_config(write(tmp_path, text))
    names = [aws_source_name(source, i) for i, source in enumerate(config.aws)]
    assert names == [
        "aws:canada",
        "aws:us",
        "aws:source-2",
        "aws:source-3",
        f"aws:{ROLE}",
        f"aws:{ROLE.replace('012:', '013:')}",
    ]


DNS_NAMES = (
    '[institution]\nname = "X"\nhome = "CA-QC"\n'
    '[dns]\ndomains = ["cssdescedres.example", "autre.example"]\n'
)
NAME_EXPECTED = (
    "expected a host label such as 'portail' or '_sip._tls', looked up under each domain; got "
)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        # It was looked up as portail.cssdescedres.example.<each domain>, and found nothing.
        (
            '["lms", "Portail.cssdescedres.example"]',
            "dns.names[1]: " + NAME_EXPECTED + "'Portail.cssdescedres.example', a host name "
            "under the domain cssdescedres.example: write 'portail'",
        ),
        (
            '["_sip._tls.autre.example"]',
            "dns.names[0]: " + NAME_EXPECTED + "'_sip._tls.autre.example', a host name under "
            "the domain autre.example: write '_sip._tls'",
        ),
        (
            '["autre.example"]',
            "dns.names[0]: " + NAME_EXPECTED + "'autre.example', one of the domains (a "
            "domain's own name is always looked up): remove it",
        ),
        ('["portail/"]', "dns.names[0]: " + NAME_EXPECTED + "'portail/'"),
        # A host of a domain not probed was asked as portail.ecole.example.<each domain>, and
        # found under none, silently: the scan said nothing of the host it was told to see.
        (
            '["lms", "portail.ecole.example"]',
            "dns.names[1]: " + NAME_EXPECTED + "'portail.ecole.example', a host name under no "
            "domain to probe (it ends in .example, as the domains do): add its domain to "
            "dns.domains, or the host as a [[saas]] url",
        ),
    ],
)
def test_a_dns_name_is_a_label_not_a_host_name(tmp_path: Path, names: str, expected: str) -> None:
    path = write(tmp_path, f"{DNS_NAMES}names = {names}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {expected}"


def test_dns_names_that_are_labels_are_kept(tmp_path: Path) -> None:
    # Dotted labels stay labels (_sip._tls, www.intranet): only a name under a domain is refused.
    names = '["portail", "_sip._tls", "www.intranet", "cssdescedres"]'
    config = load_config(write(tmp_path, f"{DNS_NAMES}names = {names}\n"))
    assert config.dns_names == ("portail", "_sip._tls", "www.intranet", "cssdescedres")


def test_a_dns_name_under_a_domain_of_the_domains_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f'{DNS_NAMES}names = ["portail.ecole.test"]\n')
    domains = tmp_path / "domains.txt"
    domains.write_text("ecole.test\n", encoding="utf-8")
    assert load_config(path).dns_names == ("portail.ecole.test",)  # no domain of its own
    assert scan_writes_nothing(tmp_path, path, "--domains", str(domains)) == (
        f"{path}: dns.names: " + NAME_EXPECTED + "'portail.ecole.test', a host name under "
        f"the domain ecole.test of --domains {domains}: write 'portail'"
    )
    # A host of a domain the file does not name, ending as its domains do.
    domains.write_text("lycee.test\n", encoding="utf-8")
    assert scan_writes_nothing(tmp_path, path, "--domains", str(domains)) == (
        f"{path}: dns.names: " + NAME_EXPECTED + "'portail.ecole.test', a host name under no "
        f"domain to probe (it ends in .test, as the domains of --domains {domains} do): add its "
        "domain to dns.domains, or the host as a [[saas]] url"
    )


NETWORKS = """[institution]
name = "Université Exemple"
home = "CA-QC"
[dns]
domains = ["universite.example"]
[[networks]]
name = "Campus data centre"
prefixes = ["198.51.100.0/24", "2001:DB8:100::/48", "192.0.2.7"]
operator = "Université Exemple"
parent = "Université Exemple"
jurisdictions = ["ca-qc", "CA"]
place = "ca-qc"
basis = "asset register 2026-09, data centre lease"
"""


def test_declared_networks_are_read_and_normalised(tmp_path: Path) -> None:
    carve_out = (
        '[[networks]]\nname = "Rented to a host"\nprefixes = ["198.51.100.128/25"]\n'
        'operator = "OVH SAS"\njurisdictions = ["FR", "EU"]\nbasis = "lease 2025-114"\n'
    )
    (campus, rented) = load_config(write(tmp_path, NETWORKS + carve_out)).networks
    # An address alone is one host; IPv6 in its canonical form; codes upper-cased.
    assert campus.prefixes == ("198.51.100.0/24", "2001:db8:100::/48", "192.0.2.7/32")
    assert (campus.operator, campus.parent) == ("Université Exemple", "Université Exemple")
    assert (campus.jurisdictions, campus.place) == (("CA-QC", "CA"), "CA-QC")
    assert campus.basis == "asset register 2026-09, data centre lease"
    # A prefix inside another entry's is a carve-out, kept: the most specific wins.
    assert (rented.prefixes, rented.parent, rented.place) == (("198.51.100.128/25",), None, None)


ENTRY = (
    '[[networks]]\nname = "Campus"\noperator = "U"\njurisdictions = ["CA-QC"]\nbasis = "register"\n'
)


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (
            'prefixes = ["198.51.100.0/33"]',
            (
                "networks[1].prefixes[0]: expected an IP prefix such as 198.51.100.0/24 or "
                "2001:db8:100::/48; got '198.51.100.0/33'"
            ),
        ),
        (
            'prefixes = ["10.0.0.0/8", "campus"]',
            (
                "networks[1].prefixes[1]: expected an IP prefix such as 198.51.100.0/24 or "
                "2001:db8:100::/48; got 'campus'"
            ),
        ),
        (
            'prefixes = ["203.0.113.7/24"]',
            (
                "networks[1].prefixes[0]: expected a prefix without host bits (203.0.113.0/24, or "
                "203.0.113.7/32 for one host); got '203.0.113.7/24'"
            ),
        ),
        (
            'prefixes = ["2001:db8:200::1/48"]',
            (
                "networks[1].prefixes[0]: expected a prefix without host bits (2001:db8:200::/48, "
                "or 2001:db8:200::1/128 for one host); got '2001:db8:200::1/48'"
            ),
        ),
        (
            'prefixes = ["0.0.0.0/0"]',
            (
                "networks[1].prefixes[0]: expected an IPv4 prefix of /8 or longer (one "
                "institution's address space); got '0.0.0.0/0'"
            ),
        ),
        (
            'prefixes = ["2000::/3"]',
            (
                "networks[1].prefixes[0]: expected an IPv6 prefix of /16 or longer (one "
                "institution's address space); got '2000::/3'"
            ),
        ),
        (
            'prefixes = ["203.0.113.0/24", "198.51.100.0/24"]',
            (
                "networks[1].prefixes[1]: 198.51.100.0/24 is already declared by "
                "networks[0].prefixes[0]; declare each prefix once"
            ),
        ),
        (
            'prefixes = ["203.0.113.128/25", "203.0.113.0/24"]',
            (
                "networks[1].prefixes[0]: 203.0.113.128/25 is inside 203.0.113.0/24, "
                "networks[1].prefixes[1] of the same entry; remove one"
            ),
        ),
        ("prefixes = []", "networks[1].prefixes: expected a non-empty list of IP prefixes; got []"),
        (
            "",
            (
                "networks[1].prefixes: missing; it is required: a non-empty list of IP "
                "prefixes (an IP prefix such as 198.51.100.0/24 or 2001:db8:100::/48)"
            ),
        ),
        (
            'prefixes = ["203.0.113.0/24"]\nowner = "IT"',
            (
                "networks[1].owner: unknown key; expected one of basis, jurisdictions, name, "
                "operator, parent, place, prefixes"
            ),
        ),
        (
            'prefixes = ["203.0.113.0/24"]\nplace = "Quebec"',
            (
                "networks[1].place: expected an ISO 3166-1 or 3166-2 code such as 'CA', 'FR', "
                "'CA-QC' or 'DE-BY'; got 'Quebec'"
            ),
        ),
        (
            'prefixes = ["203.0.113.0/24"]\nplace = "EU"',
            (
                "networks[1].place: expected an ISO 3166-1 or 3166-2 code such as 'CA', 'FR', "
                "'CA-QC' or 'DE-BY'; got 'EU'"
            ),
        ),
    ],
)
def test_a_bad_declared_network_is_one_line(tmp_path: Path, lines: str, problem: str) -> None:
    path = write(tmp_path, NETWORKS + ENTRY + lines + "\n")
    assert scan_writes_nothing(tmp_path, path) == f"{path}: {problem}"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            'name = "C"\nprefixes = ["203.0.113.0/24"]\noperator = "U"\njurisdictions = ["CA"]',
            (
                "networks[1].basis: missing; it is required: where the statement comes from, e.g. "
                "'asset register 2026-09, data centre lease'"
            ),
        ),
        (
            'name = "C"\nprefixes = ["203.0.113.0/24"]\noperator = "U"\nbasis = "b"',
            (
                "networks[1].jurisdictions: missing; it is required: the ISO 3166 codes of the "
                "operator's and its parent's homes, e.g. ['CA-QC', 'CA']"
            ),
        ),
        (
            (
                'name = "C"\nprefixes = ["203.0.113.0/24"]\noperator = "U"\nbasis = "b"\n'
                'jurisdictions = ["CA", "Canada"]'
            ),
            (
                "networks[1].jurisdictions[1]: expected an ISO 3166-1 or 3166-2 code such as 'CA', "
                "'FR', 'CA-QC' or 'DE-BY' (or EU, EEA); got 'Canada'"
            ),
        ),
        (
            'name = "C"\nprefixes = ["203.0.113.0/24"]\nbasis = "b"\njurisdictions = ["CA"]',
            "networks[1].operator: missing; it is required: a non-empty string",
        ),
    ],
)
def test_a_declared_network_without_a_required_key_is_one_line(
    tmp_path: Path, entry: str, problem: str
) -> None:
    path = write(tmp_path, NETWORKS + "[[networks]]\n" + entry + "\n")
    assert scan_writes_nothing(tmp_path, path) == f"{path}: {problem}"


def test_declared_prefixes_are_bounded(tmp_path: Path) -> None:
    from sovscan.model import MAX_DECLARED_PREFIXES

    many = ", ".join(f'"10.{i // 256}.{i % 256}.0/24"' for i in range(MAX_DECLARED_PREFIXES - 2))
    path = write(tmp_path, NETWORKS + ENTRY + f"prefixes = [{many}]\n")
    assert scan_writes_nothing(tmp_path, path) == (
        f"{path}: networks[1].prefixes: more than {MAX_DECLARED_PREFIXES} prefixes in all "
        "[[networks]] entries; declare the institution's allocations, not each block"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'allowed_locations = ["FR", "UE"]',
            (
                "institution.allowed_locations[1]: expected an ISO 3166-1 or 3166-2 code such as "
                "'CA', 'FR', 'CA-QC' or 'DE-BY' (or EU, EEA); got 'UE': did you mean 'EU'?"
            ),
        ),
        (
            'home_jurisdictions = ["FR", "EEE"]',
            (
                "institution.home_jurisdictions[1]: expected an ISO 3166-1 or 3166-2 code such as "
                "'CA', 'FR', 'CA-QC' or 'DE-BY' (or EU, EEA); got 'EEE': did you mean 'EEA'?"
            ),
        ),
    ],
)
def test_the_french_names_of_the_eu_and_eea_are_refused_with_a_suggestion(
    tmp_path: Path, line: str, message: str
) -> None:
    path = write(tmp_path, f'[institution]\nname = "X"\nhome = "FR"\n{line}\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: {message}"
