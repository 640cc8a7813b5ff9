"""Mail attribution end to end: fixture zones on a loopback DNS server, the probe, resolution."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sovscan.dnsserver import ZoneServer, make_resolver
from sovscan.model import Asset, Confidence, Control, Method, ResolvedAsset
from sovscan.probes.dns import DnsProbe
from sovscan.resolve import default_data_dir, load_knowledge, resolve_all
from tests.probes.dns_fixtures import FAULTS, all_zones

DOMAINS = (
    "m365.example",
    "gws.example",
    "gateway.example",
    "mimecast-ca.example",
    "ironport.example",
    "gsv.example",
)


@pytest.fixture(scope="module")
def resolved() -> Iterator[dict[str, ResolvedAsset]]:
    with ZoneServer(all_zones(), faults=FAULTS) as server:
        resolver = make_resolver(server.host, server.port, timeout=1.0, lifetime=3.0)
        items = list(DnsProbe(DOMAINS, (), resolver).collect())
    assets = [i for i in items if isinstance(i, Asset)]
    kb = load_knowledge(default_data_dir())
    yield {r.asset.id: r for r in resolve_all(assets, kb)}


def deciding(control: Control) -> tuple[str, Confidence]:
    """The deciding signal (from the first evidence's source) and the confidence."""
    source = control.evidence[0].source
    assert source.startswith("resolve:mailbox:"), source
    return source.rsplit(":", 1)[1], control.confidence


def sources(control: Control) -> list[str]:
    return [e.source for e in control.evidence]


def test_microsoft_365_direct_is_decided_by_the_mx(resolved: dict[str, ResolvedAsset]) -> None:
    mailbox = resolved["dns:m365.example:mailbox"]
    control = mailbox.control
    assert (control.operator, control.parent) == ("Microsoft Corporation", "Microsoft Corporation")
    assert control.jurisdictions == ("US",)
    assert control.laws is not None and "us-cloud-act" in control.laws
    assert control.method is Method.CATALOGUE
    assert deciding(control) == ("mx", Confidence.HIGH)
    # Every other signal agrees and is kept; none is a conflict.
    assert {"resolve:mailbox:dkim", "resolve:mailbox:autodiscover", "resolve:mailbox:spf"} <= set(
        sources(control)
    )
    assert "resolve:conflict" not in sources(control)
    assert mailbox.asset.attributes["tenant"] == "m365example.onmicrosoft.com"
    assert mailbox.location.country is None and mailbox.location.method is Method.UNKNOWN


def test_google_workspace_is_decided_by_the_mx(resolved: dict[str, ResolvedAsset]) -> None:
    mailbox = resolved["dns:gws.example:mailbox"]
    control = mailbox.control
    assert (control.operator, control.parent, control.jurisdictions) == (
        "Google LLC",
        "Alphabet Inc.",
        ("US",),
    )
    assert deciding(control) == ("mx", Confidence.HIGH)
    assert "resolve:mailbox:spf" in sources(control)  # _spf.google.com agrees
    assert mailbox.asset.attributes["dkim_selectors"] == ("google",)
    assert "resolve:mailbox:dkim" in sources(control)  # so does the google._domainkey key
    # The site-verification token is set aside, with the reason, not counted as agreement.
    assert "resolve:mailbox:token" not in sources(control)
    assert any("not proof of Workspace mail" in e.detail for e in control.evidence)
    assert mailbox.location.country is None


def test_proofpoint_in_front_of_microsoft_365_is_decided_by_dkim(
    resolved: dict[str, ResolvedAsset],
) -> None:
    mailbox = resolved["dns:gateway.example:mailbox"]
    control = mailbox.control
    assert (control.operator, control.parent, control.jurisdictions) == (
        "Microsoft Corporation",
        "Microsoft Corporation",
        ("US",),
    )
    assert deciding(control) == ("dkim", Confidence.HIGH)
    assert "gatewayexample.onmicrosoft.com" in control.evidence[0].detail
    gateway = [e.detail for e in control.evidence if e.source == "resolve:mailbox:gateway"]
    assert len(gateway) == 1 and "Proofpoint" in gateway[0]
    # `~include:_spf.google.com` is not an authorisation: Google is neither a signal nor a
    # conflict, so SPF agrees with DKIM instead of being split between two providers.
    assert "resolve:conflict" not in sources(control)
    assert not any("Google" in e.detail for e in control.evidence)
    assert mailbox.location.country is None
    # The gateway itself stays attributed on its MX asset.
    mx = resolved["dns:gateway.example:mx:mx0a-00000000.pphosted.com"].control
    assert (mx.operator, mx.parent, mx.jurisdictions) == (
        "Proofpoint, Inc.",
        "Proofpoint, Inc. (Thoma Bravo)",
        ("US",),
    )


def test_mimecast_canada_region_from_the_hostname_and_the_mailbox_behind_it(
    resolved: dict[str, ResolvedAsset],
) -> None:
    mx = resolved["dns:mimecast-ca.example:mx:ca-smtp-inbound-1.mimecast.com"]
    assert (mx.control.operator, mx.control.parent, mx.control.jurisdictions) == (
        "Mimecast Services Limited",
        "Mimecast Limited (Permira)",
        ("GB",),
    )
    assert (mx.location.provider, mx.location.region, mx.location.country) == (
        "mimecast",
        "ca",
        "CA",
    )
    assert mx.location.method is Method.HOSTNAME_REGION
    mailbox = resolved["dns:mimecast-ca.example:mailbox"]
    control = mailbox.control
    # Mimecast's own SPF include is a gateway's, so Microsoft 365 is the only mailbox provider
    # SPF authorises: SPF decides, at medium confidence.
    assert (control.operator, control.jurisdictions) == ("Microsoft Corporation", ("US",))
    assert deciding(control) == ("spf", Confidence.MEDIUM)
    assert any("Mimecast" in e.detail for e in control.evidence if "gateway" in e.source)
    # Where the gateway filters (Canada) is not where the mailboxes are: that stays unknown.
    assert mailbox.location.country is None and mailbox.location.method is Method.UNKNOWN


def test_a_gateway_with_no_look_through_signal_leaves_the_mailbox_unknown(
    resolved: dict[str, ResolvedAsset],
) -> None:
    mailbox = resolved["dns:ironport.example:mailbox"]
    control = mailbox.control
    assert (control.operator, control.parent, control.jurisdictions, control.laws) == (
        None,
        None,
        None,
        None,
    )
    assert (control.method, control.confidence) == (Method.UNKNOWN, Confidence.NONE)
    assert any("Cisco Secure Email" in e.detail for e in control.evidence)
    assert mailbox.location.method is Method.UNKNOWN
    mx = resolved["dns:ironport.example:mx:mx1.hc1234-56.iphmx.com"].control
    assert (mx.operator, mx.parent, mx.jurisdictions) == ("Cisco", "Cisco Systems Inc.", ("US",))


def test_google_site_verification_alone_is_not_google_mail(
    resolved: dict[str, ResolvedAsset],
) -> None:
    mailbox = resolved["dns:gsv.example:mailbox"]
    assert mailbox.asset.attributes["verification_tokens"] == ("google-site-verification",)
    control = mailbox.control
    assert (control.operator, control.jurisdictions) == (None, None)
    assert control.method is Method.UNKNOWN
    assert any("not proof of Workspace mail" in e.detail for e in control.evidence)
    # The token still proves a Google account: its own asset is attributed to Google.
    token = resolved["dns:gsv.example:txt:google-site-verification"].control
    assert (token.operator, token.jurisdictions) == ("Google LLC", ("US",))
