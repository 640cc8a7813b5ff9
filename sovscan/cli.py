"""The command line: parse flags, call the pipeline, write the report, choose the exit code."""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.core import ParameterSource

from sovscan import __version__
from sovscan.config import check_aws_regions, check_dns_names, load_config
from sovscan.errors import ConfigError, RuleError, SovscanError
from sovscan.history import check_store, default_store_path
from sovscan.model import Asset, Gap, Scan, Severity, Status
from sovscan.report import REPORTERS

logger = logging.getLogger("sovscan")

if TYPE_CHECKING:
    from sovscan.config import ScanConfig
    from sovscan.engine import RuleSet
    from sovscan.evidence import Observations
    from sovscan.history import Relabel
    from sovscan.inventory_lines import Inventory
    from sovscan.resolve import KnowledgeBase
    from sovscan.stream import StreamedScan

STREAMED_FORMATS = frozenset({"json", "csv"})
"""Formats `scan` writes from a scan kept on disk (sovscan.stream), so memory stays flat."""

HELD_DOMAINS_HINT = 1_000
"""More domains than this, in a format that holds the scan, earn a warning."""

EXIT_OK = 0
EXIT_RISK = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM stopped


class Terminated(BaseException):
    """SIGTERM (`timeout`, systemd, a cancelled CI job), raised in the main thread as
    KeyboardInterrupt is, so the work folder and temporary report are removed on the way out.
    A BaseException: the probes' handlers of Exception must not take it for a failed call."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler (a test runner's thread, say)
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


FAIL_ON_CHOICES = [s.value for s in Severity] + ["never"]


class SovscanGroup(click.Group):
    """A click group whose errors are one line on stderr and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        # Caught here, before click's main prints an empty line for it.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _fail("interrupted; no report was written", EXIT_INTERRUPTED)
        except Terminated:
            _fail("terminated (SIGTERM); the run stopped", EXIT_TERMINATED)

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:
        kwargs["standalone_mode"] = False
        try:
            with _sigterm_raises():
                code = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            sys.exit(EXIT_USAGE)
        except click.NoSuchOption as exc:
            hint = _global_option_hint(exc, _given_args(args, kwargs))
            if hint:  # without click's "Did you mean '--format'?" for --log-format
                exc = click.NoSuchOption(exc.option_name, ctx=exc.ctx)
            _fail(exc.format_message() + hint, EXIT_USAGE)
        except click.UsageError as exc:
            _fail(exc.format_message(), EXIT_USAGE)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except SovscanError as exc:
            _fail(str(exc), EXIT_USAGE)
        except (KeyboardInterrupt, click.exceptions.Abort):
            _fail("interrupted; no report was written", EXIT_INTERRUPTED)
        except Terminated:
            _fail("terminated (SIGTERM); the run stopped", EXIT_TERMINATED)
        except Exception as exc:  # a bug: one line for the user, the traceback only at -vv
            logger.debug("internal error", exc_info=True)
            detail = " ".join(str(exc).split())[:200]
            _fail(
                f"internal error ({type(exc).__name__}: {detail}); the run stopped. "
                "Please report it; -vv shows the traceback",
                EXIT_INTERNAL,
            )
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _given_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """The command line `main` parses, as click finds it."""
    given = kwargs.get("args", args[0] if args else None)
    return list(sys.argv[1:] if given is None else given)


def _global_option_hint(exc: click.NoSuchOption, given: Sequence[str]) -> str:
    """When a command was given an option of sovscan itself (`sovscan scan -q`): where it goes,
    as the user typed it (`-vv`, `--log-format json`). Empty for any other unknown option."""
    from sovscan.report.safe import terminal_safe

    ctx = exc.ctx
    name = exc.option_name
    param = next((p for p in cli.params if name in p.opts), None)
    if ctx is None or ctx.command is cli or not isinstance(param, click.Option):
        return ""
    typed = name
    if param.count:
        letter = name[1:] if len(name) == 2 else ""
        typed = next((t for t in given if letter and t == "-" + letter * (len(t) - 1)), name)
    elif not param.is_flag:
        value: str | None = None
        for index, token in enumerate(given):
            if token.startswith(name + "="):
                value = token.partition("=")[2]
                break
            if token == name and index + 1 < len(given):
                value = given[index + 1]
                break
        choices = getattr(param.type, "choices", None)
        shown = (
            terminal_safe(value, 40)
            if value is not None
            else "|".join(choices)
            if choices
            else "VALUE"
        )
        typed = f"{name} {shown}"
    prog, _, command = ctx.command_path.partition(" ")
    if not param.expose_value:  # --version: it runs no command
        return f" {name} is an option of {prog} itself: {prog} {typed}"
    return (
        f" {name} is an option of {prog} itself, which goes before the command: "
        f"{prog} {typed} {command} ..."
    )


def _fail(message: str, code: int) -> NoReturn:
    _say("error", " ".join(message.split("\n")[0].split()))
    sys.exit(code)


def _say(level: str, text: str) -> None:
    """One line on stderr outside logging's levels (an error, a digest to keep), in the log
    format chosen: under --log-format json it is a JSON line like every warning before it."""
    if any(isinstance(h.formatter, _JsonLines) for h in logging.getLogger("sovscan").handlers):
        record = logging.makeLogRecord({"name": "sovscan", "levelname": level.upper(), "msg": text})
        click.echo(_JsonLines().format(record), err=True)
    else:
        click.echo(_text_line(level, text), err=True)


def _text_line(level: str, text: str) -> str:
    """A line on stderr in text: the one form of a log record and of a line said outside the
    log (-q's reason for exit 1 or 3 is grepped for as the default's is), level in lowercase
    as in the JSON lines.

    Escaped here, where every line meets the terminal: messages quote gap reasons and errors
    that carry what a hostile server sent (a redirect's URL, a bundle's file names)."""
    from sovscan.report.safe import terminal_safe

    return f"sovscan: {level.lower()}: {terminal_safe(text)}"


@click.group(cls=SovscanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="sovscan")
@click.option("-v", "--verbose", count=True, help="More log detail on stderr (-vv for debug).")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Nothing on stderr on success but an evidence bundle's digest; errors, and one line "
    "saying why a scan exits 1 or 3.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr as text, or as JSON objects one per line (for log shippers).",
)
def cli(verbose: int, quiet: bool, log_format: str) -> None:
    """sovscan: where your institution's data lives, and which laws can reach it."""
    _configure_logging(verbose, quiet, log_format)


