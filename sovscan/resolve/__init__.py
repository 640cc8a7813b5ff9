"""Resolution: for each asset, where its data is (Location) and who can compel it (Control)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sovscan.resolve.declared import (
    DeclaredTable,
    cloud_ranges_within,
    declared_table,
)
from sovscan.resolve.knowledge import KnowledgeBase, default_data_dir, load_knowledge
from sovscan.resolve.rdap import RdapClient, RdapNetwork
from sovscan.resolve.resolver import resolve, resolve_all

__all__ = [
    "DeclaredTable",
    "KnowledgeBase",
    "RdapClient",
    "RdapNetwork",
    "cloud_ranges_within",
    "declared_table",
    "default_data_dir",
    "law_summaries",
    "load_knowledge",
    "resolve",
    "resolve_all",
]


def law_summaries(kb: KnowledgeBase) -> Mapping[str, Mapping[str, str]]:
    """Law id -> name, jurisdiction, citation and reach, for the laws a report may name."""
    return MappingProxyType(
        {
            law.id: MappingProxyType(
                {
                    "name": law.name,
                    "jurisdiction": law.jurisdiction,
                    "citation": law.citation,
                    "reach": law.reach,
                }
            )
            for law in kb.laws.values()
        }
    )
