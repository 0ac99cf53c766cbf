"""Personal data under Chile's Law 21.719: sealed per person, exportable, erasable (crypto-shredding).

- ``master_key``: ``PRIVACY_MASTER_KEY`` and the keys derived from it.
- ``people``: phone → random person key (keyed lookup), a data key per person; erasure deletes both.
- ``person_keys``: the shapes of person keys (random, and the legacy unkeyed hashes).
- ``keyring``: data keys by person key, kept in the process while it hears erasures.
- ``erasure_signal``: erasures announced by NOTIFY and heard by every process.
- ``codec``: the event store's codec sealing the fields ``contracts.personal`` declares personal.
- ``setup``: wiring a store and a settings object to all of the above.
"""