class _TextLines(logging.Formatter):
    """One line per log record (a traceback, at -vv, on the lines after it)."""

    def format(self, record: logging.LogRecord) -> str:
        line = _text_line(record.levelname, record.getMessage())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _JsonLines(logging.Formatter):
    """One JSON object per log record."""

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import UTC, datetime

        # UTC and ISO 8601 with milliseconds, as the reports' timestamps: logs and reports of one
        # run line up whatever the machine's time zone.
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        return json.dumps(
            {
                "time": when,
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


def _configure_logging(verbose: int, quiet: bool, log_format: str = "text") -> None:
    # Only the package logger is configured, so third-party libraries stay quiet by default.
    default = os.environ.get("SOVSCAN_LOGLEVEL", "WARNING").upper()
    level = logging.ERROR if quiet else {0: default, 1: "INFO"}.get(verbose, "DEBUG")
    package_logger = logging.getLogger("sovscan")
    package_logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines() if log_format == "json" else _TextLines())
    package_logger.addHandler(handler)
    package_logger.propagate = False
    try:
        package_logger.setLevel(level)
    except ValueError:
        raise ConfigError(
            f"SOVSCAN_LOGLEVEL: expected one of DEBUG, INFO, WARNING, ERROR; got {default!r}"
        ) from None


_format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(sorted(REPORTERS)),
    default="table",
    show_default=True,
    help="Report format.",
)
_output_option = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to this file (atomically) instead of stdout.",
)


def _fail_on_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--fail-on",
        type=click.Choice(FAIL_ON_CHOICES),
        default=default,
        show_default=True,
        help="Exit 1 when a risk finding at or above this severity is found.",
    )


_store_option = click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The history store (SQLite). Default: $SOVSCAN_STORE or "
    "~/.local/share/sovscan/history.sqlite.",
)

_profile_option = click.option(
    "--profile",
    help="A rules profile: quebec-law25, gc-protected-b, eu-gdpr, secnumcloud or eu-csf "
    "(overrides the inventory's institution.profile).",
)

_rules_option = click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="An extra folder of rules (the institution's own), on top of the shipped ones.",
)


