"""The IP index: longest-prefix match on both families, checked against a naive oracle."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import pytest

from sovscan.resolve import KnowledgeBase
from sovscan.resolve.build import AsnRange, Prefix, build_arrays, parse_prefix, write_index
from sovscan.resolve.ipindex import load_index

SAMPLES = json.loads((Path(__file__).parent / "data" / "samples.json").read_text(encoding="utf-8"))


def _prefix(text: str, provider: str, region: str, priority: int = 1) -> Prefix:
    family, network, length = parse_prefix(text)
    return Prefix(family, network, length, (provider, region, "", "svc", False, "test"), priority)


def _asn(first: str, last: str, asn: int, org: str) -> AsnRange:
    a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
    return AsnRange(a.version, int(a), int(b), asn, org)


PREFIXES = [
    _prefix("10.0.0.0/8", "outer", "r8"),
    _prefix("10.1.0.0/16", "mid", "r16"),
    _prefix("10.1.2.0/24", "inner", "r24"),
    _prefix("10.1.255.0/24", "tail", "tail"),  # ends exactly where its parent /16 ends
    _prefix("10.2.0.0/16", "global", "", priority=0),
    _prefix("10.2.0.0/16", "regional", "r-reg", priority=1),  # equal prefix: priority wins
    _prefix("2001:db8::/32", "v6outer", "a"),
    _prefix("2001:db8:0:1::/64", "v6mid", "b"),
    _prefix("2001:db8:0:1:8000::/65", "v6long", "c"),  # longer than /64: needs the lower half
    _prefix("2001:db8:0:1::5/128", "v6host", "d"),
]
RANGES = [
    _asn("10.0.0.0", "10.255.255.255", 64500, "Example Org"),
    _asn("192.0.2.0", "192.0.2.127", 64501, "Doc Net"),
    _asn("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 64502, "Six Org"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("index") / "ipindex.npz"
    write_index(path, build_arrays(PREFIXES, RANGES))
    return load_index(path)


@pytest.mark.parametrize(
    ("address", "provider", "asn"),
    [
        ("10.0.0.1", "outer", 64500),
        ("10.1.0.1", "mid", 64500),
        ("10.1.2.200", "inner", 64500),
        ("10.1.3.0", "mid", 64500),  # after the /24 ends, back to its parent
        ("10.1.255.255", "tail", 64500),
        ("10.2.0.0", "regional", 64500),
        ("10.3.0.0", "outer", 64500),  # after the /16s, back to the /8
        ("10.255.255.255", "outer", 64500),
        ("11.0.0.0", None, None),
        ("192.0.2.5", None, 64501),
        ("192.0.2.200", None, None),
        ("2001:db8::1", "v6outer", 64502),
        ("2001:db8:0:1::1", "v6mid", 64502),
        ("2001:db8:0:1::5", "v6host", 64502),
        ("2001:db8:0:1::6", "v6mid", 64502),
        ("2001:db8:0:1:8000::1", "v6long", 64502),
        ("2001:db8:0:2::", "v6outer", 64502),
        ("2001:db9::", None, None),
        ("::ffff:10.1.2.3", "inner", 64500),  # IPv4-mapped IPv6 is looked up as IPv4
        ("0.0.0.0", None, None),
        ("255.255.255.255", None, None),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None, None),
    ],
)
def test_longest_prefix_match(tiny, address: str, provider: str | None, asn: int | None) -> None:  # type: ignore[no-untyped-def]
    match = tiny.lookup(address)
    assert match.valid
    assert (match.cloud.provider if match.cloud else None) == provider
    assert match.asn == asn


def test_the_matching_prefix_and_org_are_reported(tiny) -> None:  # type: ignore[no-untyped-def]
    match = tiny.lookup("10.1.2.3")
    assert match.cloud is not None and match.cloud.prefix == "10.1.2.0/24"
    assert match.as_org == "Example Org"
    v6 = tiny.lookup("2001:db8:0:1:8000::9")
    assert v6.cloud is not None and v6.cloud.prefix == "2001:db8:0:1:8000::/65"


@pytest.mark.parametrize("text", ["", "not-an-ip", "1.2.3", "10.0.0.256", "2001:db8::g", "1"])
def test_invalid_text_is_not_an_address(tiny, text: str) -> None:  # type: ignore[no-untyped-def]
    match = tiny.lookup(text)
    assert not match.valid and match.cloud is None and match.asn is None


def test_bulk_lookup_keeps_order_and_duplicates(tiny) -> None:  # type: ignore[no-untyped-def]
    queries = ["10.1.2.3", "bogus", "2001:db8::1", "10.1.2.3", "11.0.0.1"]
    got = tiny.lookup_many(queries)
    assert [m.address for m in got] == queries
    assert [m.cloud.provider if m.cloud else None for m in got] == [
        "inner",
        None,
        "v6outer",
        "inner",
        None,
    ]


def test_random_addresses_agree_with_a_naive_oracle(tiny) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    nets = [
        (ipaddress.ip_network(f"{ipaddress.ip_address(p.network)}/{p.length}"), p) for p in PREFIXES
    ]
    queries = []
    for net, _ in nets:
        for _ in range(40):
            offset = rng.randrange(net.num_addresses)
            queries.append(str(net.network_address + offset))
    queries += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(200)]
    for match in tiny.lookup_many(queries):
        address = ipaddress.ip_address(match.address)
        covering = [(n.prefixlen, p.priority, p) for n, p in nets if address in n]
        expected = max(covering, key=lambda c: (c[0], c[1]))[2].record[0] if covering else None
        assert (match.cloud.provider if match.cloud else None) == expected, match.address


@pytest.mark.parametrize(
    "sample", SAMPLES, ids=[f"{s['provider']}-{s['region']}-{s['address']}" for s in SAMPLES]
)
def test_published_samples_resolve_to_their_region(kb: KnowledgeBase, sample: dict) -> None:  # type: ignore[type-arg]
    match = kb.index.lookup(sample["address"])
    assert match.cloud is not None
    assert match.cloud.provider == sample["provider"]
    assert (match.cloud.border_group or match.cloud.region) == sample["region"]
    assert match.cloud.edge == sample["edge"]


def test_the_packaged_index_loads_whole(kb: KnowledgeBase) -> None:
    # Its load time is measured by `make bench` (workload ip), not asserted here.
    index = load_index(kb.data_dir / "ipindex.npz")
    assert index.size > 500_000


def test_array_lookups_answer_every_key(kb: KnowledgeBase) -> None:
    import numpy as np

    keys = (
        np.random.default_rng(1).integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
    )
    rows = kb.index.search_v4(keys)
    asns = kb.index.asns(4, rows)
    assert len(asns) == len(keys)


def test_array_lookup_agrees_with_object_lookup(kb: KnowledgeBase) -> None:
    rng = random.Random(3)
    queries = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(3000)]
    queries += [
        str(ipaddress.IPv6Address((0x2600 << 112) | rng.getrandbits(112))) for _ in range(1000)
    ]
    queries += [s["address"] for s in SAMPLES] + ["bogus", "::ffff:3.96.0.1"]
    family, record, asn = kb.index.lookup_arrays(queries)
    for match, fam, rec, number in zip(
        kb.index.lookup_many(queries), family.tolist(), record.tolist(), asn.tolist(), strict=True
    ):
        assert (fam != 0) == match.valid
        expected = kb.index.records[rec - 1][:2] if rec else None
        got = (match.cloud.provider, match.cloud.region) if match.cloud else None
        assert got == expected, match.address
        assert (match.asn or 0) == number


def test_overlapping_asn_ranges_later_start_wins(tmp_path: Path) -> None:
    # The real IPv4 table has one such overlap (DoD ranges): the inner range wins, the outer
    # resumes after it, and nothing in between is lost.
    ranges = [
        _asn("10.0.0.0", "10.0.255.255", 64510, "Outer"),
        _asn("10.0.16.0", "10.0.31.255", 64511, "Inner"),
    ]
    path = tmp_path / "ipindex.npz"
    write_index(path, build_arrays([], ranges))
    index = load_index(path)
    got = [
        m.asn
        for m in index.lookup_many(
            ["10.0.0.1", "10.0.16.1", "10.0.31.255", "10.0.32.0", "10.0.255.255", "10.1.0.0"]
        )
    ]
    assert got == [64510, 64511, 64511, 64510, 64510, None]


def test_a_damaged_index_is_one_error_at_load(tmp_path: Path) -> None:
    import numpy as np

    from sovscan.errors import ResolveError

    prefixes = [Prefix(4, 0x0A000000, 8, ("aws", "ca-central-1", "", "S3", False, "aws"), 1)]
    arrays = dict(build_arrays(prefixes, []))
    good = tmp_path / "good.npz"
    write_index(good, arrays)
    assert load_index(good).records[0] == ("aws", "ca-central-1", "", "S3", False, "aws")
    damaged = tmp_path / "damaged.npz"
    write_index(damaged, {**arrays, "records": np.array(["aws|ca-central-1|S3"])})
    with pytest.raises(ResolveError, match=r"record 'aws\|ca-central-1\|S3': expected 6 fields"):
        load_index(damaged)
    del arrays["v4_asn"]
    write_index(damaged, arrays)
    with pytest.raises(ResolveError, match="lacks array"):
        load_index(damaged)
    damaged.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ResolveError, match="cannot read the IP index"):
        load_index(damaged)
    arrays = dict(build_arrays(prefixes, []))
    wrong_types = [
        {"records": np.array([1, 2])},
        {"records": np.array([b"a|b|c|d|e|f"])},
        {"records": np.array("a|b|c|d|e|f")},
        {"format": np.array(["x"])},
        {"format": np.array(7)},
        {"format": np.array([], dtype=np.int64)},
        {"v4_start": np.stack([arrays["v4_start"], arrays["v4_start"]])},
        {"v4_start": arrays["v4_start"].astype(str)},
        {"v4_start": arrays["v4_start"].astype(np.uint64)},
        {"v4_cloud": arrays["v4_cloud"][:-1]},
        {"v4_pfx_rec": arrays["v4_pfx_rec"] + 5},
        {"v4_cloud": arrays["v4_cloud"] + 9},
        {"org_offsets": arrays["org_offsets"][:-1]},
    ]
    for change in wrong_types:
        write_index(damaged, {**arrays, **change})
        with pytest.raises(ResolveError, match=f"^{damaged}: "):
            load_index(damaged)
