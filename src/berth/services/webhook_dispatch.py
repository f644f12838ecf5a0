"""The event-bus subscriber that turns artifact and quota events into webhook deliveries: for each
event, every enabled policy of its project that names its event type gets, per target, one execution
(vendor WEBHOOK or SLACK, vendor id the policy, trigger EVENT) with one delivery task, as Harbor's
hook manager creates them. A whole batch is written in one transaction, then local workers are woken.

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

from berth.db.models import Repository
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

    async def __call__(self, batch: Sequence[Event]) -> None:
        for delay in (*WRITE_RETRY_DELAYS, None):
            try:
                await self._dispatch(batch)
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

    async def _dispatch(self, batch: Sequence[Event]) -> None:
        events = [event for event in batch if event_type_of(event) is not None and event.project_name]
        if not events or not await self._registry.configurations.get("notification_enable"):
            return
        # policies first (from memory): most events, pulls above all, have none and cost no query
        matched: list[tuple[Event, ProjectRef, list[PolicyRecord]]] = []
        for event in events:
            project = await self._registry.projects.ref(event.project_name or "")
            if project is None:
                continue
            policies = [p for p in await self._registry.webhooks.enabled_policies(project.id)
                        if event_type_of(event) in p.event_types]
            if policies:
                matched.append((event, project, policies))
        if not matched:
            return
        created = await self._repository_creation_times({getattr(e, "repository", "") for e, _, _ in matched})
        deliveries: list[Delivery] = []
        for event, project, policies in matched:
            try:
                deliveries.extend(self._deliveries(event, project, policies, created))
            except Exception:  # one event that cannot be rendered must not cost the others theirs
                log.exception("webhook deliveries for an event failed", event=type(event).__name__)
        if deliveries:
            await self._write(deliveries)

    def _deliveries(
        self, event: Event, project: ProjectRef, policies: list[PolicyRecord], created: dict[str, int],
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
                }, event.request_id))
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
        jobs = self._registry.jobs
        for delay in (*WRITE_RETRY_DELAYS, None):
            try:
                async with self._registry.db.write() as conn:
                    for delivery in deliveries:
                        execution_id = await jobs.create_execution(
                            conn, delivery.vendor_type, delivery.policy_id, "EVENT",
                            {"event_type": delivery.event_type, "payload": delivery.body})
                        await jobs.create_task(conn, execution_id, delivery.vendor_type, delivery.parameters,
                                               max_attempts=self._max_attempts, request_id=delivery.request_id)
                break
            except DBAPIError as error:
                if delay is None or isinstance(error, IntegrityError):  # retrying cannot mend a broken row
                    log.exception("webhook deliveries lost: the database refused them", count=len(deliveries))
                    return
                log.warning("writing webhook deliveries failed; retrying", count=len(deliveries), retry_in=delay)
                await asyncio.sleep(delay)
        jobs.notify()