@cli.command()
@click.option(
    "--config",
    "-c",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The inventory file (sovscan.toml).",
)
@_format_option
@_output_option
@click.option(
    "--nameserver",
    metavar="HOST[:PORT]",
    envvar="SOVSCAN_NAMESERVER",
    help="Ask this DNS server instead of the system's resolver (or SOVSCAN_NAMESERVER).",
)
@click.option(
    "--domains",
    "domains_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="More domains to probe: one per line, or a CSV with a 'domain' column.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    help="Domains probed at once when DNS questions go one at a time (limits.dns_in_flight = 0; "
    "default: limits.dns_concurrency, 8).",
)
@_fail_on_option("high")
@click.option(
    "--fail-on-new",
    is_flag=True,
    help="Count only risks that were not risks at their last told status: the latest earlier "
    "stored scan of the institution that saw the finding's unit whole (its domain, AWS account "
    "or region, SaaS endpoint) and could tell it (scans with a gap in that unit, unknown "
    "findings, and scans whose scope left the finding's asset out are passed over). A risk "
    "waived there and unwaived now (its waiver lapsed or was removed) counts as new: it is "
    "newly unaccepted. A risk unwaived there and ok now while its asset's classification "
    "changed fails the run too, once (relabelled: not shown fixed). `sovscan diff` with no ids "
    "(--institution NAME, if another institution was scanned since) lists the same new and "
    "relabelled risks.",
)
@_rules_option
@_profile_option
@_store_option
@click.option("--no-store", is_flag=True, help="Do not record this scan in the history store.")
@click.option(
    "--evidence",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write an evidence bundle (observations, inputs, report.json and the report in "
    "--format, SHA-256 manifest) to this new folder.",
)
def scan(
    config_path: Path,
    output_format: str,
    output: Path | None,
    nameserver: str | None,
    domains_file: Path | None,
    concurrency: int | None,
    fail_on: str,
    fail_on_new: bool,
    rule_dirs: Sequence[Path],
    profile: str | None,
    store: Path | None,
    no_store: bool,
    evidence: Path | None,
) -> int:
    """Scan the institution described by an inventory file."""
    from sovscan.dnsserver import make_resolver
    from sovscan.scan import (
        apply_profile_name,
        build_probes,
        configured_scope,
        label_notices,
        network_notices,
        profile_notices,
        resolver_record,
        run_scan,
        sector_notices,
        system_resolver,
        union_law_notices,
    )

    if no_store and fail_on_new:
        # Without the history there is nothing to compare with: every risk would count.
        raise click.UsageError("--fail-on-new needs the history store: drop --no-store")
    if no_store and store is not None:
        raise click.UsageError("--store and --no-store: give one or the other")
    _check_new_folder(evidence)
    server = parse_nameserver(nameserver) if nameserver else None
    config = load_config(config_path)
    # Before the store is opened: a bad inventory or domains file writes nothing.
    if domains_file is not None:
        from sovscan.probes.dns import read_domains_file

        extra = read_domains_file(domains_file)
        check_dns_names(config, frozenset(extra.domains), f"--domains {domains_file}")
        config = replace(
            config,
            domains=tuple(dict.fromkeys((*config.domains, *extra.domains))),
            domain_names=(*config.domain_names, *extra.names),
        )
    all_rule_dirs = [*config.rule_dirs, *rule_dirs]
    store_path = None if no_store else (store or default_store_path())
    # Once the inventory has named its rule folders and CA file, before anything is scanned.
    _check_output(
        output,
        files=[
            ("the inventory file", config_path),
            ("the --domains file", domains_file),
            ("the inventory's https.ca_file", config.https.ca_file),
            *_store_files(store_path),
            *_rule_files(all_rule_dirs),
        ],
        folders=[("the evidence bundle being written", evidence)],
    )
    knowledge, ruleset = _knowledge_and_rules(all_rule_dirs)
    if any(source.regions for source in config.aws):  # botocore's import costs 0.3 s
        check_aws_regions(config, _aws_regions(knowledge))
    profile_name = profile or config.profile
    ruleset, policy = apply_profile_name(config, ruleset, profile)
    kept_over_profile = (
        *profile_notices(config, profile, policy),
        *label_notices(config, policy),
        *network_notices(config.networks, knowledge),
        *sector_notices(ruleset, policy),
        *union_law_notices(config, profile),
    )
    check_something_to_scan(config)
    if store_path is not None:
        check_store(store_path)  # before the scan: a bad store must not cost a whole scan
    if (
        domains_file is not None
        and len(config.domains) > HELD_DOMAINS_HINT
        and output_format not in STREAMED_FORMATS
    ):
        logger.warning(
            "%d domains: --format %s holds the whole scan in memory; "
            "--format json or csv streams it (with --evidence too)",
            len(config.domains),
            output_format,
        )
    limits = config.limits
    given = (
        make_resolver(*server, timeout=limits.dns_timeout, lifetime=limits.dns_lifetime)
        if server
        else None
    )
    # With none given, the system's, as build_probes would make it: the report says which.
    resolver = given if given is not None else system_resolver(config)
    asked = (
        None
        if resolver is None
        else resolver_record(
            resolver,
            "system" if given is None else "given",
            None if given is None else _nameserver_source(),
        )
    )
    probes, gaps = build_probes(config, resolver=resolver, dns_workers=concurrency)
    if output_format in STREAMED_FORMATS:
        from sovscan.stream import streamed_scan

        # The JSON text also serves as the stored scan's document and the bundle's report.
        formats = frozenset(
            {
                output_format,
                *(["json"] if store_path or evidence else []),
                *(["observations"] if evidence else []),
            }
        )
        with (
            _progress() as progress,
            streamed_scan(
                policy,
                probes,
                knowledge,
                ruleset,
                extra_gaps=gaps,
                waivers=config.waivers,
                profile=profile_name,
                progress=progress,
                formats=formats,
                # Beside the report: the disk it needs anyway, and never a RAM-backed /tmp.
                work_dir=_work_dir(output),
                scope=configured_scope(config),
                networks=config.networks,
                dns_resolver=asked,
            ) as streamed,
        ):
            progress("")
            summary = _with_notices(
                streamed.summary, kept_over_profile, knowledge, limits.dns_in_flight
            )
            streamed = replace(streamed, summary=summary)
            if evidence is not None:
                _bundle_streamed(
                    evidence, streamed, output_format, config_path, all_rule_dirs, config
                )
            return _emit_streamed(streamed, output_format, output, fail_on, store_path, fail_on_new)
    with _progress() as progress:
        result = run_scan(
            config,
            probes,
            knowledge,
            ruleset,
            extra_gaps=gaps,
            policy=policy,
            profile=profile_name,
            progress=progress,
            dns_resolver=asked,
        )
    result = _with_notices(result, kept_over_profile, knowledge, limits.dns_in_flight)
    inventory = _sarif_inventory(config_path, config) if output_format == "sarif" else None
    rendered = None
    if evidence is not None:
        from sovscan.engine import default_rules_dir
        from sovscan.evidence import write_bundle

        # The report handed over (HTML for a board, Markdown for a ticket) is bundled as it is
        # written, so the manifest covers it; a JSON report is the bundle's report.json.
        rendered = (
            None if output_format == "json" else _rendered(result, output_format, output, inventory)
        )
        write_bundle(
            evidence,
            result,
            config_file=config_path,
            rule_dirs=[default_rules_dir(), *all_rule_dirs],
            waivers=config.waivers,
            networks=config.networks,
            report=None if rendered is None else (output_format, rendered),
        )
        _say_bundle_digest(evidence)
    return _emit(
        result, output_format, output, fail_on, store_path, fail_on_new, rendered, inventory
    )


def _bundle_streamed(
    evidence: Path,
    streamed: StreamedScan,
    output_format: str,
    config_path: Path,
    rule_dirs: Sequence[Path],
    config: ScanConfig,
) -> None:
    """The evidence bundle of a streamed scan, written from its files on disk: the same bytes
    as a held scan's bundle, in the memory of one piece."""
    from sovscan.engine import default_rules_dir
    from sovscan.evidence import write_bundle_pieces

    write_bundle_pieces(
        evidence,
        streamed.summary,
        observed=streamed.observed_pieces,
        report_json=streamed.json_pieces(),
        config_file=config_path,
        rule_dirs=[default_rules_dir(), *rule_dirs],
        waivers=config.waivers,
        networks=config.networks,
        report=None if output_format == "json" else (output_format, streamed.csv_pieces()),
    )
    _say_bundle_digest(evidence)


def _say_bundle_digest(evidence: Path) -> None:
    from sovscan.evidence import manifest_sha256

    # Only a digest kept apart from the bundle shows the bundle was not rewritten whole.
    # Printed under -q too: it is the one thing about the bundle that must be kept.
    _say(
        "evidence",
        f"bundle {evidence}: manifest SHA-256 {manifest_sha256(evidence)}; keep it apart "
        "from the bundle, then `sovscan verify DIR --manifest-sha256 HEX` proves the bundle "
        "unchanged",
    )


def _sarif_inventory(config_path: Path, config: ScanConfig) -> Inventory | None:
    """The inventory as SARIF results point into it, by a path relative to the working
    directory; None (results then point at rule files) when it lies outside that directory."""
    from sovscan.inventory_lines import locate
    from sovscan.probes.dns import normalize_domain

    inventory = locate(config_path, config, normalize_domain, Path.cwd())
    if inventory is None:
        logger.warning(
            "sarif: the inventory %s is not inside the working directory, so results point at "
            "rule files; run sovscan from the repository root for results on its lines",
            config_path,
        )
    return inventory


def check_something_to_scan(config: ScanConfig) -> None:
    """A scan of an inventory (with any --domains file merged in) that names nothing to look at
    would report a complete scan of 0 assets, exit 0: in cron, a gutted file would pass for a
    clean result."""
    if not (config.aws or config.domains or config.saas):
        raise ConfigError(
            f"{config.source}: nothing to scan: the inventory names no [[aws]] source, "
            "no dns.domains and no [[saas]] endpoint, and no --domains file was given"
        )


@cli.command()
@_format_option
@_output_option
@_fail_on_option("never")
@_rules_option
@_profile_option
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Record the demo scan in this history store (the demo records nothing by default).",
)
def demo(
    output_format: str,
    output: Path | None,
    fail_on: str,
    rule_dirs: Sequence[Path],
    profile: str | None,
    store: Path | None,
) -> int:
    """Scan the embedded demo university: no cloud account, no network, a few seconds."""
    from sovscan.demo import run_demo

    _check_output(output, files=[*_store_files(store), *_rule_files(rule_dirs)])
    if store is not None:
        check_store(store)
    knowledge, ruleset = _knowledge_and_rules(rule_dirs)
    result = _with_notices(run_demo(knowledge, ruleset, profile=profile), (), knowledge)
    return _emit(result, output_format, output, fail_on, store, False)


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """One self-erasing status line on a terminal's stderr; debug log lines when stderr is not a
    TTY (cron, CI, a pipe) and -vv asks for them; nothing otherwise."""
    stream = sys.stderr
    if logger.isEnabledFor(logging.DEBUG):
        # -vv writes log records as the scan goes: a status line would glue onto them.
        yield lambda message: logger.debug("%s", message)
        return
    if not stream.isatty() or logger.getEffectiveLevel() > logging.WARNING:
        yield lambda _message: None
        return

    def show(message: str) -> None:
        stream.write("\r\x1b[K" + message[:120])
        stream.flush()

    try:
        yield show
    finally:
        stream.write("\r\x1b[K")
        stream.flush()


_Inputs = Sequence[tuple[str, Path | None]]
"""A command's inputs as (what it is, path), None for one not given."""


def _check_output(output: Path | None, *, files: _Inputs = (), folders: _Inputs = ()) -> None:
    """Fail before any work when the report could never be written, or would replace one of
    the command's own inputs: `files`, or anything inside `folders` (an evidence bundle, where
    even a new file breaks its manifest)."""
    if output is None:
        return
    # The report replaces its file whole: over the history store, the inventory or a bundle's
    # file it would destroy what the run was reading (`diff -o store.sqlite` did).
    _refuse_an_input(output, files, folders)
    from sovscan.files import output_target

    target, write_into = output_target(output)
    if write_into:
        if not os.access(output, os.W_OK):
            raise ConfigError(f"--output: {output}: not writable")
        return
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigError(f"--output: {output}: the folder does not exist or is not writable")


