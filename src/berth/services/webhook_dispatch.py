"""The subscriber that turns artifact and quota events into webhook deliveries: for each event, every
enabled policy of its project that names its event type gets, per target, one execution (vendor
WEBHOOK or SLACK, vendor id the policy, trigger EVENT) with one delivery task, as Harbor's hook
manager creates them. From the outbox (`deliver`) they are written in the outbox's delivery
transaction, keyed by the outbox row id (an event handed over twice makes no second delivery); from
the in-memory bus (pulls, `__call__`) a batch is written in its own transaction. Local workers are
woken after the commit.

Bodies are rendered here, when the event happens, so a retry sends the very same bytes and the
execution shows them (extra_attrs.payload), as in Harbor.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from berth.db.models import Execution, Repository
from berth.db.session import after_commit
from berth.events.outbox import OutboxEvent
from berth.events.types import Event
from berth.webhook.payloads import RepositoryFacts, event_type_of, harbor_payload, render
from berth.webhook.policy import SLACK, VENDOR_TYPES

if TYPE_CHECKING:  # annotations only: background.py hands the registry in
    from berth.security.roles import ProjectRef
    from berth.services.registry import Registry
    from berth.services.webhooks import PolicyRecord

log = structlog.get_logger("berth.webhook")

#: seconds to wait before each new try of a batch's write (the database may be busy or failing over)
WRITE_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One execution with its task, ready to be written."""

    vendor_type: str
    policy_id: int
    event_type: str
    body: str
    parameters: dict[str, Any]
    #: of the request whose event this delivers
    request_id: str = ""
    #: the outbox row of the event (None: a pull, from the in-memory bus)
    event_id: int | None = None


def external_host(public_url: str | None, host: str, port: int) -> str:
    """Harbor's ExtURL: the external endpoint without its scheme ("registry.example.com")."""
    if public_url:
        return public_url.rstrip("/").partition("://")[2] or public_url.rstrip("/")
    return f"{host}:{port}"


class WebhookDispatcher:
    def __init__(self, registry: Registry, *, ext_host: str, max_attempts: int) -> None:
        self._registry = registry
        self._ext_host = ext_host
        self._max_attempts = max_attempts

    async def deliver(self, conn: Any, batch: Sequence[OutboxEvent]) -> None:
        """The outbox subscriber: write the deliveries of `batch` on `conn`, the delivery transaction
        (an error rolls the delivery back, to be tried again), skipping events that already have theirs."""
        done = set((await conn.execute(select(Execution.event_id).where(
            Execution.vendor_type.in_(VENDOR_TYPES.values()),  # replication executions carry event ids too
            Execution.event_id.in_([item.id for item in batch])))).scalars())
        deliveries = await self._plan([(item.id, item.event) for item in batch if item.id not in done])
        if deliveries:
            await self._insert(conn, deliveries)
            after_commit(conn, self._registry.jobs.notify)

    async def __call__(self, batch: Sequence[Event]) -> None:
        """The in-memory bus's subscriber (pulls)."""
        for delay in (*WRITE_RETRY_DELAYS, None):
            try:
                deliveries = await self._plan([(None, event) for event in batch])
                if deliveries:
                    await self._write(deliveries)
                return
            except (DBAPIError, OSError):
                # the lookups before the write (configuration, projects, policies) met a database that
                # is away for a moment: the whole batch is tried again, as its write would be
                if delay is None:
                    log.exception("webhook deliveries of a batch of events lost", events=len(batch))
                    return
                log.warning("looking up webhook policies failed; retrying", events=len(batch), retry_in=delay)
                await asyncio.sleep(delay)
            except Exception:  # the bus logs too; this says what was at stake
                log.exception("webhook deliveries of a batch of events lost", events=len(batch))
                return

    async def _plan(self, batch: Sequence[tuple[int | None, Event]]) -> list[Delivery]:
        """The deliveries the events make (reads only)."""
        events = [(event_id, event) for event_id, event in batch
                  if event_type_of(event) is not None and event.project_name]
        if not events or not await self._registry.configurations.get("notification_enable"):
            return []
        # policies first (from memory): most events, pulls above all, have none and cost no query
        matched: list[tuple[int | None, Event, ProjectRef, list[PolicyRecord]]] = []
        for event_id, event in events:
            project = await self._registry.projects.ref(event.project_name or "")
            if project is None:
                continue
            policies = [p for p in await self._registry.webhooks.enabled_policies(project.id)
                        if event_type_of(event) in p.event_types]
            if policies:
                matched.append((event_id, event, project, policies))
        if not matched:
            return []
        created = await self._repository_creation_times({getattr(e, "repository", "") for _, e, _, _ in matched})
        deliveries: list[Delivery] = []
        for event_id, event, project, policies in matched:
            try:
                deliveries.extend(self._deliveries(event_id, event, project, policies, created))
            except Exception:  # one event that cannot be rendered must not cost the others theirs
                log.exception("webhook deliveries for an event failed", event=type(event).__name__)
        return deliveries

    def _deliveries(
        self, event_id: int | None, event: Event, project: ProjectRef, policies: list[PolicyRecord],
        created: dict[str, int],
    ) -> list[Delivery]:
        event_type = event_type_of(event) or ""
        repository = getattr(event, "repository", "")
        facts = RepositoryFacts(project.id, project.public, created.get(repository))
        payload = harbor_payload(event, facts, self._ext_host)
        out = []
        for policy in policies:
            for target in policy.targets:
                content_type, body = render(
                    payload, target.type, target.payload_format, project_id=project.id, policy_id=policy.id,
                    request_id=event.request_id, event_id=str(uuid.uuid4()),
                )
                out.append(Delivery(VENDOR_TYPES[target.type], policy.id, event_type, body, {
                    "policy_id": policy.id, "address": target.address, "content_type": content_type,
                    "payload": body, "skip_cert_verify": target.skip_cert_verify,
                    # still sealed: opened by the delivery job only, so never in logs or API answers
                    "auth_header": target.sealed_auth_header if target.type != SLACK else "",
                    "signing_secret": policy.sealed_signing_secret or "",
                }, event.request_id, event_id))
        return out

    async def _repository_creation_times(self, names: set[str]) -> dict[str, int]:
        names.discard("")
        if not names:
            return {}
        async with self._registry.db.read() as conn:
            rows = (await conn.execute(select(Repository.name, Repository.created_at)
                                       .where(Repository.name.in_(names)))).all()
        return {row.name: int(row.created_at.timestamp()) for row in rows}

    async def _write(self, deliveries: list[Delivery]) -> None:
        for delay in (*WRITE_RETRY_DELAYS, None):
            try:
                async with self._registry.db.write() as conn:
                    await self._insert(conn, deliveries)
                break
            except DBAPIError as error:
                if delay is None or isinstance(error, IntegrityError):  # retrying cannot mend a broken row
                    log.exception("webhook deliveries lost: the database refused them", count=len(deliveries))
                    return
                log.warning("writing webhook deliveries failed; retrying", count=len(deliveries), retry_in=delay)
                await asyncio.sleep(delay)
        self._registry.jobs.notify()

    async def _insert(self, conn: Any, deliveries: list[Delivery]) -> None:
        jobs = self._registry.jobs
        for delivery in deliveries:
            execution_id = await jobs.create_execution(
                conn, delivery.vendor_type, delivery.policy_id, "EVENT",
                {"event_type": delivery.event_type, "payload": delivery.body}, event_id=delivery.event_id)
            await jobs.create_task(conn, execution_id, delivery.vendor_type, delivery.parameters,
                                   max_attempts=self._max_attempts, request_id=delivery.request_id)
