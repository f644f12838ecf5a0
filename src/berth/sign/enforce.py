"""May this manifest be pulled, as far as signatures go? The pure decision of the content-trust check on
manifest GET/HEAD: Harbor's presence switches, or berth's trust policy (audit, enforce). No I/O.

Harbor's switches (`enable_content_trust_cosign`, `enable_content_trust` for Notation) keep Harbor's
meaning while the project has no trust policy (or its mode is off): an accessory of that kind must
exist, nothing is verified. With a policy in audit or enforce mode a switch that is on means enforce,
and the switches that are on restrict the formats that count to theirs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from berth.sign.model import Verdict

#: Harbor's code and messages (src/server/middleware/contenttrust/contentrust.go)
POLICY_VIOLATION = "PROJECTPOLICYVIOLATION"
_HARBOR_MESSAGES = {"cosign": "The image is not signed by cosign.", "notation": "The image is not signed by notation."}
#: Harbor's accessory types per signature family
ACCESSORY_TYPES = {"cosign": "signature.cosign", "notation": "signature.notation"}
#: distinct failure reasons a refusal names at most
MAX_REASONS = 3


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a project asks of a pulled manifest's signatures.

    `mode`: `off` (nothing), `presence` (Harbor's switches without a policy), `audit`, `enforce`;
    `families`: presence: the families that must each be present (cosign checked first, as Harbor);
    audit/enforce: the families whose verified signatures count; `version`: the policy's version."""

    mode: str = "off"
    families: tuple[str, ...] = ()
    version: str = ""

    @property
    def verifies(self) -> bool:
        return self.mode in ("audit", "enforce")


OFF = Requirement()


def requirement(policy_mode: str | None, policy_formats: Collection[str], version: str, cosign_switch: bool,
                notation_switch: bool) -> Requirement:
    """The requirement a project's trust policy (None: none stored) and Harbor's switches make."""
    switched = tuple(family for family, on in (("cosign", cosign_switch), ("notation", notation_switch)) if on)
    if policy_mode in (None, "off"):
        return Requirement("presence", switched) if switched else OFF
    mode = "enforce" if switched else policy_mode
    families = tuple(f for f in ("cosign", "notation") if f in policy_formats and (not switched or f in switched))
    return Requirement(mode, families, version)


@dataclass(frozen=True, slots=True)
class Decision:
    """`refused`: the pull is refused with `message` (412); `audited`: audit mode let through a pull
    enforce mode would have refused, for the reason in `message`."""

    refused: bool = False
    audited: bool = False
    message: str = ""


ALLOW = Decision()


def decide(required: Requirement, accessory_types: Iterable[str], verdicts: Iterable[Verdict]) -> Decision:
    """The decision for one manifest from the types of its accessories and the verdicts on its
    signatures under `required.version` (the caller skips this for manifests that are signatures)."""
    if required.mode == "off":
        return ALLOW
    if required.mode == "presence":
        present = set(accessory_types)
        for family in required.families:
            if ACCESSORY_TYPES[family] not in present:
                return Decision(refused=True, message=_HARBOR_MESSAGES[family])
        return ALLOW
    counted = [v for v in verdicts if v.format.family in required.families]
    if any(v.verified and not v.attestation for v in counted):
        return ALLOW
    message = refusal_message(counted, required.families)
    if required.mode == "audit":
        return Decision(audited=True, message=message)
    return Decision(refused=True, message=message)


def refusal_message(verdicts: list[Verdict], families: Collection[str]) -> str:
    """Why no signature counts: "no signature", or the reasons of the failed ones (signatures before
    attestations, at most MAX_REASONS distinct)."""
    signatures = [v for v in verdicts if not v.attestation]
    if not signatures:
        names = " or ".join(families) or "of a counted format"
        extra = "; attestations are not signatures" if verdicts else ""
        return f"The image is not trusted by the project's trust policy: no signature ({names}){extra}."
    reasons = list(dict.fromkeys(v.reason or "not verified" for v in signatures))[:MAX_REASONS]
    return "The image is not trusted by the project's trust policy: " + "; ".join(reasons) + "."
