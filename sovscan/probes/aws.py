"""The AWS probes: regions x ServiceSpec of one account, or of every Organization account."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from sovscan.bounds import bounded
from sovscan.config import AwsSource
from sovscan.errors import ProbeError
from sovscan.model import Asset, AttrValue, Confidence, Evidence, Gap
from sovscan.probes import Clock, utc_now
from sovscan.probes.aws_guardrails import account_guardrail
from sovscan.probes.aws_services import SERVICES, Call, Fact, Read, Scope, ServiceSpec
from sovscan.probes.aws_session import (
    GLOBAL_REGIONS,
    MemberAccount,
    member_session,
    read_organization,
    session_for,
)

__all__ = ["AwsOrganizationProbe", "AwsProbe", "session_for"]

logger = logging.getLogger(__name__)

AWS_ERRORS = (ClientError, BotoCoreError)
"""What a boto3 call raises for a scope it cannot see (other exceptions become gaps too, logged)."""

CLIENT_CONFIG = Config(
    # Adaptive mode adds client-side rate limiting on top of standard retries, so a throttled
    # region slows down instead of failing. EC2 throttles per account and region:
    # https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
    # Three retries (four attempts) of at most 3 s to connect and 12 s to read: a region whose
    # endpoint never answers costs one minute per call at worst, then becomes a gap.
    retries={"mode": "adaptive", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=12,
    user_agent_extra="sovscan",
)


def client_config(*, max_attempts: int, connect_timeout: float, read_timeout: float) -> Config:
    """CLIENT_CONFIG with the retry and time-out limits of the inventory's [limits] table."""
    return CLIENT_CONFIG.merge(
        Config(
            retries={"mode": "adaptive", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    )


_UNANSWERED = (
    ConnectTimeoutError,
    ReadTimeoutError,
    EndpointConnectionError,
    ConnectionClosedError,
)
"""Failures (after botocore's retries) that say the endpoint did not answer, not that it refused."""

_UNREACHABLE_AFTER = 2
"""Distinct services of a region that must go unanswered before the rest of it is not tried: one
slow service is not a dead region, two are, and each further call would cost the full retry
budget (attempts x time-outs) for nothing."""

EDGE_REGION = "GLOBAL"
_ENABLED = {"opt-in-not-required", "opted-in"}
_KEY_MANAGERS = {
    "AWS_KMS": "customer",
    "EXTERNAL": "customer",  # imported key material: the customer holds a copy of the key
    "AWS_CLOUDHSM": "cloudhsm",
    "EXTERNAL_KEY_STORE": "external-key-store",
}
_PUBLIC_GRANTEES = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}

# EC2 CopySnapshot's default description; a copy keeps no other trace of its source region.
_COPIED = re.compile(r"\[Copied snap-[0-9a-f]+ from ([a-z]{2}(?:-[a-z]+)+-\d{1,2})\]")

_LIST_READS = {
    Read.RESTORE_ACCOUNTS,
    Read.REGIONS,
    Read.ARN_REGIONS,
    Read.ARN_ACCOUNTS,
    Read.ACCOUNTS,
    Read.TEXTS,
    Read.S3_DESTINATIONS,
    Read.S3_ACCOUNTS,
}

KeyIndex = Mapping[str, tuple[str, str]]
"""KMS key id or ARN -> (key_manager, origin), built from the KMS keys the probe saw."""


class AwsProbe:
    """Inventories one AWS account (the session's) across its regions and data services.

    `collect` raises ProbeError only when the account cannot be identified at all; a service or
    region that cannot be seen becomes a Gap and every other scope is still collected.
    """

    def __init__(
        self,
        source: AwsSource,
        session: boto3.Session,
        *,
        name: str = "aws",
        clock: Clock = utc_now,
        max_workers: int = 8,
        classification_tag: str = "DataClassification",
        client_config: Config = CLIENT_CONFIG,
        account_asset: bool = True,
    ) -> None:
        self.name = name  # "aws:<source>" in a scan, so a source that cannot start is named
        self.source = source
        self.session = session
        self.clock = clock
        self.max_workers = max(1, max_workers)
        self.classification_tag = classification_tag
        self.client_config = client_config
        self.services: tuple[ServiceSpec, ...] = SERVICES
        # An Organization scan makes each member's aws.account asset from what it read there.
        self.account_asset = account_asset

    def collect(self) -> Iterator[Asset | Gap]:
        """Every asset (sorted by id), then every gap (sorted), of the session's account."""
        clients = _Clients(self.session, self.client_config)
        account, partition = _identify(clients, self.session)
        ctx = _Context(
            account, partition, self.clock(), self.classification_tag, clients, _Unanswered()
        )
        regions, gaps = _regions(ctx, self.source.regions)
        assets: list[Asset] = []
        if self.account_asset:
            assets.append(lone_account_asset(account, partition, ctx.observed_at))
        with (
            ThreadPoolExecutor(self.max_workers, thread_name_prefix="sovscan-aws") as tasks,
            ThreadPoolExecutor(self.max_workers, thread_name_prefix="sovscan-aws-item") as items,
        ):
            # KMS keys first: every other service reports who manages the key that encrypts it.
            key_specs = [spec for spec in self.services if spec.key_source]
            keys: dict[str, tuple[str, str]] = {}
            for result in _run(tasks, items, ctx, key_specs, regions, {}):
                assets.extend(result.assets)
                gaps.extend(result.gaps)
                keys.update(result.keys)
            others = [spec for spec in self.services if not spec.key_source]
            for result in _run(tasks, items, ctx, others, regions, keys):
                assets.extend(result.assets)
                gaps.extend(result.gaps)
        yield from sorted({asset.id: asset for asset in assets}.values(), key=lambda a: a.id)
        yield from sorted(set(gaps), key=lambda g: (g.scope, g.reason))


class AwsOrganizationProbe:
    """Inventories every active account of an AWS Organization from its management account.

    Each member account is scanned by an AwsProbe through `role_name` (with `external_id`),
    a few accounts at a time; each account also becomes an `aws.account` asset with its OU and
    whether an SCP region guardrail reaches it. An account whose role cannot be assumed is a
    Gap. Raises ProbeError only when the organization's accounts cannot be listed.
    """

    def __init__(
        self,
        source: AwsSource,
        session: boto3.Session,
        *,
        role_name: str,
        name: str = "aws",
        external_id: str | None = None,
        clock: Clock = utc_now,
        max_workers: int = 8,
        max_accounts: int = 4,
        classification_tag: str = "DataClassification",
        services: tuple[ServiceSpec, ...] = SERVICES,
        client_config: Config = CLIENT_CONFIG,
    ) -> None:
        self.name = name
        self.source = source
        self.session = session
        self.services = services
        self.client_config = client_config
        self.role_name = role_name
        self.external_id = external_id
        self.clock = clock
        self.max_workers = max(1, max_workers)
        self.max_accounts = max(1, max_accounts)
        self.classification_tag = classification_tag

    def collect(self) -> Iterator[Asset | Gap]:
        """Every account's assets and `aws.account` assets (sorted by id), then every gap."""
        observed = self.clock()
        caller, partition = _identify(_Clients(self.session, self.client_config), self.session)
        organization = read_organization(self.session)
        assets = [account_asset(account, partition, observed) for account in organization.accounts]
        gaps = list(organization.gaps)
        with ThreadPoolExecutor(self.max_accounts, thread_name_prefix="sovscan-account") as pool:
            futures = [
                pool.submit(self._scan_account, account, caller, observed)
                for account in organization.accounts
            ]
            for future in futures:
                for item in future.result():
                    if isinstance(item, Gap):
                        gaps.append(item)
                    else:
                        assets.append(item)
        yield from sorted({asset.id: asset for asset in assets}.values(), key=lambda a: a.id)
        yield from sorted(set(gaps), key=lambda g: (g.scope, g.reason))

    def _scan_account(
        self, account: MemberAccount, caller: str, observed: datetime
    ) -> list[Asset | Gap]:
        try:
            session = (
                self.session
                if account.id == caller
                else member_session(
                    self.session, account.id, self.role_name, external_id=self.external_id
                )
            )
            probe = AwsProbe(
                self.source,
                session,
                clock=lambda: observed,
                max_workers=self.max_workers,
                classification_tag=self.classification_tag,
                client_config=self.client_config,
                account_asset=False,
            )
            probe.services = self.services
            return list(probe.collect())
        except ProbeError as exc:
            return [Gap(f"aws:{account.id}", bounded(str(exc)))]


def account_asset(account: MemberAccount, partition: str, observed_at: datetime) -> Asset:
    """The `aws.account` asset: name, OU path and SCP region guardrail of one account."""
    attributes: dict[str, AttrValue] = {
        "provider": "aws",
        "partition": partition,
        "account": account.id,
        "account_name": account.name,
        "management": account.management,
    }
    if account.path:
        attributes["ou"] = account.path[-1].name
        attributes["ou_id"] = account.path[-1].id
        attributes["ou_path"] = tuple(unit.name for unit in account.path)
    listed = Evidence(
        "aws:organizations:ListAccounts", f"account {account.id}", observed_at, Confidence.HIGH
    )
    evidence = [listed]
    if account.management:
        # SCPs never restrict the management account, whatever is attached.
        attributes["region_guardrail"] = False
    elif account.scps is not None:
        guardrail = account_guardrail(account.scps)
        attributes["region_guardrail"] = guardrail.present
        if guardrail.present:
            attributes["guardrail_regions"] = guardrail.allowed_regions
            attributes["guardrail_policies"] = tuple(
                sorted({g.policy for g in guardrail.guardrails})
            )
        detail = f"{len(account.scps)} SCPs attached on the path of {account.id}"
        evidence.append(
            Evidence("aws:organizations:DescribePolicy", detail, observed_at, Confidence.HIGH)
        )
    return Asset(
        id=f"aws:{account.id}:account",
        kind="aws.account",
        name=bounded(account.name or account.id, 200),
        attributes=attributes,
        evidence=tuple(evidence),
    )


def lone_account_asset(account: str, partition: str, observed_at: datetime) -> Asset:
    """The `aws.account` asset of an account scanned on its own: its region guardrail stays
    unknown, since SCPs can only be read from the Organization's management account."""
    detail = (
        f"account {account}; the service control policies that may restrict its regions are "
        "read from the Organization's management account (member_role), not from the account"
    )
    return Asset(
        id=f"aws:{account}:account",
        kind="aws.account",
        name=account,
        attributes={"provider": "aws", "partition": partition, "account": account},
        evidence=(Evidence("aws:sts:GetCallerIdentity", detail, observed_at, Confidence.HIGH),),
    )


class _Clients:
    """One client per (service, region), created under a lock: boto3 sessions are not
    thread-safe, while the clients they make are."""

    def __init__(self, session: boto3.Session, config: Config = CLIENT_CONFIG) -> None:
        self._session = session
        self._config = config
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Any] = {}

    def get(self, service: str, region: str) -> Any:
        with self._lock:
            client = self._cache.get((service, region))
            if client is None:
                client = self._session.client(  # type: ignore[call-overload]
                    service, region_name=region, config=self._config
                )
                self._cache[(service, region)] = client
            return client