def _refuse_an_input(output: Path, files: _Inputs, folders: _Inputs) -> None:
    # Compared resolved (symbolic links, `..`), and where the output exists by device and inode
    # too, so a hard link or a case-insensitive file system does not slip past.
    target = Path(os.path.realpath(output))
    exists = os.path.exists(output)
    for what, path in files:
        if path is None:
            continue
        if Path(os.path.realpath(path)) == target or (exists and _same_file(output, path)):
            raise ConfigError(
                f"--output: {output}: is {what} ({path}); the report would replace it, "
                "give another file"
            )
    for what, folder in folders:
        if folder is None:
            continue
        root = Path(os.path.realpath(folder))
        inside = target == root or target.is_relative_to(root)
        if not inside and exists and folder.is_dir():
            inside = any(_same_file(output, path) for path in folder.rglob("*") if path.is_file())
        if inside:
            raise ConfigError(
                f"--output: {output}: is inside {what} ({folder}); give a file outside it"
            )


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (or cannot be read): not the same file
        return False


def _store_files(store: Path | None) -> list[tuple[str, Path | None]]:
    """The history store and the files SQLite keeps beside it, which hold committed scans too."""
    if store is None:
        return []
    sidecars = [store.with_name(store.name + s) for s in ("-wal", "-shm", "-journal")]
    return [("the history store", store), *(("a file of the history store", s) for s in sidecars)]


def _rule_files(rule_dirs: Sequence[Path]) -> list[tuple[str, Path | None]]:
    """The files of the shipped rules and of the institution's folders. Only their files: a
    new report beside them harms nothing, and a rules folder is often the institution's own
    working folder."""
    from sovscan.engine import default_rules_dir

    return [
        ("a file of a rules folder", path)
        for folder in (default_rules_dir(), *rule_dirs)
        if folder.is_dir()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]


def _aws_regions(knowledge: Any) -> set[str]:
    """The AWS regions an inventory may name: the region table's, and those of the installed
    botocore, which learns of a new region with a `pip install -U boto3`."""
    import botocore.session

    session = botocore.session.get_session()
    known = {region for provider, region in knowledge.regions if provider == "aws"}
    for partition in session.get_available_partitions():
        known.update(session.get_available_regions("ec2", partition_name=partition))
    return known


def _work_dir(output: Path | None) -> Path | None:
    """Where a streamed scan keeps its files: beside the report it replaces (the same disk),
    else in the temporary folder (stdout, a device, a FIFO)."""
    from sovscan.files import output_target

    if output is None:
        return None
    target, write_into = output_target(output)
    return None if write_into else (target.parent if str(target.parent) else Path("."))


def _check_new_folder(folder: Path | None) -> None:
    if folder is None:
        return
    if folder.exists():
        raise ConfigError(f"--evidence: {folder}: already exists; give a new folder")
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--evidence: {folder}: the parent folder is missing or not writable")


def _knowledge_and_rules(rule_dirs: Sequence[Path]) -> tuple[Any, Any]:
    from sovscan.engine import default_rules_dir, load_rules
    from sovscan.resolve import load_knowledge

    ruleset = load_rules(default_rules_dir(), *rule_dirs)
    _check_own_cases(ruleset, rule_dirs)
    return load_knowledge(), ruleset


def _check_own_cases(ruleset: RuleSet, rule_dirs: Sequence[Path]) -> None:
    """An institution's rule that contradicts its own test cases would give findings nobody
    meant: refuse it as bad input. (The shipped rules' cases run in sovscan's own tests.)"""
    from sovscan.engine.cases import failing_cases

    failures = failing_cases(ruleset, rule_dirs)
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise RuleError(f"{failures[0]}{more}; `sovscan rules validate DIR` runs them all")


def _emit(
    result: Scan,
    output_format: str,
    output: Path | None,
    fail_on: str,
    store: Path | None,
    fail_on_new: bool,
    rendered: str | None = None,
    inventory: Inventory | None = None,
    *,
    replayed: bool = False,
) -> int:
    """Write the report (`rendered`, when the caller rendered it already), record the scan,
    log the outcome; the exit code. A SARIF report points into `inventory`, when given; a
    replay (`replayed`) does not log its bundle's gaps as a live scan's."""
    from sovscan.files import write_atomic
    from sovscan.history import save_scan
    from sovscan.report.safe import utf8_safe

    if output_format == "json":
        from sovscan.report.json import pieces

        # In pieces: a held scan of 100,000 assets never becomes one 600 MB string.
        _write_pieces((utf8_safe(piece) for piece in pieces(result)), output)
    else:
        text = (
            rendered
            if rendered is not None
            else _rendered(result, output_format, output, inventory)
        )
        if output is None:
            click.echo(text, nl=False)
        else:
            write_atomic(output, text)
    compared = _Compared(None, 0)
    if store is not None:
        _log_head(save_scan(store, result))
        compared = _compare_recorded(store, result, fail_on, fail_on_new)
    risks = sum(1 for f in result.findings if f.status is Status.RISK)
    failing = failing_findings(result, fail_on, compared.new_keys)
    code = _exit_of(result, failing + compared.relabelled)
    new_only = compared.new_keys is not None
    outcome = _Outcome(code, risks, failing, fail_on, new_only, compared.relabelled)
    _log_outcome(result, outcome, replayed=replayed)
    return code


def _rendered(
    result: Scan, output_format: str, output: Path | None, inventory: Inventory | None = None
) -> str:
    """The report text in a format other than json, as `_emit` writes it: a table on a
    terminal fits its width, and SARIF results point into the inventory."""
    from sovscan.report.safe import utf8_safe

    if output_format == "sarif" and inventory is not None:
        from sovscan.report.sarif import render as render_sarif

        return utf8_safe(render_sarif(result, inventory))

    if output_format == "table" and output is None and sys.stdout.isatty():
        from sovscan.report.table import render as render_table

        return utf8_safe(render_table(result, shutil.get_terminal_size().columns))
    return REPORTERS[output_format](result)  # each reporter is utf8_safe already


def _emit_streamed(
    streamed: StreamedScan,
    output_format: str,
    output: Path | None,
    fail_on: str,
    store: Path | None,
    fail_on_new: bool,
    *,
    replayed: bool = False,
) -> int:
    """`_emit` for a scan kept on disk: the report and the history are written piece by piece."""
    from sovscan.history import record_scan

    pieces = streamed.json_pieces if output_format == "json" else streamed.csv_pieces
    _write_pieces(pieces(), output)
    summary = streamed.summary
    compared = _Compared(None, 0)
    if store is not None:
        head = record_scan(
            store, summary, streamed.stored_pieces, streamed.finding_rows(), streamed.asset_rows()
        )
        _log_head(head)
        compared = _compare_recorded(store, summary, fail_on, fail_on_new)
    new_keys = compared.new_keys
    failing = 0 if fail_on == "never" else streamed.failing(Severity(fail_on).rank, new_keys)
    code = _exit_of(summary, failing + compared.relabelled)
    new_only = new_keys is not None
    outcome = _Outcome(code, streamed.risks, failing, fail_on, new_only, compared.relabelled)
    _log_outcome(summary, outcome, replayed=replayed)
    return code


