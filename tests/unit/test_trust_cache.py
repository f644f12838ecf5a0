"""The trust check's cached decision (services/trust.py) on a real SQLite schema: once warm a pull asks
the database nothing, not even when the decision is past its TTL (one background read refreshes it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from berth.events.bus import EventBus
from berth.services.projects import ProjectService
from berth.services.trust import TrustService
from berth.sign.keys import public_key_pem
from berth.sign.policy import TrustPolicy
from tests.unit.test_pull_policy_inputs import DIGEST, Counted, shop_with_image


@pytest.fixture
async def enforcing(tmp_path) -> AsyncIterator[tuple[Counted, TrustService, int]]:
    counted, project = await shop_with_image(tmp_path)
    events = EventBus()
    no_blobs: Any = None  # an unsigned image: no signature blob is read
    trust = TrustService(counted.db, ProjectService(counted.db, events=events), no_blobs, events, ttl=0.5)
    key = public_key_pem(ec.generate_private_key(ec.SECP256R1())).decode()
    await trust.put_policy(project, "shop", TrustPolicy(mode="enforce", cosign_public_keys=[key]))
    yield counted, trust, project
    await trust.drained()
    await counted.db.close()


async def test_a_warm_decision_past_its_ttl_is_answered_without_the_database(enforcing):
    counted, trust, project = enforcing
    assert (await trust.decision(project, "shop/app", DIGEST)).refused  # unsigned: refused, now cached
    await asyncio.sleep(0.6)  # past the TTL, well short of twice it (a loaded machine oversleeps)
    before = counted.statements
    decisions = [await trust.decision(project, "shop/app", DIGEST) for _ in range(50)]
    assert all(d.refused for d in decisions) and counted.statements == before
    await trust.drained()  # the one background refresh of the requirement and of the decision
    refreshed = counted.statements
    assert refreshed > before
    assert (await trust.decision(project, "shop/app", DIGEST)).refused and counted.statements == refreshed