class _Unanswered:
    """The services of each region whose endpoint did not answer, shared by the scan's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: dict[str, set[str]] = {}

    def record(self, region: str, service: str) -> None:
        with self._lock:
            self._services.setdefault(region, set()).add(service)

    def unreachable(self, region: str) -> bool:
        with self._lock:
            return len(self._services.get(region, ())) >= _UNREACHABLE_AFTER


@dataclass(frozen=True, slots=True)
class _Context:
    """What every task of one account scan shares."""

    account: str
    partition: str
    observed_at: datetime
    tag_key: str
    clients: _Clients
    unanswered: _Unanswered

    @property
    def global_region(self) -> str:
        return GLOBAL_REGIONS.get(self.partition, "us-east-1")

    def gap(self, region: str, service: str, exc: Exception, client: Any, method: str) -> Gap:
        return Gap(f"aws:{self.account}:{region}:{service}", error_reason(exc, client, method))


@dataclass(frozen=True, slots=True)
class _Result:
    assets: tuple[Asset, ...]
    gaps: tuple[Gap, ...]
    keys: Mapping[str, tuple[str, str]]


def error_reason(exc: Exception, client: Any, method: str) -> str:
    """`<error code>: <iam prefix>:<Operation>`; never the message, which can name principals."""
    prefix = client.meta.service_model.signing_name
    operation = client.meta.method_to_api_mapping.get(method, method)
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code") or "ClientError")
        operation = exc.operation_name or operation
    else:
        code = type(exc).__name__
    return bounded(f"{code}: {prefix}:{operation}", 200)


def _identify(clients: _Clients, session: boto3.Session) -> tuple[str, str]:
    region = session.region_name or "us-east-1"
    sts = clients.get("sts", region)
    try:
        identity = sts.get_caller_identity()
    except AWS_ERRORS as exc:
        raise ProbeError(
            f"aws: cannot identify the account ({error_reason(exc, sts, 'get_caller_identity')})"
        ) from None
    arn = str(identity.get("Arn", ""))
    partition = arn.split(":")[1] if arn.count(":") >= 5 else "aws"
    return str(identity["Account"]), partition


def _regions(ctx: _Context, configured: tuple[str, ...] | None) -> tuple[list[str], list[Gap]]:
    """The regions to scan: the configured ones that are enabled, or every enabled region."""
    ec2 = ctx.clients.get("ec2", ctx.global_region)
    try:
        answer = ec2.describe_regions()
    except AWS_ERRORS as exc:
        gap = ctx.gap("*", "ec2", exc, ec2, "describe_regions")
        # Unknown which are enabled: try the configured ones; each failure will be its own gap.
        return sorted(configured or ()), [gap]
    enabled = {
        str(region["RegionName"])
        for region in answer.get("Regions", [])
        if region.get("OptInStatus", "opt-in-not-required") in _ENABLED
    }
    if configured is None:
        return sorted(enabled), []
    gaps = [
        Gap(f"aws:{ctx.account}:{region}:*", "RegionNotEnabled: the region is not enabled")
        for region in configured
        if region not in enabled
    ]
    return sorted(region for region in configured if region in enabled), gaps


def _run(
    tasks: Executor,
    items: Executor,
    ctx: _Context,
    specs: Iterable[ServiceSpec],
    regions: list[str],
    keys: KeyIndex,
) -> list[_Result]:
    futures: list[Future[_Result]] = []
    for spec in specs:
        scan_regions = [ctx.global_region] if spec.scope is Scope.GLOBAL else regions
        futures.extend(
            tasks.submit(_scan_service, ctx, spec, region, keys, items) for region in scan_regions
        )
    return [future.result() for future in futures]


def _scan_service(
    ctx: _Context, spec: ServiceSpec, region: str, keys: KeyIndex, items: Executor
) -> _Result:
    """One service in one region (or once, for a global service)."""
    scope_region = "global" if spec.scope is Scope.GLOBAL else region
    client = ctx.clients.get(spec.client, region)
    if ctx.unanswered.unreachable(region):
        operation = client.meta.method_to_api_mapping.get(spec.list_call, spec.list_call)
        reason = (
            f"RegionUnreachable: {client.meta.service_model.signing_name}:{operation} not tried; "
            f"{_UNREACHABLE_AFTER} or more services in {region} did not answer"
        )
        return _Result((), (Gap(f"aws:{ctx.account}:{scope_region}:{spec.service}", reason),), {})
    try:
        listed = list(_list_items(client, spec))
    except Exception as exc:  # a probe boundary: one service, one region, one gap
        if isinstance(exc, _UNANSWERED):
            ctx.unanswered.record(region, spec.service)
        if not isinstance(exc, AWS_ERRORS):
            logger.debug("aws %s in %s failed", spec.service, region, exc_info=True)
        return _Result((), (ctx.gap(scope_region, spec.service, exc, client, spec.list_call),), {})
    if spec.owner_key is not None:
        listed = [item for item in listed if _owned_by(item, spec.owner_key, ctx.account)]
    futures = [items.submit(_details, ctx, spec, region, item) for item in listed]
    detailed = [future.result() for future in futures]
    gaps = tuple(gap for _, item_gaps in detailed for gap in item_gaps)
    merged = [item for item, _ in detailed]
    regions_by_id = {
        str(dig(item, spec.id_key)): _item_region(spec, item, region) for item in merged
    }
    own_keys = _key_index(merged) if spec.key_source else {}
    all_keys = {**keys, **own_keys}
    assets = tuple(
        _asset(ctx, spec, item, region, all_keys, regions_by_id, complete=not item_gaps)
        for item, item_gaps in detailed
    )
    return _Result(assets, gaps, own_keys)


def _owned_by(item: dict[str, Any], owner_key: str, account: str) -> bool:
    # An item without an owner is kept: only a stated foreign owner excludes it.
    owner = dig(item, owner_key)
    return owner is None or str(owner) == account


def _list_items(client: Any, spec: ServiceSpec) -> Iterator[dict[str, Any]]:
    params = {name: _param(value) for name, value in spec.list_params}
    if spec.paginated and client.can_paginate(spec.list_call):
        pages: Iterable[Any] = client.get_paginator(spec.list_call).paginate(**params)
    else:
        pages = [getattr(client, spec.list_call)(**params)]
    for page in pages:
        for item in dig(page, spec.items) or ():
            if spec.wrap is not None:
                yield {spec.wrap: item}
            elif isinstance(item, dict):
                yield item


def _param(value: str | bool | tuple[str, ...]) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _details(
    ctx: _Context, spec: ServiceSpec, listed_region: str, item: dict[str, Any]
) -> tuple[dict[str, Any], list[Gap]]:
    """The item with the answer of each detail call merged in, and a gap per failed call.

    A failed call leaves its key absent (unknown); a `missing_ok` error stores None (absent).
    """
    merged = dict(item)
    gaps: list[Gap] = []
    for call in spec.details:
        region = _item_region(spec, merged, listed_region)
        client = ctx.clients.get(spec.client, region)
        try:
            answer = getattr(client, call.operation)(**_call_params(call, merged))
            value = dig(answer, call.result)
        except ClientError as exc:
            if _error_code(exc) not in call.missing_ok:
                gaps.append(ctx.gap(region, spec.service, exc, client, call.operation))
                continue
            value = None
        except Exception as exc:  # a probe boundary: one call, one gap
            logger.debug("aws %s %s failed", spec.service, call.operation, exc_info=True)
            gaps.append(ctx.gap(region, spec.service, exc, client, call.operation))
            continue
        if call.into:
            merged[call.into] = value
        elif isinstance(value, dict):
            merged.update(value)
    return merged, gaps


def _call_params(call: Call, item: Mapping[str, Any]) -> dict[str, Any]:
    params = {name: dig(item, path) for name, path in call.params}
    params.update((name, _param(value)) for name, value in call.fixed)
    return params


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _item_region(spec: ServiceSpec, item: Mapping[str, Any], listed_region: str) -> str:
    if spec.location is None or spec.location not in item:
        return listed_region
    return s3_region(item[spec.location])


def s3_region(constraint: object) -> str:
    """GetBucketLocation's LocationConstraint as a region: None or "" is us-east-1, "EU" is
    eu-west-1 (both legacy answers the API still gives)."""
    if not constraint:
        return "us-east-1"
    text = str(constraint)
    return "eu-west-1" if text == "EU" else text


def dig(value: Any, path: str) -> Any:
    """The value at `path` (dotted keys; `Key[]` flattens a list; `@` is the value itself)."""
    if path in {"", "@"}:
        return value
    head, _, rest = path.partition(".")
    flatten = head.endswith("[]")
    key = head[:-2] if flatten else head
    if key:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    if not flatten:
        return dig(value, rest) if rest else value
    if not isinstance(value, list):
        return None
    found: list[Any] = []
    for element in value:
        inner = dig(element, rest)
        if isinstance(inner, list) and "[]" in rest:
            found.extend(inner)
        elif inner is not None:
            found.append(inner)
    return found


def _key_index(items: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    index: dict[str, tuple[str, str]] = {}
    for item in items:
        origin = str(item.get("Origin") or "")
        if item.get("KeyManager") == "AWS":
            manager = "aws-managed"
        elif item.get("KeyManager") == "CUSTOMER":
            manager = _KEY_MANAGERS.get(origin, "")
            if not manager:
                continue  # an origin this table does not know: leave the key unknown
        else:
            continue  # describe_key failed: leave the key unknown
        for ref in (item.get("KeyId"), item.get("Arn"), item.get("KeyArn")):
            if ref:
                index[str(ref)] = (manager, origin)
    return index


def key_facts(ref: str, keys: KeyIndex) -> dict[str, AttrValue]:
    """`key_manager` and `kms_key_origin` of the KMS key `ref` names; empty when the key was
    not seen (another account or region, or DescribeKey denied): unknown, never a value that
    a rule could read as "not provider-held"."""
    found = keys.get(ref) or keys.get(ref.rsplit("key/", 1)[-1])
    if found is not None:
        return {"key_manager": found[0], "kms_key_origin": found[1]}
    if "alias/aws/" in ref:
        # alias/aws/<service> always names the AWS-managed key of that service.
        return {"key_manager": "aws-managed", "kms_key_origin": "AWS_KMS"}
    return {}


def _asset(
    ctx: _Context,
    spec: ServiceSpec,
    item: Mapping[str, Any],
    listed_region: str,
    keys: KeyIndex,
    regions_by_id: Mapping[str, str],
    *,
    complete: bool,
) -> Asset:
    raw_id = str(dig(item, spec.id_key))
    short_id = _short_id(raw_id)
    attributes: dict[str, AttrValue] = {
        "provider": "aws",
        "partition": ctx.partition,
        "account": ctx.account,
    }
    evidence = [_evidence(ctx, spec, spec.list_call, f"listed {short_id}", listed_region)]
    if spec.edge:
        # "GLOBAL" is AWS's pseudo-region for its anycast edge (ip-ranges.json), which the
        # region table maps to "global edge, no single country".
        attributes["region"] = EDGE_REGION
        attributes["edge"] = True
        asset_id = f"aws:{ctx.account}:{spec.service}:global:{spec.id_prefix}{short_id}"
    else:
        region = _item_region(spec, item, listed_region)
        attributes["region"] = region
        if spec.location is not None and spec.location in item:
            detail = f"LocationConstraint={item[spec.location]!s} -> {region}"
            evidence.append(_evidence(ctx, spec, "get_bucket_location", detail, region))
        if spec.scope is Scope.GLOBAL:
            asset_id = f"aws:{ctx.account}:{spec.service}:{spec.id_prefix}{short_id}"
        else:
            asset_id = f"aws:{ctx.account}:{spec.service}:{region}:{spec.id_prefix}{short_id}"
    attributes.update(_tags(item, spec, ctx.tag_key))
    attributes.update(_encryption(item, spec, keys, complete=complete))
    if spec.key_source:
        attributes.update(key_facts(raw_id, keys))
    region_now = str(attributes.get("region", listed_region))
    for fact in spec.facts:
        _add_fact(attributes, fact, item, ctx, region_now, regions_by_id, complete=complete)
    name = dig(item, spec.name_key) if spec.name_key else None
    return Asset(
        id=bounded(asset_id, 400),
        kind=spec.kind,
        name=bounded(str(name or short_id), 200),
        attributes=attributes,
        evidence=tuple(evidence),
    )


def _short_id(raw: str) -> str:
    # Route 53 ids are "/hostedzone/Z..", SNS ids ARNs and SQS ids URLs: keep the last segment.
    if raw.startswith(("/hostedzone/", "arn:", "https://", "http://")):
        return raw.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return raw


def _evidence(ctx: _Context, spec: ServiceSpec, method: str, detail: str, region: str) -> Evidence:
    client = ctx.clients.get(spec.client, region)
    operation = client.meta.method_to_api_mapping.get(method, method)
    return Evidence(
        source=f"aws:{spec.client}:{operation}",
        detail=bounded(f"{detail} ({region})"),
        observed_at=ctx.observed_at,
        confidence=Confidence.HIGH,
    )


def _tags(item: Mapping[str, Any], spec: ServiceSpec, tag_key: str) -> dict[str, AttrValue]:
    """The classification tag, the one tag sovscan reads, as `tag:<key>` and `classification`.

    Every other tag is dropped here, before anything can store or show it: tags hold owners'
    names, e-mail addresses, cost centres and, now and then, keys. A value that is not a label
    or looks like a credential is withheld as `<redacted>` (see `classification_label`).
    """
    raw = dig(item, spec.tags) if spec.tags else None
    tags = normalize_tags(raw)
    key = tag_key if tag_key in tags else None
    if key is None:  # tag keys are case-sensitive in AWS, but people spell them differently
        key = next((k for k in sorted(tags) if k.lower() == tag_key.lower()), None)
    if key is None:
        return {}
    value = tags[key].strip()
    if not value:
        return {f"tag:{bounded(key, 128)}": ""}
    label = classification_label(value)
    return {
        f"tag:{bounded(key, 128)}": value if label != REDACTED else REDACTED,
        "classification": label,
    }


REDACTED = "<redacted>"
"""What a withheld classification tag value becomes. Not a label a policy can list (they are
`[a-z0-9][a-z0-9_-]*`), so it is never taken as public: an unknown label counts as sensitive."""

_LABEL = re.compile(r"[a-z0-9][a-z0-9 _-]{0,39}")
_CREDENTIAL_PREFIX = re.compile(
    # AWS access key ids, GitHub, GitLab and Slack tokens, Stripe-style and Google API keys.
    r"(?:^|[\s_-])(?:(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{12}"
    r"|(?:gh[pousr]|github_pat)_\w{8}|glpat-|xox[abposr]-|(?:sk|rk|pk)_(?:live|test)_|AIza\w{8})",
)
_RUN = re.compile(r"[A-Za-z0-9]+")


def classification_label(value: str) -> str:
    """A classification tag's value as a label (lowercased), or REDACTED when it is not one.

    A label is up to 40 letters, digits, spaces, `_` or `-` ("personal", "Protected B"); an
    e-mail address, a URL, `key=value` text or anything longer is withheld. So is a label-shaped
    value that looks like a credential or an identifier: a known key prefix (`AKIA...`, `ghp_`),
    a run of 8 or more digits, or a run of 8 or more characters that switches between letters
    and digits 3 times or more (`q7x4k2w1`), as random keys do and words do not.
    """
    label = value.strip().lower()
    if not _LABEL.fullmatch(label) or _CREDENTIAL_PREFIX.search(value):
        return REDACTED
    for run in _RUN.findall(value):
        switches = sum(a.isdigit() != b.isdigit() for a, b in pairwise(run))
        if len(run) >= 8 and (run.isdigit() or switches >= 3):
            return REDACTED
    return label


def normalize_tags(raw: object) -> dict[str, str]:
    """Tags in any of AWS's shapes ({Key, Value} lists in any case, TagKey/TagValue, or a dict)."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    tags: dict[str, str] = {}
    if isinstance(raw, list):
        for entry in raw:
            if not isinstance(entry, Mapping):
                continue
            key = entry.get("Key", entry.get("key", entry.get("TagKey")))
            value = entry.get("Value", entry.get("value", entry.get("TagValue", "")))
            if key is not None:
                tags[str(key)] = str(value)
    return tags