def _log_head(head: str) -> None:
    logger.info(
        "history: recorded; the store's hash chain head is SHA-256 %s "
        "(`sovscan history --verify --head-sha256 HEX` checks it later)",
        head,
    )


@dataclass(frozen=True)
class _Compared:
    """What a recorded scan's comparison with the history adds to its exit code."""

    new_keys: set[str] | None  # the risks --fail-on-new counts; None: every risk (or no flag)
    relabelled: int  # unwaived risks at or above --fail-on turned ok by a relabel (--fail-on-new)


def _compare_recorded(store: Path, scan: Scan, fail_on: str, fail_on_new: bool) -> _Compared:
    """Warn of what the recorded scan no longer judges (a dropped scope, relabelled risks);
    with --fail-on-new, which risks are new and how many relabels fail the run."""
    from sovscan.history import new_risk_keys

    _warn_scope_dropped(store, scan)
    relabels = _warn_relabelled(store, scan)
    if not fail_on_new:
        return _Compared(None, 0)
    new_keys = new_risk_keys(store, scan.id)
    _warn_without_baseline(store, scan, new_keys)
    if fail_on == "never":
        return _Compared(new_keys, 0)
    threshold = Severity(fail_on).rank
    # A risk silenced by a label is no new risk, but nobody has shown it fixed or accepted:
    # --fail-on-new fails on it once, as on a waiver that lapsed.
    failing = [r for r in relabels if not r.waived and Severity(r.severity).rank >= threshold]
    return _Compared(new_keys, len(failing))


def _with_notices(
    scan: Scan, first: Sequence[str], knowledge: KnowledgeBase, dns_in_flight: int | None = None
) -> Scan:
    """`scan` with what the command knows beyond the scan: `first` (about the inventory and
    its profile) before the scan's own notices; then, given the scan's `dns_in_flight`, what to
    try about DNS time-outs; and old address data last."""
    from sovscan.resolve.knowledge import stale_data_notice
    from sovscan.scan import dns_timeout_notices

    timeouts = () if dns_in_flight is None else dns_timeout_notices(scan.gaps, dns_in_flight)
    stale = stale_data_notice(knowledge, scan.started_at)
    return replace(scan, notices=(*first, *scan.notices, *timeouts, *stale))


SCOPE_SHOWN = 5
"""Dropped scope items a scan's warning names (`sovscan diff --format json` lists them all)."""


def _warn_scope_dropped(store: Path, scan: Scan) -> None:
    """Say when this scan was configured to look at less than the institution's previous scan,
    the one `diff` compares it with (a region, a domain, a SaaS endpoint taken out of the
    inventory): what lay there was not looked at, and must not pass for remediated when
    quarters are compared."""
    from sovscan.history import scope_dropped_since
    from sovscan.report.safe import terminal_safe

    previous, lost = scope_dropped_since(store, scan.id)
    if not lost or previous is None:
        return
    shown = "; ".join(terminal_safe(item, 200) for item in lost[:SCOPE_SHOWN])
    more = f"; and {len(lost) - SCOPE_SHOWN} more" if len(lost) > SCOPE_SHOWN else ""
    logger.warning(
        "scope: this scan covers less than the previous %sscan %s of %r: it dropped %s%s. "
        "What lay there was not looked at: `sovscan diff` lists it as unseen, not resolved",
        "complete " if previous.complete else "",
        previous.id,
        terminal_safe(scan.policy.institution, 80),
        shown,
        more,
    )


def _warn_relabelled(store: Path, scan: Scan) -> tuple[Relabel, ...]:
    """Say when risks at their last told status are ok in this one while their asset's
    classification changed: a label that makes a risk go away is not a fix, and must not pass
    for one in a quarter's comparison."""
    from sovscan.history import relabelled_risks
    from sovscan.report.safe import terminal_safe

    relabels = relabelled_risks(store, scan.id)
    if relabels:
        first = relabels[0]
        more = f", and {len(relabels) - 1} more" if len(relabels) > 1 else ""
        logger.warning(
            "relabelled: %d risk finding(s) of earlier scans (each as the last scan that saw its "
            "unit whole told it) are ok now as their asset's classification changed "
            "(%s: %s -> %s%s): not shown to be fixed; `sovscan diff` lists them as relabelled",
            len(relabels),
            terminal_safe(first.asset_id, 200),
            terminal_safe(first.old_classification, 80),
            terminal_safe(first.new_classification, 80),
            more,
        )
    return relabels


def _warn_without_baseline(store: Path, scan: Scan, new_keys: set[str] | None) -> None:
    """Say when --fail-on-new has nothing to compare with, so every risk counts: a first run,
    or an institution renamed in the inventory (its history is kept under the old name)."""
    if new_keys is not None:
        return
    from sovscan.history import list_scans
    from sovscan.report.safe import terminal_safe

    others = sorted({s.institution for s in list_scans(store)} - {scan.policy.institution})
    named = ", ".join(repr(terminal_safe(name, 80)) for name in others[:3])
    held = (
        f"; the store holds scans of {named} (a renamed institution starts anew)" if others else ""
    )
    logger.warning(
        "--fail-on-new: no earlier complete scan of %r in %s, so every risk counts as new%s",
        terminal_safe(scan.policy.institution, 80),
        store,
        held,
    )


def _write_pieces(pieces: Iterable[str], output: Path | None) -> None:
    """A report given in pieces: to `output` atomically, or to stdout in large writes."""
    from sovscan.files import write_atomic_pieces

    if output is None:
        for chunk in _chunks(pieces):
            click.echo(chunk, nl=False)
    else:
        write_atomic_pieces(output, pieces)


def _chunks(pieces: Iterable[str], size: int = 1 << 20) -> Iterator[str]:
    """The pieces joined into about `size` characters at a time: fewer, larger writes."""
    held: list[str] = []
    length = 0
    for piece in pieces:
        held.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(held)
            held, length = [], 0
    if held:
        yield "".join(held)


@dataclass(frozen=True)
class _Outcome:
    """How a scan that ran ends: its exit code and the counts that explain it."""

    code: int
    risks: int  # every risk finding in the report, waived ones included
    failing: int  # the unwaived risks at or above --fail-on (new ones only with --fail-on-new)
    fail_on: str
    new_only: bool
    relabelled: int = 0  # unwaived risks at or above fail_on turned ok by a relabel (new_only)


GAPS_LOGGED = 10
"""Gaps named one by one on stderr at default verbosity; -v names them all. A national audit
has a gap per unreachable domain (a thousand of them), and the report lists every one."""


