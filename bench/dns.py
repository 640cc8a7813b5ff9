"""DNS workload: synthetic institution domains served by NSD, sovscan's bulk path versus peers.

The parent generates the estate (bench.dnsgen), starts Debian's NSD on 127.0.0.1 (one zone per
domain, rate limiting off, pinned to core 0) and measures each contender in fresh processes on
core 1. Every contender writes its answers to the 7-query mix; any answer differing from the
generator's ground truth fails the contender. dnsperf replays the same query list as the
server's ceiling. Contenders import their libraries inside their own function so that each
child's peak memory holds only what that contender needs.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.dnsgen import QUERIES_PER_DOMAIN, canon, domain_name, generate
from bench.harness import Report, check, fail, measure, pinned, ratio

# Domain counts per size; the 100k point runs sovscan and dnsperf only at the default size.
SIZES = {"quick": (1_000,), "default": (1_000, 10_000, 100_000), "full": (1_000, 10_000, 100_000)}
PEERS_UP_TO = {"quick": 1_000, "default": 10_000, "full": 100_000}
# The CLI's whole scan (about 36 questions a domain, the JSON report): 16 s per 1,000 domains in
# bulk, 45 s one question at a time.
CLI_UP_TO = {"quick": 1_000, "default": 1_000, "full": 10_000}
DNSPYTHON_SAMPLE = 1_500  # sequential dnspython runs ~1k q/s: its rate is measured on a prefix
SERVER_CORE = "0"
PORT = 15353
_TXT_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass
class Nsd:
    """A running NSD process group we started."""

    process: subprocess.Popen[bytes]
    port: int
    start_s: float

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_nsd(root: Path, port: int, probe: str) -> Nsd:
    """NSD on 127.0.0.1:`port` serving `root/zones.conf`; waits until `probe` answers."""
    conf = root / "nsd.conf"
    conf.write_text(
        "server:\n"
        f"  ip-address: 127.0.0.1@{port}\n"
        f"  port: {port}\n"
        "  server-count: 1\n"
        '  database: ""\n'
        '  username: ""\n'
        f'  zonesdir: "{root}"\n'
        f'  pidfile: "{root}/nsd.pid"\n'
        f'  logfile: "{root}/nsd.log"\n'
        f'  xfrdfile: "{root}/xfrd.state"\n'
        f'  xfrdir: "{root}"\n'
        f'  zonelistfile: "{root}/zone.list"\n'
        "  do-ip6: no\n"
        "  verbosity: 0\n"
        "  minimal-responses: no\n"
        "  tcp-count: 64\n"
        # Debian's NSD limits responses per second by default: measure the server, not the limiter.
        "  rrl-ratelimit: 0\n"
        "  rrl-whitelist-ratelimit: 0\n"
        "remote-control:\n"
        "  control-enable: no\n"
        f'include: "{root}/zones.conf"\n',
        encoding="utf-8",
    )
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - Debian's nsd with our own config file
        pinned(["nsd", "-d", "-c", str(conf)], SERVER_CORE),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so stop() ends exactly what we started
    )
    server = Nsd(process, port, 0.0)
    from sovscan.probes import dnswire

    query = dnswire.encode_query(1, probe, dnswire.SOA)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.perf_counter() - started < 300:
            if process.poll() is not None:
                log = (root / "nsd.log").read_text(encoding="utf-8", errors="replace")[-500:]
                raise RuntimeError(f"nsd exited {process.returncode}: {log}")
            try:
                sock.sendto(query, ("127.0.0.1", port))
                if dnswire.decode_response(sock.recv(4096)).answer:
                    server.start_s = time.perf_counter() - started
                    return server
            except (TimeoutError, ConnectionRefusedError, dnswire.WireError):
                time.sleep(0.1)
    server.stop()
    raise RuntimeError("nsd did not answer within 300 s")


# --- answers in canonical form -------------------------------------------------------------------


def _questions(path: Path, limit: int | None) -> Iterator[tuple[str, str]]:
    with path.open(encoding="utf-8") as lines:
        for i, line in enumerate(lines):
            if limit is not None and i >= limit:
                return
            name, rdtype = line.split()
            yield name, rdtype


def _record_text(rdtype: int, data: object) -> str:
    if rdtype == 15 and isinstance(data, tuple):  # MX
        return f"{data[0]} {str(data[1]).lower()}"
    if rdtype == 16 and isinstance(data, tuple):  # TXT: the strings of one record, joined
        return b"".join(data).decode("utf-8", "replace")
    if rdtype in (2, 5):  # NS, CNAME
        return str(data).lower()
    return str(data)


def _presentation_value(rdtype: str, text: str) -> str:
    """A record in presentation format (dnspython, BlastDNS) in the same canonical form."""
    if rdtype == "TXT":
        if not text.startswith('"'):  # BlastDNS gives the text itself, without quotes
            return text
        return "".join(s.replace('\\"', '"').replace("\\\\", "\\") for s in _TXT_RE.findall(text))
    return text.rstrip(".").lower()


# --- contenders ----------------------------------------------------------------------------------


def _run_sovscan(spec: Mapping[str, Any], out: Any) -> dict[str, float]:
    from sovscan.probes.bulkdns import BulkResolver
    from sovscan.probes.dnswire import TYPE_CODES, TYPE_NAMES

    resolver = BulkResolver("127.0.0.1", int(spec["port"]), window=int(spec.get("window", 512)))
    questions = ((n, TYPE_CODES[t]) for n, t in _questions(Path(spec["queries"]), None))
    started = time.perf_counter()
    for r in resolver.resolve(questions, remember=False):
        if r.status in ("error", "timeout"):
            out.write(f"{r.name} {TYPE_NAMES[r.rdtype]} !{r.status}\n")
            continue
        values = [_record_text(rec.rdtype, rec.data) for rec in r.records]
        out.write(f"{r.name} {TYPE_NAMES[r.rdtype]} {canon(values)}\n")
    seconds = time.perf_counter() - started
    stats = resolver.stats
    return {"seconds": seconds, "retransmits": stats.retransmits, "timeouts": stats.timeouts}


def _run_e2e(spec: Mapping[str, Any], out: Any) -> dict[str, float]:
    """Probe → resolve → evaluate → report, streamed in batches of domains."""
    import json

    from bench.rules import POLICY
    from sovscan.engine import default_rules_dir, evaluate, load_rules
    from sovscan.probes.bulkdns import BulkResolver, Result
    from sovscan.probes.dnswire import TYPE_CODES, TYPE_NAMES
    from sovscan.resolve import load_knowledge, resolve_all

    n = int(spec["n"])
    batch = 2_000
    started = time.perf_counter()
    kb = load_knowledge()
    ruleset = load_rules(default_rules_dir())
    load_s = time.perf_counter() - started
    resolver = BulkResolver("127.0.0.1", int(spec["port"]), window=int(spec.get("window", 512)))
    A = TYPE_CODES["A"]
    findings = assets_total = 0
    report = Path(spec["answers"]).with_suffix(".findings.jsonl").open("w", encoding="utf-8")
    for first in range(0, n, batch):
        domains = [domain_name(i) for i in range(first, min(n, first + batch))]
        mix = [(d, TYPE_CODES[t]) for d in domains for t in ("A", "AAAA", "MX", "NS", "TXT")]
        mix += [(f"www.{d}", A) for d in domains] + [
            (f"_dmarc.{d}", TYPE_CODES["TXT"]) for d in domains
        ]
        got: dict[tuple[str, int], Result] = {}
        hosts: set[str] = set()
        for r in resolver.resolve(mix, remember=False):
            got[(r.name, r.rdtype)] = r
            values = [_record_text(rec.rdtype, rec.data) for rec in r.records]
            shown = f"!{r.status}" if r.status in ("error", "timeout") else canon(values)
            out.write(f"{r.name} {TYPE_NAMES[r.rdtype]} {shown}\n")
            if r.rdtype in (TYPE_CODES["MX"], TYPE_CODES["NS"]):
                for value in r.values():
                    host = value[1] if isinstance(value, tuple) else value
                    hosts.add(str(host).lower())
        addresses: dict[str, tuple[str, ...]] = {}
        wanted = []
        for host in hosts:
            cached = resolver.submit(host, A)
            if cached is not None:
                addresses[host] = tuple(str(v) for v in cached.values())
            else:
                wanted.append((host, A))
        # submit() queued the misses; resolve() asks them (its own list is empty).
        for r in resolver.resolve(()):
            addresses[r.name] = tuple(str(v) for v in r.values())
        del wanted
        assets = _assets(domains, got, addresses, TYPE_CODES)
        resolved = resolve_all(assets, kb)
        found = evaluate(ruleset, resolved, POLICY)
        assets_total += len(assets)
        findings += len(found)
        for f in found:
            report.write(json.dumps([f.rule_id, f.asset_id, f.status.value]) + "\n")
    report.close()
    seconds = time.perf_counter() - started
    stats = resolver.stats
    return {
        "seconds": seconds,
        "knowledge_load_s": load_s,
        "assets": assets_total,
        "findings": findings,
        "followup_queries": stats.sent - stats.retransmits - n * QUERIES_PER_DOMAIN,
        "retransmits": stats.retransmits,
        "timeouts": stats.timeouts,
    }


def _assets(
    domains: list[str], got: Mapping[tuple[str, int], Any], addresses: Mapping[str, Any], codes: Any
) -> list[Any]:
    """The assets the DNS probe would report, from the bulk answers."""
    from datetime import UTC, datetime

    from sovscan.model import Asset, Confidence, Evidence

    now = datetime.now(UTC)
    out = []
    for d in domains:
        ev = (Evidence("dns:bulk", d, now, Confidence.HIGH),)
        mx = got.get((d, codes["MX"]))
        for _, host in mx.values() if mx else ():
            h = str(host).lower()
            attrs = {"hostname": h, "addresses": addresses.get(h, ()), "domain": d}
            out.append(Asset(f"dns:{d}:mx:{h}", "dns.mx", h, attrs, ev))
        ns = got.get((d, codes["NS"]))
        for host in ns.values() if ns else ():
            h = str(host).lower()
            attrs = {"hostname": h, "addresses": addresses.get(h, ()), "domain": d}
            out.append(Asset(f"dns:{d}:ns:{h}", "dns.ns", h, attrs, ev))
        www = got.get((f"www.{d}", codes["A"]))
        if www and www.records:
            chain = tuple(str(c).lower() for c in www.values(codes["CNAME"]))
            attrs = {
                "hostname": f"www.{d}",
                "cname_chain": chain,
                "addresses": tuple(str(a) for a in www.values()),
                "domain": d,
            }
            out.append(Asset(f"dns:{d}:host:www.{d}", "dns.host", f"www.{d}", attrs, ev))
        dmarc = got.get((f"_dmarc.{d}", codes["TXT"]))
        if dmarc and dmarc.records:
            text = _record_text(codes["TXT"], dmarc.values()[0])
            out.append(Asset(f"dns:{d}:dmarc", "dns.dmarc", d, {"text": text, "domain": d}, ev))
    return out


def _run_cli(spec: Mapping[str, Any], out: Any) -> dict[str, float]:
    """`sovscan scan --domains` in this process, the product's whole path, its JSON report read
    back into the answers the gate checks (all of the mix but the apex TXT, which the probe turns
    into tokens and SPF)."""
    import json

    from sovscan.cli import cli

    n = int(spec["n"])
    work = Path(spec["answers"]).parent
    domains = [domain_name(i) for i in range(n)]
    (work / "cli-domains.txt").write_text("".join(d + "\n" for d in domains), encoding="utf-8")
    inventory = work / "cli-inventory.toml"
    live = "" if spec.get("bulk", True) else "[limits]\ndns_in_flight = 0\n"
    inventory.write_text(
        '[institution]\nname = "Bench"\nhome = "CA-QC"\nallowed_locations = ["CA-QC"]\n' + live,
        encoding="utf-8",
    )
    report = work / "cli-report.json"
    args = [
        "--quiet", "scan", "--config", str(inventory), "--domains", str(work / "cli-domains.txt"),
        "--nameserver", f"127.0.0.1:{spec['port']}", "--format", "json", "--output", str(report),
        "--no-store", "--fail-on", "never",
    ]  # fmt: skip
    code: object = 0
    started = time.perf_counter()
    try:
        cli.main(args, prog_name="sovscan")
    except SystemExit as exc:
        code = exc.code
    seconds = time.perf_counter() - started
    if code not in (0, 3):  # 3: partial, for the SPF includes the provider zone lacks
        raise RuntimeError(f"sovscan scan exited {code}")
    scan = json.loads(report.read_text(encoding="utf-8"))
    _write_cli_answers(domains, scan["assets"], out)
    return {"seconds": seconds, "assets": len(scan["assets"]), "gaps": len(scan["gaps"])}


def _write_cli_answers(domains: list[str], assets: list[Any], out: Any) -> None:
    by_id = {a["id"]: a["attributes"] for a in assets}
    mx: dict[str, list[str]] = {}
    ns: dict[str, list[str]] = {}
    for asset in assets:
        attributes, domain = asset["attributes"], asset["attributes"].get("domain", "")
        if asset["kind"] == "dns.mx":
            mx.setdefault(domain, []).append(f"{attributes['preference']} {attributes['hostname']}")
        elif asset["kind"] == "dns.ns":
            ns.setdefault(domain, []).append(attributes["hostname"])
    for d in domains:
        apex = by_id.get(f"dns:{d}:host:{d}", {}).get("addresses", [])
        www = by_id.get(f"dns:{d}:host:www.{d}", {})
        www_a = [a for a in www.get("addresses", []) if ":" not in a]
        dmarc = by_id.get(f"dns:{d}:dmarc", {}).get("text")
        out.write(f"{d} A {canon([a for a in apex if ':' not in a])}\n")
        out.write(f"{d} AAAA {canon([a for a in apex if ':' in a])}\n")
        out.write(f"{d} MX {canon(mx.get(d, []))}\n")
        out.write(f"{d} NS {canon(ns.get(d, []))}\n")
        out.write(f"www.{d} A {canon([*www.get('cname_chain', []), *www_a])}\n")
        out.write(f"_dmarc.{d} TXT {canon([dmarc] if dmarc else [])}\n")


def _run_dnspython(spec: Mapping[str, Any], out: Any) -> dict[str, float]:
    import dns.resolver

    from sovscan.dnsserver import make_resolver

    resolver = make_resolver("127.0.0.1", int(spec["port"]), timeout=2.0, lifetime=6.0)
    resolver.cache = None
    started = time.perf_counter()
    limit = spec.get("limit")
    for name, rdtype in _questions(Path(spec["queries"]), None if limit is None else int(limit)):
        try:
            answer = resolver.resolve(name, rdtype, raise_on_no_answer=False)
            values = [
                _presentation_value(rdtype if rrset.rdtype == 16 else "", rd.to_text())
                for rrset in answer.response.answer
                for rd in rrset
            ]
        except dns.resolver.NXDOMAIN:
            values = []
        out.write(f"{name} {rdtype} {canon(values)}\n")
    return {"seconds": time.perf_counter() - started}


def _run_blastdns(spec: Mapping[str, Any], out: Any) -> dict[str, float]:
    from blastdns import Client, ClientConfig

    by_type: dict[str, list[str]] = {}
    for name, rdtype in _questions(Path(spec["queries"]), None):
        by_type.setdefault(rdtype, []).append(name)

    async def main() -> None:
        config = ClientConfig(max_inflight_per_resolver=256, max_concurrency=256)
        client = Client([f"127.0.0.1:{spec['port']}"], config)
        for rdtype, names in by_type.items():
            answered = set()
            async for host, _, answers in client.resolve_batch(names, rdtype):
                values = [_presentation_value(rdtype, a) for a in answers]
                out.write(f"{host.rstrip('.').lower()} {rdtype} {canon(values)}\n")
                answered.add(host.rstrip(".").lower())
            # resolve_batch yields only non-empty answers: the rest are empty (NODATA/NXDOMAIN).
            out.writelines(f"{n} {rdtype} \n" for n in names if n not in answered)

    started = time.perf_counter()
    asyncio.run(main())
    return {"seconds": time.perf_counter() - started}


def _run_pycares(spec: Mapping[str, Any], out: Any) -> dict[str, float]:
    import pycares

    channel = pycares.Channel(
        servers=["127.0.0.1"], udp_port=int(spec["port"]), tcp_port=int(spec["port"]),
        timeout=2.0, tries=3,
    )  # fmt: skip
    codes = {t: getattr(pycares, f"QUERY_TYPE_{t}") for t in ("A", "AAAA", "MX", "NS", "TXT")}
    state = {"inflight": 0}

    def done(name: str, rdtype: str) -> Any:
        def callback(result: Any, error: Any) -> None:
            state["inflight"] -= 1
            values = []
            if result is not None and not error:
                values.extend(_pycares_value(rec) for rec in result.answer)
            out.write(f"{name} {rdtype} {canon([v for v in values if v is not None])}\n")

        return callback

    started = time.perf_counter()
    for name, rdtype in _questions(Path(spec["queries"]), None):
        while state["inflight"] >= 256:
            channel.wait(0.05)
        state["inflight"] += 1
        channel.query(name, codes[rdtype], callback=done(name, rdtype))
    while state["inflight"]:
        channel.wait(0.05)
    return {"seconds": time.perf_counter() - started}


def _pycares_value(rec: Any) -> str | None:
    data = rec.data
    if hasattr(data, "exchange"):
        return f"{data.priority} {str(data.exchange).rstrip('.').lower()}"
    if hasattr(data, "cname"):
        return str(data.cname).rstrip(".").lower()
    if hasattr(data, "nsdname"):
        return str(data.nsdname).rstrip(".").lower()
    if hasattr(data, "data"):
        raw = data.data
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for attribute in ("addr", "address", "host"):
        if hasattr(data, attribute):
            return str(getattr(data, attribute))
    return None


def _run_dnsperf(spec: Mapping[str, Any]) -> dict[str, float]:
    command = [
        "dnsperf", "-s", "127.0.0.1", "-p", str(spec["port"]), "-d", str(spec["queries"]),
        "-c", "1", "-T", "1", "-q", "100", "-t", "3", "-n", "1",
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - Debian's dnsperf on our own query file
        command, capture_output=True, text=True, check=False
    )
    text = done.stdout
    qps = re.search(r"Queries per second:\s+([\d.]+)", text)
    sent = re.search(r"Queries sent:\s+(\d+)", text)
    lost = re.search(r"Queries lost:\s+(\d+)", text)
    elapsed = re.search(r"Run time \(s\):\s+([\d.]+)", text)
    if not (qps and sent and lost and elapsed):
        raise RuntimeError(f"dnsperf output not understood: {text[-300:]} {done.stderr[-300:]}")
    if int(lost.group(1)):
        raise RuntimeError(f"dnsperf lost {lost.group(1)} of {sent.group(1)} queries")
    return {
        "seconds": float(elapsed.group(1)),
        "qps": float(qps.group(1)),
        "queries": float(sent.group(1)),
    }


def run(contender: str, spec: Mapping[str, Any]) -> dict[str, float]:
    """One contender over the query list; answers go to spec["answers"] for the gate."""
    if contender == "dnsperf":
        return _run_dnsperf(spec)
    runner = {
        "sovscan-bulkdns": _run_sovscan,
        "sovscan-e2e": _run_e2e,
        "sovscan-cli": _run_cli,
        "sovscan-cli-live": _run_cli,
        "dnspython-seq": _run_dnspython,
        "blastdns": _run_blastdns,
        "pycares": _run_pycares,
    }[contender]
    with Path(spec["answers"]).open("w", encoding="utf-8") as out:
        figures = runner(spec, out)
    domains = int(spec.get("limit") or spec["n"] * QUERIES_PER_DOMAIN) / QUERIES_PER_DOMAIN
    figures["domains"] = domains
    figures["queries"] = domains * QUERIES_PER_DOMAIN
    figures["domains_per_s"] = domains / figures["seconds"]
    figures["qps"] = figures["queries"] / figures["seconds"]
    if contender.startswith("sovscan-cli"):  # it asks its own ~36 questions a domain, not the mix
        del figures["queries"], figures["qps"]
    return figures


# --- the parent: estate, server, measures, gate, ratios -------------------------------------------


def _gate(
    report: Report, m: Any, truth: Path, answers: Path, limit: int | None, *, apex_txt: bool = True
) -> None:
    """Every answer must equal the ground truth; a missing or extra answer fails too.

    Without `apex_txt` the apex TXT answers are not expected (the CLI's report holds them as
    tokens and SPF, not as records)."""
    if not m.runs:
        return
    expected: dict[str, str] = {}
    with truth.open(encoding="utf-8") as lines:
        for i, line in enumerate(lines):
            if limit is not None and i >= limit:
                break
            name, rdtype, *value = line.rstrip("\n").split(" ", 2)
            if not apex_txt and rdtype == "TXT" and not name.startswith("_dmarc."):
                continue
            expected[f"{name} {rdtype}"] = value[0] if value else ""
    wrong = missing = 0
    seen = set()
    with answers.open(encoding="utf-8") as lines:
        for line in lines:
            name, rdtype, *value = line.rstrip("\n").split(" ", 2)
            key = f"{name} {rdtype}"
            seen.add(key)
            if expected.get(key) != (value[0] if value else ""):
                wrong += 1
    missing = len(set(expected) - seen)
    m.runs[-1]["wrong_answers"] = wrong
    m.runs[-1]["missing_answers"] = missing
    if wrong or missing:
        fail(report, m, f"{wrong} wrong and {missing} missing answers of {len(expected)}")


def plan(report: Report, size: str, workdir: Path) -> None:
    """For each domain count: generate, start NSD, measure every contender, gate, compare."""
    if shutil.which("nsd") is None:
        report.notes.append("dns workload skipped: nsd is not installed")
        return
    for n in SIZES[size]:
        root = workdir / f"dns-{n}"
        started = time.perf_counter()
        estate = generate(n, root)
        gen_s = time.perf_counter() - started
        server = start_nsd(root, PORT, domain_name(n - 1))
        report.setup[f"dns_{n}"] = {
            "domains": n,
            "records": estate.records,
            "provider_names": estate.provider_names,
            "queries": n * QUERIES_PER_DOMAIN,
            "generate_s": round(gen_s, 2),
            "nsd_start_s": round(server.start_s, 2),
        }
        print(f"[dns] {report.setup[f'dns_{n}']}", flush=True)
        try:
            _measure_size(report, size, n, root, estate)
        finally:
            server.stop()
    _scaling(report, size)


def _measure_size(report: Report, size: str, n: int, root: Path, estate: Any) -> None:
    base = {"port": PORT, "queries": str(estate.queries), "n": n}
    measures = {}
    contenders = ["sovscan-bulkdns", "sovscan-e2e"]
    if n <= CLI_UP_TO[size]:
        contenders += ["sovscan-cli", "sovscan-cli-live"]
    if n <= PEERS_UP_TO[size]:
        contenders += ["dnspython-seq", "blastdns", "pycares"]
    for contender in contenders:
        answers = root / f"answers-{contender}.txt"
        limit = DNSPYTHON_SAMPLE * QUERIES_PER_DOMAIN if contender == "dnspython-seq" else None
        if limit is not None and limit >= n * QUERIES_PER_DOMAIN:
            limit = None
        spec = {**base, "answers": str(answers), "limit": limit}
        spec["bulk"] = contender != "sovscan-cli-live"
        if contender in ("blastdns", "pycares") and not _importable(contender):
            report.notes.append(f"dns {n}: {contender} not installed, skipped")
            continue
        sample = n if limit is None else limit // QUERIES_PER_DOMAIN
        m = measure(report, "dns", contender, n, spec, timeout=1800)
        m.runs and m.runs[-1].setdefault("sample_domains", sample)
        cli = contender.startswith("sovscan-cli")
        _gate(report, m, estate.truth, answers, limit, apex_txt=not cli)
        measures[contender] = m
    if shutil.which("dnsperf"):
        measures["dnsperf"] = measure(report, "dns", "dnsperf", n, base, timeout=900)
    ours, e2e = measures.get("sovscan-bulkdns"), measures.get("sovscan-e2e")
    # The same scan with every question through dnspython (no target: issue 8's are for the mix).
    ratio(report, f"dns {n}: sovscan scan --domains, bulk vs one question at a time",
          measures.get("sovscan-cli"), measures.get("sovscan-cli-live"), "domains_per_s",
          higher_is_better=True, target=None)  # fmt: skip
    for peer, target in (("dnspython-seq", 30.0), ("blastdns", 2.0), ("pycares", None)):
        for mine, label in ((e2e, "end to end"), (ours, "resolver only")):
            ratio(report, f"dns {n}: sovscan {label} vs {peer} domains/s", mine,
                  measures.get(peer), "domains_per_s", higher_is_better=True,
                  target=target if n >= 10_000 else None)  # fmt: skip
    perf = measures.get("dnsperf")
    for mine, label in ((ours, "resolver only"), (e2e, "end to end")):
        ratio(report, f"dns {n}: sovscan {label} q/s vs dnsperf q/s", mine, perf, "qps",
              higher_is_better=True, target=0.45 if n >= 100_000 else None)  # fmt: skip
    if n >= 100_000 and e2e is not None and e2e.peak_rss_mb:
        check(report, f"dns {n}: end-to-end peak RSS MB", max(e2e.peak_rss_mb), 150, at_most=True)


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _scaling(report: Report, size: str) -> None:
    """Scaling exponent log(t_big / t_small) / log(big / small) of sovscan's wall time."""
    sizes = SIZES[size]
    for contender in ("sovscan-bulkdns", "sovscan-e2e"):
        for small, big in itertools.pairwise(sizes):
            a, b = report.find("dns", contender, small), report.find("dns", contender, big)
            if not (a and b and a.runs and b.runs and a.correct and b.correct):
                continue
            exponent = math.log(b.median("seconds") / a.median("seconds")) / math.log(big / small)
            name = f"dns {contender}: scaling exponent {small}->{big}"
            if (small, big) == (10_000, 100_000):
                check(report, name, exponent, 1.05, at_most=True)
            else:  # issue 8 sets a target for 10k->100k only
                report.ratios.append({"name": name, "value": round(exponent, 4), "target": None,
                                      "at_most": True, "met": None})  # fmt: skip
