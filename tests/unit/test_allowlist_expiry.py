"""berth's CVE_ALLOWLIST_EXPIRING: which entries are announced (services/allowlist_expiry.py) and the
payload webhooks get (webhook/payloads.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth.events.outbox import decode, encode
from berth.events.types import CveAllowlistExpiring
from berth.services.allowlist_expiry import AllowlistState, Expiring, expiring_entries
from berth.services.audit import audit_entry
from berth.webhook.payloads import RepositoryFacts, cloudevents_body, event_type_of, harbor_payload
from berth.webhook.policy import EVENT_TYPES

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def at(delta: timedelta) -> int:
    return int((NOW + delta).timestamp())


def test_entries_expiring_within_seven_days_are_announced_once_each():
    lists = [
        AllowlistState(0, at(timedelta(days=3)), ("CVE-1", "CVE-2", "CVE-1")),
        AllowlistState(5, at(timedelta(days=7)), ("CVE-3",)),
    ]
    assert expiring_entries(lists, NOW) == [
        Expiring(0, "CVE-1", at(timedelta(days=3))), Expiring(0, "CVE-2", at(timedelta(days=3))),
        Expiring(5, "CVE-3", at(timedelta(days=7)))]


def test_lists_that_never_expire_expire_later_or_have_expired_are_not_news():
    lists = [AllowlistState(0, None, ("CVE-1",)), AllowlistState(1, at(timedelta(days=8)), ("CVE-2",)),
             AllowlistState(2, at(timedelta(seconds=-1)), ("CVE-3",)), AllowlistState(3, at(timedelta(0)), ("CVE-4",)),
             AllowlistState(4, at(timedelta(days=1)), ())]
    assert expiring_entries(lists, NOW) == []


def test_the_event_travels_through_the_outbox_and_is_not_audited():
    event = CveAllowlistExpiring(project="team", cve_id="CVE-1", expires_at=1_800_000_000, allowlist="system",
                                 occurred_at=NOW)
    assert decode(*encode(event)) == event
    assert audit_entry(event) is None
    assert event_type_of(event) == "CVE_ALLOWLIST_EXPIRING" and "CVE_ALLOWLIST_EXPIRING" in EVENT_TYPES


def test_payload_names_project_cve_and_expiry_in_harbors_envelope():
    event = CveAllowlistExpiring(project="team", cve_id="CVE-2022-27449", expires_at=1_800_000_000,
                                 allowlist="project", occurred_at=NOW, operator="system")
    payload = harbor_payload(event, RepositoryFacts(7, False), "registry.example")
    assert payload == {
        "type": "CVE_ALLOWLIST_EXPIRING", "occur_at": int(NOW.timestamp()), "operator": "system",
        "event_data": {"project": {"project_id": 7, "name": "team", "type": "private"},
                       "cve_allowlist": {"scope": "project", "cve_id": "CVE-2022-27449", "expires_at": 1_800_000_000}}}
    content_type, body = cloudevents_body(payload, project_id=7, policy_id=1, request_id="r", event_id="e")
    assert content_type == "application/cloudevents+json" and '"type":"berth.cve_allowlist.expiring"' in body