def _log_outcome(result: Scan, outcome: _Outcome, *, replayed: bool = False) -> None:
    # The summary last: the tail of a cron log is what gets read.
    if not replayed:
        # A bundle's gaps are the scan's, logged when it ran; a replay's exit reason sums them.
        _log_gaps(result.gaps)
    # Why the exit is 1 or 3, in the same line whatever the verbosity: a journal's watcher
    # greps one form. Success stays silent.
    if outcome.code != EXIT_OK and logger.isEnabledFor(logging.WARNING):
        logger.warning("%s", _outcome_reason(result, outcome, replayed=replayed))
    elif outcome.code != EXIT_OK:
        # -q (or SOVSCAN_LOGLEVEL=ERROR) hid the warnings: still one line, as an error is.
        _say("warning", _outcome_reason(result, outcome, replayed=replayed))
    logger.info(
        "%d assets, %d risk findings, %d gaps; exit %d",
        result.score.assets_total,
        outcome.risks,
        len(result.gaps),
        outcome.code,
    )


def _log_gaps(gaps: Sequence[Gap]) -> None:
    """Every gap at -v; at default verbosity the first GAPS_LOGGED and one line counting the
    rest by reason, so a bundle's digest and the exit reason are not lost among them."""
    shown = gaps if logger.isEnabledFor(logging.INFO) else gaps[:GAPS_LOGGED]
    for gap in shown:
        logger.warning("could not see %s: %s", gap.scope, gap.reason)
    if len(shown) < len(gaps):
        logger.warning("%s", _more_gaps(gaps, len(gaps) - len(shown)))


def _more_gaps(gaps: Sequence[Gap], more: int, reasons: int = 5) -> str:
    """One line for the gaps not named: how many, and all the gaps counted by reason."""
    from collections import Counter

    from sovscan.report.safe import terminal_safe

    counts = Counter(gap.reason for gap in gaps).most_common()
    # Quoted: a reason has commas and semicolons of its own.
    by_reason = ", ".join(f'{n} "{terminal_safe(reason, 120)}"' for reason, n in counts[:reasons])
    if len(counts) > reasons:
        rest = sum(n for _, n in counts[reasons:])
        by_reason += f", {rest} for {len(counts) - reasons} other reason(s)"
    return (
        f"could not see {more} more scope(s), listed in the report (-v logs them all); "
        f"{len(gaps)} gaps by reason: {by_reason}"
    )


def _outcome_reason(result: Scan, outcome: _Outcome, *, replayed: bool = False) -> str:
    """Why a scan that ran exits 1 or 3, in one line."""
    if outcome.code == EXIT_PARTIAL:
        from sovscan.report.safe import terminal_safe

        # Escaped: a gap's reason can quote what a hostile server answered.
        gap = result.gaps[0]
        first = f"{terminal_safe(gap.scope, 200)}: {terminal_safe(gap.reason, 200)}"
        more = f", and {len(result.gaps) - 1} more" if len(result.gaps) > 1 else ""
        if replayed:
            return (
                f"replay of a partial scan, exit 3: the scan could not see "
                f"{len(result.gaps)} scope(s) ({first}{more}); the report lists them"
            )
        return (
            f"partial scan, exit 3: {len(result.gaps)} scope(s) could not be seen "
            f"({first}{more}); the report lists them{_failing_too(outcome)}"
        )
    which = (
        "new risk finding(s) (not an unwaived risk at their last told status: new, or no longer "
        "waived)"
    )
    if not outcome.new_only:
        which = "risk finding(s)"
    rest = ""
    if outcome.risks != outcome.failing:
        rest = f" ({outcome.risks} risk findings in the report in all)"
    if outcome.relabelled:
        rest += (
            f"; {outcome.relabelled} unwaived risk finding(s) at or above it turned ok only as "
            "their asset was relabelled (`sovscan diff` lists them as relabelled)"
        )
    return (
        f"exit 1: {outcome.failing} unwaived {which} at or above --fail-on {outcome.fail_on}{rest}"
    )


def _failing_too(outcome: _Outcome) -> str:
    """What exit 3 hides of exit 1: the risks that would have failed a complete scan. With
    --fail-on-new they matter most: where this scan saw their unit whole (a domain, an AWS
    region...), the next scan reads them as told here, and does not count them as new again."""
    if not outcome.failing and not outcome.relabelled:
        return ""
    which = "new risk finding(s)" if outcome.new_only else "risk finding(s)"
    text = f"; it also holds {outcome.failing} unwaived {which} at or above --fail-on "
    text += outcome.fail_on
    if outcome.relabelled:
        text += f" and {outcome.relabelled} risk finding(s) turned ok only by a relabel"
    if outcome.new_only:
        text += (
            ", which exit 3 does not report as exit 1: where this scan saw their unit whole, "
            "the next scan does not count them as new again (`sovscan diff` lists them)"
        )
    return text


def failing_findings(result: Scan, fail_on: str, only_keys: set[str] | None = None) -> int:
    """How many risk findings reach `fail_on` unwaived (among `only_keys` when given)."""
    if fail_on == "never":
        return 0
    threshold = Severity(fail_on).rank
    return sum(
        1
        for finding in result.findings
        if finding.status is Status.RISK
        and finding.severity.rank >= threshold
        # A waived finding is an accepted risk, recorded with a reason and an owner.
        and finding.waiver is None
        and (only_keys is None or finding.key in only_keys)
    )


def exit_code(result: Scan, fail_on: str, only_keys: set[str] | None = None) -> int:
    """3 when the scan is partial (it wins: a partial scan cannot claim clean or not), else 1 when
    an unwaived risk finding reaches `fail_on` (among `only_keys` when given), else 0."""
    return _exit_of(result, failing_findings(result, fail_on, only_keys))


def _exit_of(result: Scan, failing: int) -> int:
    """The exit code of a scan with `failing` risk findings that fail the run (see exit_code)."""
    return EXIT_PARTIAL if result.gaps else EXIT_RISK if failing else EXIT_OK


def _register_commands() -> None:
    # Commands that live in their own modules, one concern each.
    from sovscan.commands.lookup import data, explain, lookup
    from sovscan.commands.rules import rules

    for command in (rules, lookup, explain, data):
        cli.add_command(command)


_register_commands()