def _encryption(
    item: Mapping[str, Any], spec: ServiceSpec, keys: KeyIndex, *, complete: bool
) -> dict[str, AttrValue]:
    key = dig(item, spec.kms_key) if spec.kms_key else None
    if isinstance(key, list):
        key = next((k for k in key if k), None)
    if key:
        return {"encryption": "kms", **key_facts(str(key), keys)}
    if spec.encrypted is not None:
        flag = dig(item, spec.encrypted)
        if flag is None and not complete:
            return {}  # a detail call failed: unknown
        if not _truthy(flag):  # AWS omits the setting when it is off (SNS, SQS)
            return {"encryption": "none"}
    elif spec.default_key is None:
        return {}
    if spec.default_key is None:
        return {"encryption": "kms"}  # whose key is unknown
    encryption = "sse" if spec.default_key == "aws-owned" else "kms"
    return {"encryption": encryption, "key_manager": spec.default_key}


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in {"", "false", "disabled", "none", "0"}
    if isinstance(value, list):
        return any(_truthy(v) for v in value)
    return bool(value)


def _add_fact(
    attributes: dict[str, AttrValue],
    fact: Fact,
    item: Mapping[str, Any],
    ctx: _Context,
    region: str,
    regions_by_id: Mapping[str, str],
    *,
    complete: bool,
) -> None:
    if fact.read is Read.S3_PUBLIC:
        value: AttrValue | None = _s3_public(item)
    else:
        raw = dig(item, fact.path)
        if fact.read is Read.S3_DESTINATIONS and any(
            _short_id(str(arn)) not in regions_by_id for arn in raw or ()
        ):
            return  # a destination bucket outside this account's listing: region unknown
        value = _read(fact.read, raw, ctx, region, regions_by_id)
        if value is None and complete and fact.read in _LIST_READS:
            # Every call answered and the list is absent: AWS omits empty lists, so it is known
            # to be empty (no replica), not unknown.
            value = ()
    if value is None:
        return
    previous = attributes.get(fact.name)
    if isinstance(previous, tuple) and isinstance(value, tuple):
        value = tuple(sorted(set(previous) | set(value)))
    attributes[fact.name] = value


