"""The `lookup`, `explain` and `data info` commands, invoked through click's test runner."""

from __future__ import annotations

import dataclasses
import json

import click
import pytest
from click.testing import CliRunner

from sovscan.commands.lookup import (
    data,
    explain,
    explain_law,
    explain_provider,
    lookup,
    target_asset,
)
from sovscan.resolve import KnowledgeBase


def _json(*targets: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(lookup, [*targets, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_lookup_montreal_address_json() -> None:
    doc = _json("3.96.0.1")
    assert doc["schema"] == "sovscan.lookup/1" and len(doc["data_digest"]) == 64
    (r,) = doc["results"]
    loc, ctl = r["location"], r["control"]
    assert (loc["provider"], loc["region"], loc["country"], loc["subdivision"]) == (
        "aws",
        "ca-central-1",
        "CA",
        "CA-QC",
    )
    assert loc["edge"] is False and loc["method"] == "published-ranges"
    assert ctl["operator"] == "Amazon Web Services, Inc." and ctl["jurisdictions"] == ["US"]
    assert "us-cloud-act" in ctl["laws"] and ctl["method"] == "published-ranges"
    assert loc["evidence"] and ctl["evidence"]


def test_lookup_table_shows_every_target_and_the_evidence() -> None:
    result = CliRunner().invoke(
        lookup, ["3.96.0.1", "ca-west-1", "azure:canadaeast", "x.cloudfront.net"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "CA-QC" in out and "CA-AB" in out and "global edge" in out
    assert (
        "us-cloud-act" in out and "published-ranges/high" in out and "catalogue/high" in out
    )  # a typed region: the region table
    assert "3.96.0.0/15" in out  # the evidence chain names the prefix that matched


def test_lookup_regions_and_hosts() -> None:
    doc = _json("gcp:northamerica-northeast1", "ca-central-1", "mx0a-1.pphosted.com", "192.0.2.1")
    gcp, aws, proofpoint, unknown = doc["results"]
    assert gcp["location"]["subdivision"] == "CA-QC" and gcp["location"]["method"] == "catalogue"
    assert aws["location"]["subdivision"] == "CA-QC"
    assert proofpoint["control"]["operator"] == "Proofpoint, Inc."
    assert proofpoint["location"]["country"] is None
    assert unknown["location"]["method"] == "unknown" and unknown["control"]["laws"] is None


def test_a_bare_region_of_another_provider_is_that_providers_region(kb: KnowledgeBase) -> None:
    azure, google = _json("canadaeast", "northamerica-northeast1")["results"]
    assert (azure["location"]["provider"], azure["location"]["subdivision"]) == (
        "microsoft",
        "CA-QC",
    )
    assert google["control"]["operator"] == "Google LLC"
    # Two-letter names are countries to a reader, not Mimecast's regions; an edge is no region.
    # Neither is a host name (it has no dot): the error says how to write the region meant.
    for word, hint in (("ca", "did you mean mimecast:ca?"), ("uk", "did you mean mimecast:uk?")):
        refused = CliRunner().invoke(lookup, [word])
        assert refused.exit_code == 2, word
        assert hint in refused.output, refused.output
    refused = CliRunner().invoke(lookup, ["global"])
    assert refused.exit_code == 2 and "'global': no such region (expected" in refused.output
    # A name two providers use is not guessed: the error says how to choose.
    shared = {**kb.regions, ("ovhcloud", "canadaeast"): kb.regions[("microsoft", "canadaeast")]}
    with pytest.raises(click.BadParameter, match="write microsoft:canadaeast, ovhcloud:canadaeast"):
        target_asset("canadaeast", dataclasses.replace(kb, regions=shared))


def test_lookup_mentions_asn_attribution_when_it_used_the_asn_table() -> None:
    result = CliRunner().invoke(lookup, ["24.200.0.1"])
    assert result.exit_code == 0 and "db-ip.com" in result.output and "Vidéotron" in result.output


@pytest.mark.parametrize(
    "target", ["not a host!", "aws:nowhere-1", "-x-..", "999.1.1.1", "10.0.0", "1.2.3.4."]
)
def test_lookup_rejects_bad_targets(target: str) -> None:
    result = CliRunner().invoke(lookup, ["--", target])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("ca-centrl-1", "'ca-centrl-1': no such region; did you mean ca-central-1?"),
        ("CA-CENTRAL-1", "'CA-CENTRAL-1': no such region; did you mean ca-central-1?"),
        ("canadaest", "'canadaest': no such region; did you mean canadaeast?"),
        (
            "aws:ca-centrl-1",
            "'aws:ca-centrl-1': aws has no region 'ca-centrl-1'; did you mean ca-central-1?",
        ),
        (
            "azure:canadaest",
            "'azure:canadaest': microsoft has no region 'canadaest'; did you mean canadaeast?",
        ),
        (
            "gcp:northamerica-northeast9",
            "did you mean northamerica-northeast1 or northamerica-northeast2?",
        ),
        (
            "amazon:ca-central-1",
            (
                "'amazon:ca-central-1': no provider 'amazon' has regions in the "
                "catalogue; expected one of aws, azure, "
            ),
        ),
        ("aws:zz-nowhere-0", "aws has no region 'zz-nowhere-0'; expected one of its "),
        ("zzzzzz", "'zzzzzz': no such region (expected an IP address, a host name with a dot"),
    ],
)
def test_a_region_the_catalogue_cannot_place_is_an_error(target: str, expected: str) -> None:
    # A misspelt region is bad input, never an unknown answer with exit 0: in a script, `?`
    # would pass for "nobody knows where ca-central-1 is".
    result = CliRunner().invoke(lookup, ["--", target])
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_a_misspelt_region_is_one_line_on_stderr_through_the_cli() -> None:
    from sovscan.cli import cli

    result = CliRunner().invoke(cli, ["lookup", "3.96.0.1", "ca-centrl-1"])
    assert result.exit_code == 2
    assert result.stdout == ""  # nothing is answered when one target is bad
    (line,) = result.stderr.splitlines()
    assert line.startswith("sovscan: error: ") and "did you mean ca-central-1?" in line


@pytest.mark.parametrize("target", ["192.0.2.1", "10.1.2.3", "mail.nowhere.example"])
def test_what_no_table_holds_is_an_unknown_answer_not_an_error(target: str) -> None:
    # An address in no published range, or a host no pattern matches, is a fact about the data:
    # answered unknown, exit 0. Only a name that should be a region and is none is bad input.
    (result,) = _json(target)["results"]
    assert result["location"]["method"] == "unknown"
    assert result["control"]["operator"] is None


def test_lookup_output_is_terminal_safe() -> None:
    result = CliRunner().invoke(lookup, ["evil\x1b[31m.example"])
    assert "\x1b" not in result.output


def test_lookup_needs_a_target() -> None:
    assert CliRunner().invoke(lookup, []).exit_code == 2


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("us-cloud-act", "18 U.S.C. § 2713"),
        ("cn-nil", "art. 7"),
        ("aws", "Amazon.com, Inc."),
        ("azure", "Microsoft Corporation"),
        ("d2l", "Runs on: Amazon Web Services"),
        ("cologix", "Cologix, Inc."),
        ("aws-eusc", "Technology licensed from: Amazon Web Services"),
        ("foreign-law-reach", "source: rules/control/foreign-law-reach.yaml"),
        # Frameworks and profiles, which findings and --profile name, are explained too.
        ("qc-law25", "p39.1-s17   CQLR c. P-39.1, s. 17"),
        ("gc-protected-b", "Sets allowed_locations: CA"),
        ("SECNUMCLOUD", "SecNumCloud 3.2, ch. 19.6"),
    ],
)
def test_explain(subject: str, expected: str) -> None:
    result = CliRunner().invoke(explain, [subject])
    assert result.exit_code == 0, result.output
    assert expected in result.output


def test_explain_unknown_subject() -> None:
    result = CliRunner().invoke(explain, ["nope"])
    assert result.exit_code == 2
    assert "not a law, provider, rule, framework or profile id" in result.output
    assert "did you mean" not in result.output
    for typo, meant in (("foreign-law-rech", "foreign-law-reach"), ("us-cloudact", "us-cloud-act")):
        misspelt = CliRunner().invoke(explain, [typo])
        assert misspelt.exit_code == 2
        assert f"did you mean {meant}?" in misspelt.output
    # An id that is both a framework and a profile is suggested once.
    assert "eu-csf or eu-csf" not in CliRunner().invoke(explain, ["eu-cs"]).output


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        # Ids that contain the word typed, as well as those close to it.
        ("law25", "did you mean qc-law25 or quebec-law25? "),
        ("foreign-law", "did you mean foreign-law-reach? "),
        ("FISA", "did you mean us-fisa-702? "),
        ("cloud-act", "did you mean us-cloud-act? "),
        # Else the ids holding most of its parts.
        ("law-quebec", "did you mean quebec-law25? "),
        ("quebec law 25", "did you mean quebec-law25? "),
    ],
)
def test_explain_suggests_ids_containing_the_word(typed: str, hint: str) -> None:
    from sovscan.cli import cli

    result = CliRunner().invoke(cli, ["explain", typed])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"sovscan: error: Invalid value: {typed!r} is not a law, provider, rule, framework or "
        f"profile id; {hint}`sovscan explain --list` lists them\n"
    )


