"""Personal data: per-subject envelope encryption, blind index, erasure by crypto-shredding.

See ``docs/personal-data.md``. Public pieces:

* :mod:`.crypto` - envelopes, subject ids, the blind index;
* :mod:`.keys` - master key (KMS interface), data keys, the :class:`Vault`;
* :mod:`.store` - the PostgreSQL key store tables;
* :mod:`.mapper` - the eventsourcing Mapper that seals and opens personal fields.
"""

from .crypto import ERASED, PERSONAL_FIELDS, blind_index, normalise_name, subject_id
from .keys import LocalMasterKey, MasterKey, MasterKeyError, MemoryKeyStore, Vault, memory_vault
from .mapper import PersonalDataError, PersonalDataMapper

__all__ = [
    "ERASED",
    "PERSONAL_FIELDS",
    "LocalMasterKey",
    "MasterKey",
    "MasterKeyError",
    "MemoryKeyStore",
    "PersonalDataError",
    "PersonalDataMapper",
    "Vault",
    "blind_index",
    "memory_vault",
    "normalise_name",
    "subject_id",
]