def _read(
    read: Read, raw: Any, ctx: _Context, region: str, regions_by_id: Mapping[str, str]
) -> AttrValue | None:
    if read is Read.PRESENT:
        return bool(raw)
    if raw is None:
        return None
    if read is Read.TEXT:
        return bounded(str(raw))
    if read is Read.COPIED_FROM:
        copied = _COPIED.search(str(raw))
        return copied.group(1) if copied else None
    if read is Read.BOOL:
        return _truthy(raw)
    if read in {Read.RESTORE_PUBLIC, Read.RESTORE_ACCOUNTS}:
        raw = _restore_values(raw)
        read = Read.PUBLIC_GROUP if read is Read.RESTORE_PUBLIC else Read.ACCOUNTS
    values = [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]
    if read is Read.PUBLIC_GROUP:
        return "all" in values
    if read is Read.ARN_REGIONS:
        values = [_arn_part(v, 3, region) for v in values]
    elif read is Read.ARN_ACCOUNTS:
        values = [_arn_part(v, 4, ctx.account) for v in values]
    elif read is Read.S3_DESTINATIONS:
        values = [_bucket_region(v, regions_by_id) for v in values]
    elif read is Read.S3_ACCOUNTS:
        values = [str(dest.get("Account") or ctx.account) for dest in raw if isinstance(dest, dict)]
    elif read is Read.ACCOUNTS:
        values = [v for v in values if v != "all"]
    return tuple(sorted({bounded(v, 200) for v in values if v}))