def test_explain_of_a_finding_key_points_to_its_rule_id() -> None:
    from sovscan.cli import cli

    key = "3F1C0E2A9B7D4C6E8F0A1B2C3D4E5F60"
    result = CliRunner().invoke(cli, ["explain", key])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"{key!r} is a finding key; explain takes a rule, law, provider" in result.stderr
    assert "the finding's rule id is in the report's rule_id field" in result.stderr
    assert "did you mean" not in result.stderr


def test_suggestions_do_not_flood() -> None:
    from sovscan.suggest import related

    names = ["qc-law25", "quebec-law25", "eu-gdpr", "gdpr", "us-cloud-act"]
    assert related("eu", names) == []  # too short to look for inside names
    assert related("nothing-alike", names) == []
    assert related("gdpr", names) == ["gdpr", "eu-gdpr"]  # the closest first
    assert related("law", names, limit=1) == ["qc-law25"]


def test_an_id_that_is_a_framework_and_a_profile_explains_both() -> None:
    result = CliRunner().invoke(explain, ["secnumcloud"])
    assert result.exit_code == 0, result.output
    assert "SecNumCloud 3.2, ch. 19.6" in result.output  # the framework's controls
    assert "a profile: `--profile secnumcloud`" in result.output


def test_explain_lists_every_subject() -> None:
    result = CliRunner().invoke(explain, ["--list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("laws: ") and "us-cloud-act" in lines[0]
    assert lines[1].startswith("providers: ") and "videotron" in lines[1]
    assert lines[2].startswith("rules: ") and "foreign-law-reach" in lines[2]
    assert lines[3].startswith("frameworks: ") and "qc-law25" in lines[3]
    assert lines[4].startswith("profiles: ") and "gc-protected-b" in lines[4]


def test_data_info_lists_sources_and_digest() -> None:
    result = CliRunner().invoke(data, ["info"])
    assert result.exit_code == 0, result.output
    assert "data digest:" in result.output and "ip-ranges.amazonaws.com" in result.output
    assert "DB-IP" in result.output


def test_every_law_and_provider_can_be_explained(kb: KnowledgeBase) -> None:
    for law in kb.laws.values():
        assert law.citation in explain_law(law, kb)
    for provider in kb.providers.values():
        text = explain_provider(provider, kb)
        assert provider.operator in text and "Sources:" in text
