"""Shared fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.local.local_stack import LocalStack, local_stack
from bot.local.nats_server import NatsServer, run_nats_server


@pytest_asyncio.fixture(scope="session")
async def nats_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    """A real nats-server with JetStream for the whole session; `.url` is nats://127.0.0.1:PORT."""
    store_dir: Path = tmp_path_factory.mktemp("nats")
    async with run_nats_server(store_dir) as server:
        yield server


@pytest_asyncio.fixture
async def stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    """A fresh nats-server, fake forest and fake Slack per test; start bots with
    ``stack.start_bot()``."""
    async with local_stack(tmp_path) as running:
        yield running