def _restore_values(attributes: object) -> list[str]:
    # DescribeDBSnapshotAttributes: [{AttributeName: "restore", AttributeValues: [...]}, ...]
    if not isinstance(attributes, list):
        return []
    return [
        str(value)
        for attribute in attributes
        if isinstance(attribute, Mapping) and attribute.get("AttributeName") == "restore"
        for value in attribute.get("AttributeValues") or ()
    ]


def _arn_part(value: str, index: int, plain: str) -> str:
    """Field `index` of an ARN (3: region, 4: account); `plain` for a bare id, which AWS uses
    for resources in the caller's own region and account. A malformed ARN gives ""."""
    if not value.startswith("arn:"):
        return plain
    parts = value.split(":")
    return parts[index] if len(parts) > 5 else ""


def _bucket_region(arn: str, regions_by_id: Mapping[str, str]) -> str:
    return regions_by_id[_short_id(arn)]


def _s3_public(item: Mapping[str, Any]) -> bool | None:
    block = item.get("PublicAccessBlock") or {}
    if block.get("BlockPublicPolicy") and block.get("RestrictPublicBuckets"):
        policy_public: object = False
    else:
        policy_public = item.get("PolicyPublic")
    if block.get("BlockPublicAcls") and block.get("IgnorePublicAcls"):
        acl_public: bool | None = False
    elif "Grantees" in item:
        grantees = item.get("Grantees") or []
        acl_public = any(g.get("URI") in _PUBLIC_GRANTEES for g in grantees if isinstance(g, dict))
    else:
        acl_public = None
    if policy_public is True or acl_public:
        return True
    if "PolicyPublic" in item and acl_public is False:
        return False
    return None