_manifest_sha256_option = click.option(
    "--manifest-sha256",
    "expected",
    metavar="HEX",
    help="The manifest's SHA-256 recorded when the bundle was made (scan --evidence prints it): "
    "proves the manifest itself was not rewritten.",
)


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_manifest_sha256_option
def verify(bundle: Path, expected: str | None) -> int:
    """Check an evidence bundle against its SHA-256 manifest (exit 1 if anything differs)."""
    from sovscan.evidence import checked_bundle, rewritten_manifest

    _check_sha256(expected)
    problems, digest = checked_bundle(bundle)
    rewritten = None if expected is None else rewritten_manifest(digest, expected)
    if rewritten is not None:
        problems.append(rewritten)
    from sovscan.report.safe import terminal_safe

    for problem in problems:
        # Escaped: the bundle's file names, written by whoever tampered with it, could otherwise
        # print a line that reads "intact" over the real verdict.
        click.echo(f"{bundle}: {terminal_safe(problem)}")
    if problems:
        return EXIT_RISK
    if expected is None:
        click.echo(
            f"{bundle}: intact; every file matches the manifest (manifest SHA-256 {digest}: "
            "compare it with the one recorded when the bundle was made, or pass it with "
            "--manifest-sha256)"
        )
    else:
        click.echo(f"{bundle}: intact; every file matches the manifest, whose SHA-256 {digest} "
                   "is the recorded one")  # fmt: skip
    return EXIT_OK


def _check_sha256(expected: str | None, option: str = "--manifest-sha256") -> None:
    if expected is not None and not _is_sha256(expected):
        raise click.BadParameter(
            f"expected 64 hexadecimal digits; got {expected[:80]!r}", param_hint=option
        )


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


class _Refused(click.ClickException):
    """A bundle whose manifest is not the recorded one: exit 1, as `verify` says it."""

    exit_code = EXIT_RISK


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Evaluate with these rule folders instead of the bundle's: they replace its rules, "
    "which stay in BUNDLE/rules/ (give BUNDLE/rules/0-rules too, to add to them).",
)
@_format_option
@_output_option
@_fail_on_option("never")
@_manifest_sha256_option
def replay(
    bundle: Path,
    rule_dirs: Sequence[Path],
    output_format: str,
    output: Path | None,
    fail_on: str,
    expected: str | None,
) -> int:
    """Re-resolve and re-evaluate a bundle's stored observations offline, with today's data."""
    from sovscan.engine import load_rules
    from sovscan.evidence import (
        ManifestRewritten,
        bundled_rule_dirs,
        load_observations,
        with_original_rule_sources,
    )
    from sovscan.model import ReplayOf
    from sovscan.probes import utc_now
    from sovscan.resolve import load_knowledge
    from sovscan.scan import assess, replay_profile

    started = utc_now()
    _check_sha256(expected)
    _check_output(
        output,
        files=_rule_files(rule_dirs),
        folders=[("the evidence bundle being replayed", bundle)],
    )
    try:
        observations = load_observations(bundle, manifest_sha256=expected)
    except ManifestRewritten as exc:
        raise _Refused(f"{exc}; not replayed") from None
    folders = list(rule_dirs) or bundled_rule_dirs(bundle)
    if not folders:
        raise ConfigError(f"{bundle}: the bundle holds no rules; give --rules DIR")
    # The bundle's own copies are read as the scan read them; folders given now are checked.
    ruleset = load_rules(*folders, as_stored=not rule_dirs)
    _check_own_cases(ruleset, rule_dirs)
    if not rule_dirs:
        # Named as in the original report, not by where the bundle sits now; the profile
        # below tells the shipped rules it selects by these names.
        ruleset = with_original_rule_sources(ruleset, bundle)
    if observations.profile is not None:
        # The stored policy already is the profile's; the profile still selects the rules.
        ruleset = replay_profile(ruleset, observations.policy, observations.profile)
    if output_format in STREAMED_FORMATS:
        # A national audit's bundle: evaluated in batches, as its scan was, not held whole.
        return _replay_streamed(observations, ruleset, rule_dirs, output_format, output, fail_on)
    result = assess(
        observations.policy,
        observations.assets,
        observations.gaps,
        load_knowledge(),
        ruleset,
        started=started,
        finished=utc_now(),
        waivers=observations.waivers,
        profile=observations.profile,
        replay_of=ReplayOf(observations.scan_id, observations.started_at, observations.finished_at),
        networks=observations.networks,
        # The servers that answered the observations: a replay asks none itself.
        dns_resolver=observations.dns_resolver,
    )
    result = _with_replay_notice(result, observations, bool(rule_dirs))
    # Not stored: a replay observed nothing, so in the history it would pass for the latest
    # scan of the estate in `diff` and --fail-on-new.
    return _emit(result, output_format, output, fail_on, None, False, replayed=True)


def _replay_streamed(
    observations: Observations,
    ruleset: RuleSet,
    rule_dirs: Sequence[Path],
    output_format: str,
    output: Path | None,
    fail_on: str,
) -> int:
    """`replay` for --format json or csv: the bundle's observations go through the streamed
    scan, as a probe's would, so memory holds a batch, not the replayed scan."""
    from sovscan.model import ReplayOf
    from sovscan.resolve import load_knowledge
    from sovscan.stream import streamed_scan

    with (
        _progress() as progress,
        streamed_scan(
            observations.policy,
            [_StoredObservations(observations.assets)],
            load_knowledge(),
            ruleset,
            extra_gaps=observations.gaps,
            waivers=observations.waivers,
            profile=observations.profile,
            progress=progress,
            formats=frozenset({output_format}),
            work_dir=_work_dir(output),
            networks=observations.networks,
            dns_resolver=observations.dns_resolver,
            replay_of=ReplayOf(
                observations.scan_id, observations.started_at, observations.finished_at
            ),
        ) as streamed,
    ):
        progress("")
        summary = _with_replay_notice(streamed.summary, observations, bool(rule_dirs))
        streamed = replace(streamed, summary=summary)
        return _emit_streamed(streamed, output_format, output, fail_on, None, False, replayed=True)


class _StoredObservations:
    """A bundle's stored assets, handed to the streamed scan as a probe hands over its own."""

    name = "replay"

    def __init__(self, assets: Sequence[Asset]) -> None:
        self.assets = assets

    def collect(self) -> Iterator[Asset | Gap]:
        yield from self.assets


def _with_replay_notice(result: Scan, observations: Observations, given_rules: bool) -> Scan:
    """`result` with the notice every format puts at its top: its own id and times, and
    replay_of in the provenance, say it too, but what the estate is like now was not observed.
    Warns when the rules or the data differ from the scan's."""
    rules_used = (
        "the rule folders given with --rules (instead of the bundle's)"
        if given_rules
        else "the bundle's rules"
    )
    rules_said, rules_problem = _same_digest(
        "rules", result.rules_digest, observations.rules_digest
    )
    data_said, data_problem = _same_digest("data", result.data_digest, observations.data_digest)
    notice = (
        f"Replay, not a new scan: the observations of scan {observations.scan_id} (made "
        f"{observations.started_at.isoformat(timespec='seconds')}), evaluated again offline "
        f"with {rules_used} and this sovscan's data. {rules_said} {data_said}"
    )
    problems = [problem for problem in (rules_problem, data_problem) if problem]
    if problems:
        logger.warning(
            "replay of scan %s: %s; verdicts may differ from the bundle's report for that "
            "reason alone",
            observations.scan_id,
            " and ".join(problems),
        )
    return replace(result, notices=(*result.notices, notice))


