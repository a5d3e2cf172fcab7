"""Tamper evidence: the hash chain over the event log, signed checkpoints, verification,
offline bundles and period closings (issue 13)."""

from .keys import Signer, fingerprint, load_public_key, public_pem
from .sealer import Sealer
from .store import ensure_tables
from .verify import Verification, verify_chain

__all__ = [
    "Sealer",
    "Signer",
    "Verification",
    "ensure_tables",
    "fingerprint",
    "load_public_key",
    "public_pem",
    "verify_chain",
]
