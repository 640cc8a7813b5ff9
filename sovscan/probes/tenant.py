"""The Microsoft 365 tenant probe: Microsoft's public OpenID configuration for each domain.

`login.microsoftonline.com/<domain>/v2.0/.well-known/openid-configuration` answers, for a domain
verified in a Microsoft Entra tenant, the tenant id (in `issuer`) and the tenant's region scope
(`tenant_region_scope`: NA, EU, AS, OC, SA, AF, WW...) and cloud instance. It needs no credentials;
it does tell Microsoft which domains were asked about, which is why it is off unless the
inventory's [https] table says `m365_tenant = true`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime

import dns.resolver

from sovscan.bounds import bounded
from sovscan.model import Asset, AttrValue, Confidence, Evidence, Gap
from sovscan.probes import Clock, utc_now
from sovscan.probes.https import HttpsError, HttpsOptions, read_endpoint
from sovscan.probes.saas import dns_resolve

MAX_BODY = 64 * 1024
_TENANT_ID = re.compile(
    r"/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/", re.IGNORECASE
)
_CODE = re.compile(r"[A-Za-z]{2,12}")
_INSTANCE = re.compile(r"[a-z0-9.-]{1,63}")


class M365TenantProbe:
    """One `saas.tenant` asset per Microsoft Entra tenant that a domain belongs to."""

    name = "m365-tenant"

    def __init__(
        self,
        domains: Sequence[str],
        resolver: dns.resolver.Resolver,
        options: HttpsOptions,
        openid_url: str,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.domains = tuple(dict.fromkeys(d.rstrip(".").lower() for d in domains))
        self.resolver = resolver
        self.options = options
        self.openid_url = openid_url
        self.clock = clock

    def collect(self) -> Iterator[Asset | Gap]:
        tenants: dict[str, tuple[dict[str, AttrValue], list[str], list[Evidence]]] = {}
        for domain in self.domains:
            found = self._ask(domain)
            if isinstance(found, Gap):
                yield found
                continue
            if found is None:
                continue  # not a Microsoft Entra domain: an answer, nothing to report
            attributes, evidence = found
            tenant_id = str(attributes["tenant_id"])
            _, domains, proofs = tenants.setdefault(tenant_id, (attributes, [], []))
            domains.append(domain)
            proofs.append(evidence)
        for tenant_id, (attributes, domains, proofs) in sorted(tenants.items()):
            yield Asset(
                f"m365:tenant:{tenant_id}",
                "saas.tenant",
                f"Microsoft 365 tenant of {domains[0]}",
                {**attributes, "domains": tuple(domains)},
                tuple(proofs),
            )

    def _ask(self, domain: str) -> tuple[dict[str, AttrValue], Evidence] | Gap | None:
        url = self.openid_url.replace("{domain}", domain)
        observed = self.clock()
        try:
            view = read_endpoint(
                url, dns_resolve(self.resolver, self.clock), self.options, body_limit=MAX_BODY
            )
        except HttpsError as exc:
            return Gap(f"m365-tenant:{domain}", bounded(str(exc)))
        try:
            document = json.loads(view.body)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, too deep, a huge number
            document = None
        if not isinstance(document, dict):
            reason = f"the OpenID configuration for {domain} is not a JSON object"
            return Gap(f"m365-tenant:{domain}", f"{reason} (HTTP {view.status})")
        if view.status != 200:
            # Microsoft answers 400 `invalid_tenant` for a domain no tenant has verified.
            if view.status == 400 and document.get("error") == "invalid_tenant":
                return None
            return Gap(f"m365-tenant:{domain}", f"HTTP {view.status} from the OpenID endpoint")
        return _tenant(domain, url, document, observed)


def _tenant(
    domain: str, url: str, document: dict[str, object], observed: datetime
) -> tuple[dict[str, AttrValue], Evidence] | Gap:
    issuer = document.get("issuer")
    found = _TENANT_ID.search(issuer) if isinstance(issuer, str) else None
    if found is None:
        return Gap(f"m365-tenant:{domain}", "the OpenID configuration names no tenant id")
    tenant_id = found.group(1).lower()
    attributes: dict[str, AttrValue] = {"provider": "microsoft", "tenant_id": tenant_id}
    for key, pattern in (
        ("tenant_region_scope", _CODE),
        ("tenant_region_sub_scope", _CODE),
        ("cloud_instance_name", _INSTANCE),
    ):
        value = document.get(key)
        if isinstance(value, str) and pattern.fullmatch(value):
            attributes[key] = value
    detail = (
        f"GET {bounded(url, 200)}: tenant {tenant_id}, region scope "
        f"{attributes.get('tenant_region_scope', '?')}"
    )
    if "tenant_region_sub_scope" in attributes:
        detail += f" ({attributes['tenant_region_sub_scope']})"
    return attributes, Evidence("https:openid-configuration", detail, observed, Confidence.HIGH)