def _same_digest(what: str, used: str, recorded: str | None) -> tuple[str, str | None]:
    """A sentence saying whether the `what` ("rules", "data") digest a replay used is the one
    its bundle recorded, and what is wrong when it is not (None when it is)."""
    name = "Rules" if what == "rules" else "Data"
    if recorded is None:
        return (
            f"{name}: the bundle records no {what} digest to compare with ({used[:16]}).",
            f"the bundle records no {what} digest",
        )
    if used == recorded:
        return f"{name}: the same as the scan's (digest {used[:16]}).", None
    differs = (
        f"{name}: NOT the same as the scan's (digest {used[:16]} here, {recorded[:16]} in the "
        "bundle), so verdicts may differ from the scan's for that reason alone."
    )
    verb = "differ" if what == "rules" else "differs"
    return differs, f"the {what} {verb} from the scan's"


@cli.command()
@_store_option
@click.option(
    "--institution",
    metavar="NAME",
    help="Only the scans of this institution (one the store holds no scan of is an error).",
)
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--verify",
    is_flag=True,
    help="Check the store's hash chain instead: each scan's SHA-256 over its content and the "
    "scan before it. Exit 1, naming the first broken link, if a row was changed, added or "
    "deleted; prints the head digest to keep apart from the store.",
)
@click.option(
    "--head-sha256",
    "head",
    metavar="HEX",
    help="With --verify: a head digest printed earlier (kept in a CI log, a ticket); the chain "
    "must still hold it, which shows the newest scans were not deleted nor the chain rewritten.",
)
def history(
    store: Path | None, institution: str | None, output_format: str, verify: bool, head: str | None
) -> int:
    """List the stored scans with their scores, unwaived risks and waived (accepted) risks."""
    import json as json_module
    from dataclasses import asdict

    from tabulate import tabulate

    from sovscan.history import list_scans
    from sovscan.report.safe import terminal_safe

    store_path = store or default_store_path()
    if head is not None and not verify:
        raise click.UsageError("--head-sha256 goes with --verify")
    if verify:
        if institution is not None:
            raise click.UsageError("--verify checks the whole store: drop --institution")
        _check_sha256(head, "--head-sha256")
        return _verify_history(store_path, head, output_format)
    scans = list_scans(store_path, institution)
    if output_format == "json":
        click.echo(json_module.dumps([asdict(s) for s in scans], indent=2, ensure_ascii=False))
        return EXIT_OK
    rows = [
        [
            s.id,
            terminal_safe(s.institution),
            s.started_at,
            s.score,
            s.risks,
            "-" if s.waived is None else s.waived,
            "complete" if s.complete else "PARTIAL",
        ]
        for s in scans
    ]
    # risks: unwaived; waived: the accepted ones ("-" for a scan recorded before they were kept).
    headers = ["scan", "institution", "started", "score", "risks", "waived", "state"]
    click.echo(tabulate(rows, headers))
    return EXIT_OK


def _verify_history(store: Path, head: str | None, output_format: str) -> int:
    """`history --verify`: one line saying whether the chain holds (and a second when it began
    at a migration); exit 1 at the first broken link."""
    import json as json_module
    from dataclasses import asdict

    from sovscan.history import verify_store
    from sovscan.report.safe import terminal_safe

    check = verify_store(store, head)
    if output_format == "json":
        click.echo(json_module.dumps(asdict(check), indent=2))
    elif check.problem is not None:
        click.echo(f"{store}: hash chain broken: {terminal_safe(check.problem)}")
    else:
        click.echo(
            f"{store}: hash chain intact; {check.scans} scans, head SHA-256 {check.head or '-'} "
            "(keep it apart from the store; --head-sha256 checks it later)"
        )
        if check.chained_at_start:
            click.echo(
                f"{store}: the chain began on {check.started_at}, when the store was upgraded: "
                f"it vouches for the {check.chained_at_start} scans recorded before only since then"
            )
    return EXIT_OK if check.problem is None else EXIT_RISK


@cli.command()
@click.argument("old", required=False)
@click.argument("new", required=False)
@_store_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv", "markdown"]),
    default="table",
    show_default=True,
)
@_output_option
@click.option(
    "--institution",
    metavar="NAME",
    help="Compare scans of this institution: with no ids, its newest scan against its "
    "baseline; ids of another institution's scans are refused.",
)
def diff(
    old: str | None,
    new: str | None,
    store: Path | None,
    output_format: str,
    output: Path | None,
    institution: str | None,
) -> int:
    """What changed between two stored scans of one institution, older first.

    Default: the newest scan (of the store, or of --institution NAME) against the scan of its
    institution before it, read unit by unit as `--fail-on-new` reads it (where that scan had a
    gap in a domain, an AWS account or region, a SaaS endpoint, the latest earlier scan that saw
    the unit whole stands in), so its new risks are the ones `--fail-on-new` counts.

    A finding is new, resolved, relabelled (no longer a risk, its asset's classification
    changed: not shown fixed, and counted by `--fail-on-new`), changed, unseen (the newer scan
    could not see it, a gap in its unit; did not look for it, out of its scope; or could not
    tell it), accepted
    (newly waived), unaccepted (its waiver lapsed or was removed: new for `--fail-on-new`) or
    back (a risk again in view after the older scan's scope left it out: not new); its details
    say what else changed. An asset out of the older scan's scope that an earlier scan saw is
    back, not new.
    """
    from sovscan.files import write_atomic
    from sovscan.history import diff_scans
    from sovscan.report.diff import DIFF_REPORTERS

    store_path = store or default_store_path()
    _check_output(output, files=_store_files(store_path))
    if old is not None and new is None:
        raise ConfigError("diff: give both OLD and NEW scan ids, or neither")
    changes = diff_scans(store_path, old, new, institution=institution)
    text = DIFF_REPORTERS[output_format](changes)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomic(output, text)
    return EXIT_OK


_NAMESERVER = "--nameserver (or SOVSCAN_NAMESERVER)"  # the value may come from either


def _nameserver_source() -> str:
    """How the scan's --nameserver was given: the option, or its environment variable (a
    value left in a CI job's environment is worth seeing in the report)."""
    source = click.get_current_context().get_parameter_source("nameserver")
    return "SOVSCAN_NAMESERVER" if source is ParameterSource.ENVIRONMENT else "--nameserver"


def parse_nameserver(value: str) -> tuple[str, int]:
    """'HOST', 'HOST:PORT', '[IPv6]:PORT' or a bare IPv6 address -> (host, port)."""
    host, port_text = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest.startswith(":"):
            port_text = rest[1:]
        elif rest:
            raise ConfigError(f"{_NAMESERVER}: expected HOST[:PORT] or [IPv6]:PORT; got {value!r}")
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{_NAMESERVER}: expected HOST[:PORT] with a port 1-65535; got {value!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"{_NAMESERVER}: expected an IP address (optionally :PORT); got {value!r}"
        ) from None
    return host, int(port_text)


def main() -> NoReturn:
    """Console-script entry point."""
    cli.main(prog_name="sovscan")
