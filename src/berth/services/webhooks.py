"""Webhook policies of projects: stored with Harbor's validation, secrets sealed, and the enabled
policies of a project kept briefly in memory for the event subscriber.

Secrets: a target's `auth_header` and the policy's signing secret are credentials berth presents to
receivers, so both are sealed with the secret box at rest. The signing secret is write-only; the auth
header is shown (as Harbor shows it) only to callers who may change the policy (the API decides).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from berth.db.models import Execution, WebhookPolicy, utcnow
from berth.db.session import Database
from berth.security.keys import SecretBox
from berth.services.cache import LruCache
from berth.services.errors import BadRequest, Conflict, NotFound
from berth.services.querying import conditions, orderings
from berth.webhook.policy import (
    VENDOR_TYPES,
    PolicyInvalid,
    Target,
    check_description,
    check_event_types,
    check_name,
    check_secret,
    check_targets,
)

#: how long a node trusts its copy of a project's policies (another node may have changed them)
POLICY_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class StoredTarget:
    type: str
    address: str
    #: sealed with the secret box; "" when there is none
    sealed_auth_header: str
    skip_cert_verify: bool
    payload_format: str


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: int
    project_id: int
    name: str
    description: str
    targets: tuple[StoredTarget, ...]
    event_types: tuple[str, ...]
    creator: str
    enabled: bool
    #: sealed with the secret box; None when deliveries are not signed
    sealed_signing_secret: str | None
    creation_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class TargetInput:
    """A target as a request gives it; auth_header None means "keep the stored one"."""

    type: str
    address: str
    auth_header: str | None = None
    skip_cert_verify: bool = False
    payload_format: str = ""


_KEYS = {"id": WebhookPolicy.id, "name": WebhookPolicy.name, "enabled": WebhookPolicy.enabled,
         "creator": WebhookPolicy.creator, "creation_time": WebhookPolicy.creation_time,
         "update_time": WebhookPolicy.update_time, "description": WebhookPolicy.description}


class WebhookService:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._enabled: LruCache[int, tuple[PolicyRecord, ...]] = LruCache(10_000, ttl=POLICY_CACHE_SECONDS)

    # --- reading ---------------------------------------------------------------------------------

    async def get(self, project_id: int, policy_id: int) -> PolicyRecord:
        async with self._db.read() as conn:
            row = (await conn.execute(select(WebhookPolicy).where(WebhookPolicy.id == policy_id))).first()
        if row is None or row.project_id != project_id:
            raise NotFound(f"project id:{project_id}, webhook policy id: {policy_id} not found")
        return _record(row)

    async def list(
        self, project_id: int, *, q: str | None = None, sort: str | None = None, offset: int = 0, limit: int = 10,
    ) -> tuple[list[PolicyRecord], int]:
        query: Select = select(WebhookPolicy).where(WebhookPolicy.project_id == project_id, *conditions(q, _KEYS))
        async with self._db.read() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = (await conn.execute(query.order_by(
                *orderings(sort, _KEYS, [WebhookPolicy.creation_time.desc(), WebhookPolicy.id.desc()])
            ).offset(offset).limit(limit))).all()
        return [_record(row) for row in rows], total

    async def enabled_policies(self, project_id: int) -> tuple[PolicyRecord, ...]:
        """The project's enabled policies, from memory for up to POLICY_CACHE_SECONDS."""
        cached = self._enabled.get(project_id)
        if cached is not None:
            return cached
        version = self._enabled.version
        async with self._db.read() as conn:
            rows = (await conn.execute(select(WebhookPolicy).where(
                WebhookPolicy.project_id == project_id, WebhookPolicy.enabled).order_by(WebhookPolicy.id))).all()
        policies = tuple(_record(row) for row in rows)
        self._enabled.put(project_id, policies, if_version=version)
        return policies

    async def last_triggered(self, policy: PolicyRecord) -> dict[str, datetime | None]:
        """event type -> start of the policy's newest execution for it (Harbor's deprecated lasttrigger)."""
        out: dict[str, datetime | None] = {}
        async with self._db.read() as conn:
            for event_type in policy.event_types:
                out[event_type] = await conn.scalar(select(func.max(Execution.start_time)).where(
                    Execution.vendor_type.in_(tuple(VENDOR_TYPES.values())), Execution.vendor_id == policy.id,
                    Execution.extra_attrs.contains(json.dumps({"event_type": event_type})[1:-1], autoescape=True)))
        return out

    def open(self, sealed: str) -> str:
        return self._box.open(sealed) if sealed else ""

    # --- writing ---------------------------------------------------------------------------------

    async def create(
        self, project_id: int, *, name: str, description: str, event_types: Sequence[str],
        targets: Sequence[TargetInput], enabled: bool, creator: str, signing_secret: str | None,
    ) -> int:
        name, event_types, stored = self._checked(name, event_types, targets, previous=(),
                                                  description=description, signing_secret=signing_secret)
        now = utcnow()
        try:
            async with self._db.write() as conn:
                if await conn.scalar(select(WebhookPolicy.id).where(
                        WebhookPolicy.project_id == project_id, WebhookPolicy.name == name)) is not None:
                    raise Conflict(f"notification policy named {name} already exists")
                policy_id = await conn.scalar(self._db.insert(WebhookPolicy).values(
                    project_id=project_id, name=name, description=description, targets=_targets_json(stored),
                    event_types=json.dumps(event_types), creator=creator, enabled=enabled,
                    signing_secret=self._box.seal(signing_secret) if signing_secret else None,
                    creation_time=now, update_time=now,
                ).returning(WebhookPolicy.id))
        except IntegrityError:
            raise Conflict(f"notification policy named {name} already exists") from None
        self._forget(project_id)
        return int(policy_id)

    async def update(
        self, current: PolicyRecord, *, name: str | None, description: str | None, event_types: Sequence[str],
        targets: Sequence[TargetInput], enabled: bool | None, signing_secret: str | None,
    ) -> None:
        """Replace the policy. None keeps the stored name, description, enabled flag and signing
        secret ("" removes the secret); a target without auth_header keeps the stored header of the
        target with the same type and address."""
        name, event_types, stored = self._checked(
            current.name if name is None else name, event_types, targets, previous=current.targets,
            description=description, signing_secret=signing_secret)
        if signing_secret is None:
            sealed_secret = current.sealed_signing_secret
        else:
            sealed_secret = self._box.seal(signing_secret) if signing_secret else None
        try:
            async with self._db.write() as conn:
                if await conn.scalar(select(WebhookPolicy.id).where(
                        WebhookPolicy.project_id == current.project_id, WebhookPolicy.name == name,
                        WebhookPolicy.id != current.id)) is not None:
                    raise Conflict(f"notification policy named {name} already exists")
                result = await conn.execute(update(WebhookPolicy).where(WebhookPolicy.id == current.id).values(
                    name=name, description=current.description if description is None else description,
                    targets=_targets_json(stored), event_types=json.dumps(event_types),
                    enabled=current.enabled if enabled is None else enabled, signing_secret=sealed_secret,
                    update_time=utcnow(),
                ))
        except IntegrityError:
            raise Conflict(f"notification policy named {name} already exists") from None
        self._forget(current.project_id)
        if result.rowcount == 0:
            raise NotFound(f"webhook policy {current.id} not found")

    async def delete(self, policy: PolicyRecord) -> None:
        """Delete the policy with its executions (tasks and logs go with them), as Harbor does. Harbor
        refuses (412) while deliveries are unfinished; berth drops them instead: a deleted policy stops
        sending at once (an attempt already in flight ends, and its outcome is not recorded)."""
        async with self._db.write() as conn:
            await conn.execute(delete(Execution).where(
                Execution.vendor_type.in_(tuple(VENDOR_TYPES.values())), Execution.vendor_id == policy.id))
            await conn.execute(delete(WebhookPolicy).where(WebhookPolicy.id == policy.id))
        self._forget(policy.project_id)

    # --- helpers ---------------------------------------------------------------------------------

    def _checked(
        self, name: str, event_types: Sequence[str], targets: Sequence[TargetInput],
        previous: Sequence[StoredTarget], *, description: str | None, signing_secret: str | None,
    ) -> tuple[str, Sequence[str], Sequence[StoredTarget]]:
        try:
            name = check_name(name)
            check_description(description)
            check_secret("signing_secret", signing_secret)
            checked_types = check_event_types(event_types)
            kept = {(t.type, t.address): t.sealed_auth_header for t in previous}
            plain = check_targets(name, [
                Target(t.type, t.address, t.auth_header or "", t.skip_cert_verify, t.payload_format)
                for t in targets])
        except PolicyInvalid as error:
            raise BadRequest(str(error)) from None
        stored = []
        for given, target in zip(targets, plain, strict=True):
            if given.auth_header is None:
                sealed = kept.get((target.type, target.address), "")
            else:
                sealed = self._box.seal(given.auth_header) if given.auth_header else ""
            stored.append(StoredTarget(target.type, target.address, sealed, target.skip_cert_verify,
                                       target.payload_format))
        return name, checked_types, stored

    def _forget(self, project_id: int) -> None:
        self._enabled.discard(project_id)


def _targets_json(targets: Sequence[StoredTarget]) -> str:
    return json.dumps([
        {"type": t.type, "address": t.address, "auth_header": t.sealed_auth_header,
         "skip_cert_verify": t.skip_cert_verify, "payload_format": t.payload_format}
        for t in targets
    ])


def _target(raw: dict[str, Any]) -> StoredTarget:
    return StoredTarget(str(raw.get("type", "")), str(raw.get("address", "")), str(raw.get("auth_header") or ""),
                        bool(raw.get("skip_cert_verify")), str(raw.get("payload_format") or ""))


def _record(row: Any) -> PolicyRecord:
    return PolicyRecord(
        row.id, row.project_id, row.name, row.description or "",
        tuple(_target(raw) for raw in json.loads(row.targets or "[]")),
        tuple(json.loads(row.event_types or "[]")), row.creator or "", bool(row.enabled), row.signing_secret,
        row.creation_time, row.update_time,
    )
