"""The privacy codec: personal fields sealed per person, opened with the key, suppressed without it."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cryptography.exceptions import InvalidTag

from contracts.events import EventMetadata, RecordedEvent
from contracts.personal import PERSONAL_FIELDS, SUPPRESSED, person_of_stream
from contracts.privacy_events import PRIVACY_REQUESTS_STREAM, ErasureOutcome, PersonForgotten
from privacy.codec import SEALED, PrivacyCodec
from privacy.keyring import Keyring
from privacy.master_key import MasterKey
from privacy.people import legacy_person_key, new_person_key

pytestmark = pytest.mark.unit

MASTER = MasterKey("unit-test-master-key-0123456789abcdef")
T0 = datetime(2026, 12, 1, tzinfo=UTC)
PHONE = "56987654321"


def codec_with(person: str, *, key: bool = True) -> PrivacyCodec:
    keyring = Keyring(pool=None, master=MASTER)  # type: ignore[arg-type]  # remember() needs no database
    keyring.remember(person, MASTER.wrap(person, os.urandom(32)) if key else None)
    return PrivacyCodec(keyring)


def submitted() -> dict[str, Any]:
    return {
        "lead_id": "p1.1",
        "fields": {"service": "Gasfiteria", "comuna": "Ñuñoa", "problem": "se rompió la cañería",
                   "urgency": "hoy", "address": "Irarrázaval 1234"},
        "consent": True,
        "submitted_at": "2026-12-01T12:00:00Z",
    }  # fmt: skip


def test_sealed_data_holds_no_personal_value_in_any_encoding() -> None:
    person = new_person_key()
    codec = codec_with(person)
    data = {"wamid": "wamid.X", "role": "customer", "phone": PHONE, "profile_name": "Camila Rojas",
            "message_type": "text", "text": "vivo en Irarrázaval 1234",
            "received_at": "2026-12-01T12:00:00Z"}  # fmt: skip

    stored = codec.seal(f"customer-{person}", "MessageReceived", data)
    text = orjson.dumps(stored).decode()

    for secret in (PHONE, "Camila", "Irarrázaval", "Irar\\u00e1zaval"):
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode()[:8] not in text
        assert secret.encode().hex() not in text
    assert stored["phone"] == stored["text"] == stored["profile_name"] == SUPPRESSED
    assert data["phone"] == PHONE  # the caller's data is left as it was
    assert codec.open(f"customer-{person}", "MessageReceived", dict(stored)) == data


def test_nested_fields_are_sealed_and_the_rest_stays_readable() -> None:
    person = new_person_key()
    codec = codec_with(person)
    stored = codec.seal(f"customer-{person}", "LeadSubmitted", submitted())

    assert stored["fields"]["comuna"] == "Ñuñoa" and stored["fields"]["address"] == SUPPRESSED
    assert codec.open(f"customer-{person}", "LeadSubmitted", dict(stored)) == submitted()


def test_a_forgotten_person_reads_as_suppressed_and_nulls_stay_null() -> None:
    person = new_person_key()
    sealing = codec_with(person)
    data = {**submitted(), "fields": {**submitted()["fields"], "address": None}}
    stored = sealing.seal(f"customer-{person}", "LeadSubmitted", data)

    opened = codec_with(person, key=False).open(f"customer-{person}", "LeadSubmitted", dict(stored))

    assert SEALED not in opened
    assert opened["fields"]["problem"] == SUPPRESSED and opened["fields"]["address"] is None


def test_a_forgotten_person_is_never_written_in_clear() -> None:
    person = new_person_key()
    stored = codec_with(person, key=False).seal(f"customer-{person}", "LeadSubmitted", submitted())
    assert stored["fields"]["problem"] == SUPPRESSED and SEALED not in stored


def test_a_customer_of_an_older_store_without_a_key_is_written_as_before() -> None:
    person = legacy_person_key(PHONE)
    stored = codec_with(person, key=False).seal(f"customer-{person}", "LeadSubmitted", submitted())
    assert stored == submitted()


def test_a_sealed_value_moved_to_another_stream_or_type_fails_authentication() -> None:
    person = new_person_key()
    codec = codec_with(person)
    stored = codec.seal(f"customer-{person}", "LeadSubmitted", submitted())
    with pytest.raises(InvalidTag):
        codec.open(f"customer-{person}", "LeadFieldsCaptured", dict(stored))


def test_streams_of_nobody_and_events_without_personal_fields_pass_untouched() -> None:
    person = new_person_key()
    codec = codec_with(person)
    registered = {"provider_id": "p-1", "name": "Pedro Soto", "phone": "56911112222"}
    assert codec.seal("provider-p-1", "ProviderRegistered", registered) is registered
    rated = {"lead_id": "x.1", "provider_id": "p-1", "rating": 5, "rated_at": "2026-12-01T12:00:00Z"}
    assert codec.seal(f"customer-{person}", "LeadRated", rated) is rated


def test_the_declared_paths_name_fields_of_registered_events() -> None:
    import orchestrator.leads_flow  # noqa: F401  (registers every event type)
    from contracts.events import event_types

    types = event_types()
    for event_type, paths in PERSONAL_FIELDS.items():
        fields = types[event_type].model_fields
        for path in paths:
            assert path.partition(".")[0] in fields, (event_type, path)
    assert person_of_stream("customer-p1") == person_of_stream("deliveries-p1") == "p1"
    assert person_of_stream("outbound-customer-p1") == "p1" and person_of_stream("operator-x") is None
    assert person_of_stream("provider-p1") == person_of_stream("outbound-provider-p1") == "p1"


def test_phone_lookup_is_keyed_and_ignores_formatting() -> None:
    other = MasterKey("another-master-key-0123456789abcdef")
    assert MASTER.phone_lookup("+56 9 8765 4321") == MASTER.phone_lookup(PHONE)
    assert MASTER.phone_lookup(PHONE) != other.phone_lookup(PHONE)
    with pytest.raises(ValueError, match="32"):
        MasterKey("short")


def erasure_record(person: str, outcome: ErasureOutcome) -> RecordedEvent:
    request = PersonForgotten(request_id="r", person_key=person, requested_by="t", outcome=outcome, decided_at=T0)
    return RecordedEvent(
        event_id=uuid.uuid4(), stream_id=PRIVACY_REQUESTS_STREAM, stream_version=1, type=request.TYPE,
        schema_version=1, data=request.model_dump(mode="json"),
        metadata=EventMetadata(correlation_id="r", recorded_at=T0), global_position=1,
    )  # fmt: skip


def test_a_process_that_reads_an_erasure_stops_opening_the_person_s_fields_at_once() -> None:
    forgotten, refused = new_person_key(), new_person_key()
    codec = codec_with(forgotten)
    codec.keyring.remember(refused, MASTER.wrap(refused, os.urandom(32)))
    stream = f"customer-{forgotten}"
    stored = codec.seal(stream, "LeadSubmitted", submitted())

    codec.keyring.drop_forgotten([erasure_record(forgotten, ErasureOutcome.FORGOTTEN),
                                  erasure_record(refused, ErasureOutcome.REFUSED_JOB_IN_PROGRESS)])  # fmt: skip

    assert codec.open(stream, "LeadSubmitted", dict(stored))["fields"]["address"] == SUPPRESSED
    assert codec.keyring.key(forgotten) is None and codec.keyring.key(refused) is not None
