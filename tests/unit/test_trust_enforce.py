"""The content-trust pull decision (berth.sign.enforce): Harbor's switches, and trust policies in audit and
enforce mode, without a server."""

from __future__ import annotations

from berth.auth.rbac import Subject
from berth.oci.policies import bypasses
from berth.security.roles import ProjectRef
from berth.sign.enforce import ALLOW, OFF, Requirement, decide, requirement
from berth.sign.model import Format, Verdict

GOOD = Verdict(verified=True, format=Format.COSIGN, reason="verified", signer="sha256:ab")
UNTRUSTED = Verdict(verified=False, format=Format.COSIGN, reason="no trusted key verifies the signature")
EXPIRED = Verdict(verified=False, format=Format.NOTATION_JWS, reason="certificate expired at 2026-01-01")
ATTESTATION = Verdict(verified=True, format=Format.COSIGN_BUNDLE, reason="verified", attestation=True)


def test_no_policy_and_no_switch_is_off() -> None:
    assert requirement(None, (), "", False, False) == OFF
    assert requirement("off", ("cosign",), "v", False, False) == OFF
    assert decide(OFF, [], []) is ALLOW


def test_harbors_switches_without_a_policy_ask_for_presence_cosign_first() -> None:
    both = requirement(None, (), "", True, True)
    assert both == Requirement("presence", ("cosign", "notation"))
    assert decide(both, [], []).message == "The image is not signed by cosign."
    assert decide(both, ["signature.cosign"], []).message == "The image is not signed by notation."
    assert decide(both, ["signature.cosign", "signature.notation"], []) is ALLOW
    assert decide(requirement("off", (), "", True, False), ["sbom.harbor"], []).refused


def test_switches_under_a_policy_mean_enforce_and_restrict_the_formats() -> None:
    assert requirement("audit", ("cosign", "notation"), "v1", False, True) == Requirement("enforce", ("notation",), "v1")
    assert requirement("enforce", ("cosign",), "v1", False, False) == Requirement("enforce", ("cosign",), "v1")
    notation_only = requirement("enforce", ("cosign", "notation"), "v1", False, True)
    assert decide(notation_only, ["signature.cosign"], [GOOD]).refused


def test_enforce_needs_one_verified_signature_and_says_why_otherwise() -> None:
    enforce = Requirement("enforce", ("cosign", "notation"), "v1")
    assert decide(enforce, ["signature.cosign"], [UNTRUSTED, GOOD]) is ALLOW
    none = decide(enforce, [], [])
    assert none.refused and "no signature" in none.message
    failed = decide(enforce, ["signature.cosign", "signature.notation"], [UNTRUSTED, EXPIRED, UNTRUSTED])
    assert failed.refused
    assert failed.message.count("no trusted key") == 1 and "certificate expired" in failed.message


def test_an_attestation_is_never_a_signature() -> None:
    decision = decide(Requirement("enforce", ("cosign",), "v1"), ["signature.cosign"], [ATTESTATION])
    assert decision.refused and "attestations are not signatures" in decision.message


def test_audit_mode_allows_and_records_what_enforce_would_refuse() -> None:
    audit = Requirement("audit", ("cosign",), "v1")
    decision = decide(audit, [], [])
    assert not decision.refused and decision.audited and "no signature" in decision.message
    assert decide(audit, ["signature.cosign"], [GOOD]) is ALLOW


def _token(*actions: str) -> Subject:
    return Subject(name="signer", kind="token", access={"p/app": frozenset(actions)}, issued_at=10.0)


def test_who_reads_an_image_the_policy_refuses() -> None:
    """Harbor's bypasses (scanner-pull; cosign and notation with push), `berth sign` with push, and
    berth's: any HEAD with push (`sigstore attach` checks the image is there with npm's fetch before it
    attaches a bundle; a HEAD carries no content)."""
    project = ProjectRef(1, False, 1.0)
    sigstore_js = "minipass-fetch/6.0.1 (+https://github.com/isaacs/minipass-fetch)"
    assert bypasses(_token("pull", "scanner-pull"), project, "p/app", "curl/8")
    assert bypasses(_token("pull", "push"), project, "p/app", "cosign/v2.4.1 (linux; amd64)")
    assert bypasses(_token("pull", "push"), project, "p/app", "berth-sign/0.1.0")
    assert not bypasses(_token("pull"), project, "p/app", "cosign/v2.4.1 (linux; amd64)")
    assert not bypasses(_token("pull"), project, "p/app", "berth-sign/0.1.0")
    assert bypasses(_token("pull", "push"), project, "p/app", sigstore_js, "HEAD")
    assert bypasses(_token("pull", "push"), project, "p/app", "curl/8", "HEAD")
    assert not bypasses(_token("pull", "push"), project, "p/app", sigstore_js, "GET")
    assert not bypasses(_token("pull"), project, "p/app", sigstore_js, "HEAD")
    assert not bypasses(Subject(name="signer", kind="user"), project, "p/app", sigstore_js, "HEAD")
