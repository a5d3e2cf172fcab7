"""Settings from the environment (pydantic-settings): one place, read at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A setting missing or invalid for what the deployment chose: start-up refuses, in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # No DATABASE_URL: an embedded PostgreSQL (pgserver) keeps its data under POLICY_DATA_DIR.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default=Path("./var"), validation_alias="POLICY_DATA_DIR")
    # PostgreSQL schema for this deployment's tables (tests use one per test run).
    db_schema: str | None = Field(default=None, validation_alias="POLICY_DB_SCHEMA")
    pool_size: int = Field(default=5, ge=1, validation_alias="POLICY_DB_POOL_SIZE")
    # Seconds to connect or to wait for a pooled connection (PostgreSQL away: 503 within this).
    db_timeout_seconds: int = Field(default=2, ge=2, le=60, validation_alias="POLICY_DB_TIMEOUT")
    api_keys: str | None = Field(default=None, validation_alias="POLICY_API_KEYS")
    # Signs the dashboard's session cookies. Unset: a secret made once beside the API keys file
    # (embedded default), or derived from POLICY_API_KEYS (rotating the keys ends every session).
    session_secret: str | None = Field(default=None, validation_alias="POLICY_SESSION_SECRET")
    # The HMAC secret of key ids; unset: the file key-id-secret under POLICY_DATA_DIR (made once).
    # Idempotency-Key: how long stored responses are kept, and how long an unfinished attempt
    # holds its key before a retry may take it over (a crashed or timed-out first attempt).
    idempotency_ttl_hours: float = Field(default=24.0, gt=0, validation_alias="POLICY_IDEMPOTENCY_TTL_HOURS")
    idempotency_lease_seconds: float = Field(
        default=60.0, gt=0, validation_alias="POLICY_IDEMPOTENCY_LEASE_SECONDS"
    )
    # POST /operations/run-due while another run-due holds the lock: wait this long, then 409.
    run_due_wait_seconds: float = Field(default=10.0, ge=0, le=300, validation_alias="POLICY_RUN_DUE_WAIT")
    key_id_secret: str | None = Field(default=None, min_length=32, validation_alias="POLICY_KEY_ID_SECRET")
    log_level: str = Field(default="INFO", validation_alias="POLICY_LOG_LEVEL")
    log_format: str = Field(default="json", validation_alias="POLICY_LOG_FORMAT")
    # Also append the log lines (always JSON) to this file (the test suite's per-run log).
    log_file: Path | None = Field(default=None, validation_alias="POLICY_LOG_FILE")
    # `serve` on the embedded default runs everything in one process; docker-compose turns these off
    # for the API and runs the projections and the scheduler as their own services.
    run_projections: bool = Field(default=True, validation_alias="POLICY_RUN_PROJECTIONS")
    run_scheduler: bool = Field(default=True, validation_alias="POLICY_RUN_SCHEDULER")
    # How premiums are collected: "simulated" (the default bank: accounts starting with 9 fail)
    # or "zengin" (request files written under POLICY_DATA_DIR/zengin/outbox, results ingested).
    collection_gateway: str = Field(
        default="simulated", pattern="^(simulated|zengin)$", validation_alias="POLICY_COLLECTION_GATEWAY"
    )
    # The Zengin gateway's collector (委託者): the code and name the collecting bank assigned, and
    # the collecting account as bank-branch-type-number (e.g. 0001-001-ordinary-1234567). Required
    # when POLICY_COLLECTION_GATEWAY=zengin: start-up refuses without them (no illustrative defaults).
    zengin_collector_code: str | None = Field(default=None, validation_alias="POLICY_ZENGIN_COLLECTOR_CODE")
    zengin_collector_name: str | None = Field(default=None, validation_alias="POLICY_ZENGIN_COLLECTOR_NAME")
    zengin_collector_account: str | None = Field(
        default=None, validation_alias="POLICY_ZENGIN_COLLECTOR_ACCOUNT"
    )
    # Days after a cancellation was recorded within which POST /policies/{id}/reinstatement undoes it.
    reinstatement_window_days: int = Field(
        default=30, ge=0, le=3660, validation_alias="POLICY_REINSTATEMENT_WINDOW_DAYS"
    )
    scheduler_interval_seconds: float = Field(
        default=30.0, gt=0, validation_alias="POLICY_SCHEDULER_INTERVAL"
    )
    # Audit (issue 13): the checkpoint signing key (PEM or base64 Ed25519 seed; unset: generated
    # once into POLICY_DATA_DIR/audit-signing-key.pem, mode 0600) and how often the sealer signs.
    audit_signing_key: str | None = Field(default=None, validation_alias="POLICY_AUDIT_SIGNING_KEY")
    audit_checkpoint_events: int = Field(
        default=10_000, ge=1, validation_alias="POLICY_AUDIT_CHECKPOINT_EVENTS"
    )
    audit_checkpoint_minutes: float = Field(
        default=60.0, gt=0, validation_alias="POLICY_AUDIT_CHECKPOINT_MINUTES"
    )
    # Personal data (docs/personal-data.md): the master key wrapping every data key (base64 of 32
    # bytes; unset: generated once into POLICY_DATA_DIR/master-key, mode 0600).
    master_key: SecretStr | None = Field(default=None, validation_alias="POLICY_MASTER_KEY")
    # How long an unwrapped data key stays in a process's memory (an erasure elsewhere takes
    # effect here within this time).
    key_cache_seconds: float = Field(default=60.0, ge=0, validation_alias="POLICY_KEY_CACHE_SECONDS")
    # Years after the end of a member's last period before their personal data may be erased.
    retention_years: int = Field(default=10, ge=0, le=100, validation_alias="POLICY_RETENTION_YEARS")
    # The library's whole-state cipher (eventsourcing AESCipher) on top of the field envelopes.
    store_cipher: bool = Field(default=False, validation_alias="POLICY_STORE_CIPHER")
    # Days a Zengin request/result file is kept once its results are ingested.
    zengin_purge_days: int = Field(default=7, ge=0, validation_alias="POLICY_ZENGIN_PURGE_DAYS")
