"""A world of several customers for the personal-data tests: the audit tests' ``World`` (real handler,
directory, sender records) over a PostgreSQL store that seals personal fields, with each phone mapped to
its person by the real ``privacy.people`` (so export and erasure find them) and each customer's own name."""

from __future__ import annotations

from contracts.inbound import InboundMessage
from eventstore import PostgresEventStore
from infra.settings import Settings
from orchestrator.handler import InboundHandler
from privacy.setup import Privacy, protect
from tests.unit.audit_support import World

PRIVACY_MASTER_KEY = "privacy-tests-master-key-0123456789abcdef"


def protected(store: PostgresEventStore) -> Privacy:
    return protect(store, Settings(privacy_master_key=PRIVACY_MASTER_KEY))


class PeopleWorld(World):
    store: PostgresEventStore

    def __init__(self, store: PostgresEventStore, privacy: Privacy, names: dict[str, str]) -> None:
        super().__init__(store)
        self.privacy = privacy
        self.names = names
        self.handler = InboundHandler(store, self.directory, people=privacy.people, clock=lambda: self.now)

    async def _message(self, phone: str, **fields: str) -> str:
        wamid = f"wamid.{phone}.{self.now.timestamp():.0f}"
        message = InboundMessage(
            wamid=wamid, sender_id=phone, sender_wa_id=phone, sender_name=self.names.get(phone),
            timestamp=str(int(self.now.timestamp())), raw={}, **fields,
        )  # fmt: skip
        await self.directory.catch_up()
        await self.handler.handle(message)
        self.advance(minutes=1)
        return wamid

    async def customer_stream_of(self, phone: str) -> str:
        person = await self.privacy.people.find(phone)
        assert person is not None
        return f"customer-{person}"
