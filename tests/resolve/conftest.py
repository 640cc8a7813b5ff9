"""Shared fixtures for the resolution tests: the bundled knowledge base, loaded once per session."""

from __future__ import annotations

import pytest

from sovscan.resolve import KnowledgeBase, default_data_dir, load_knowledge


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    # The bundled data explicitly: a refreshed copy in the user's data directory must not
    # change what the tests see.
    return load_knowledge(default_data_dir())


@pytest.fixture(autouse=True)
def _no_user_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commands call load_knowledge() with no directory: keep them on the bundled data too.
    monkeypatch.setenv("SOVSCAN_DATA_DIR", str(tmp_path_factory.mktemp("no-user-data") / "none"))
