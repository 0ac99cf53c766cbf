"""Meta's wamids carry the other party's phone in base64: kept as a keyed hash instead, the same every time."""

from __future__ import annotations

import base64

import pytest

from contracts.inbound import InboundMessage, InboundStatus, normalize
from contracts.personal import wamid_carries_phone as carries_phone
from contracts.whatsapp import WebhookPayload
from privacy.master_key import MasterKey
from privacy.wamids import PSEUDONYM_PREFIX, WamidPseudonyms
from tests.fixtures_paths import local_whatsapp_fixtures_dir

pytestmark = pytest.mark.unit

PHONE = "56987654321"
REAL = "wamid.HBgLNTY5ODc2NTQzMjEVAgASGBQzQUNMMDAw0002QUFBQkJCAA=="
KEEP = WamidPseudonyms(MasterKey("a-master-key-of-at-least-32-characters!").wamid_key)


def phone_forms(phone: str) -> list[str]:
    """The phone, and its base64 at each of the three alignments a record can put it in."""
    raw = phone.encode()
    forms = [phone, raw.hex()]
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + raw).decode()
        start = 4 if shift else 0  # the first quantum also encodes the filler
        forms += [encoded[start : start + 8], encoded[start : start + 8].replace("+", "-").replace("/", "_")]
    return forms


def test_a_real_wamid_carries_the_phone_and_is_kept_as_a_keyed_hash_without_it() -> None:
    assert carries_phone(REAL) and any(form in REAL for form in phone_forms(PHONE)[2:])
    kept = KEEP(REAL)
    assert kept.startswith(PSEUDONYM_PREFIX) and not carries_phone(kept)
    assert all(form not in kept for form in phone_forms(PHONE))
    # Deterministic (deduplication across restarts), idempotent, and keyed: another master key, another id.
    assert KEEP(REAL) == kept and KEEP(kept) == kept
    other = WamidPseudonyms(MasterKey("another-master-key-of-32-characters!!").wamid_key)
    assert other(REAL) != kept
    assert KEEP(REAL.replace("0002", "0003")) != kept


@pytest.mark.parametrize("wamid", ["wamid.E2E000001", "wamid." + "abcXYZ" * 7, "wamid.BAD1", "not-a-wamid", "wamid."])
def test_wamids_without_a_phone_are_kept_as_they_are(wamid: str) -> None:
    assert not carries_phone(wamid)
    assert KEEP(wamid) == wamid


def test_an_inbound_message_s_wamids_are_kept_without_the_phone_and_its_raw_payload_untouched() -> None:
    payload = WebhookPayload.model_validate_json(
        (local_whatsapp_fixtures_dir() / "interactive_button_reply.json").read_text(encoding="utf-8")
    )
    [message] = normalize(payload)
    assert isinstance(message, InboundMessage) and message.context_wamid is not None
    kept = KEEP.envelope(message)
    assert isinstance(kept, InboundMessage)
    assert (kept.wamid, kept.context_wamid) == (KEEP(message.wamid), KEEP(message.context_wamid))
    assert kept.dedupe_key == KEEP(message.wamid) and kept.sender_key == message.sender_key
    assert kept.raw == message.raw and kept.text == message.text


def test_a_status_names_the_sent_message_by_the_id_the_sender_kept_for_it() -> None:
    status = InboundStatus(wamid=REAL, status="delivered", recipient_id=PHONE, raw={})
    kept = KEEP.envelope(status)
    assert kept.dedupe_key == f"{KEEP(REAL)}:delivered"
    synthetic = InboundStatus(wamid="wamid.SANDBOX1", status="read", raw={})
    assert KEEP.envelope(synthetic) is synthetic
