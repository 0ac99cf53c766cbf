"""Validated settings from the environment (one place lists every variable and its default)."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "test", "placeholder", "xxx"}


class Environment(StrEnum):
    LOCAL = "local"
    PRODUCTION = "production"


class InsecureSettingError(ValueError):
    """Production refuses missing or placeholder secrets."""


class MissingServerError(RuntimeError):
    """A service was built without the URL of a server it needs."""


class SettingsError(ValueError):
    """The environment holds a value the settings refuse; the message names each variable."""


class CloserSettings(BaseSettings):
    """The closer's timers (``CLOSER_*``); ``closer.settings`` turns them into the domain's durations."""

    model_config = SettingsConfigDict(env_prefix="CLOSER_", extra="ignore", case_sensitive=False)

    #: A draft with no message from the customer for this long is expired with a goodbye.
    draft_abandoned_hours: float = Field(default=6.0, gt=0)
    #: A technician who does not answer an offer for this long loses it to the next candidate.
    offer_unanswered_minutes: float = Field(default=10.0, gt=0)
    #: How long after the assignment the customer is asked whether the job was done, by urgency.
    follow_up_hours_hoy: float = Field(default=24.0, gt=0)
    follow_up_hours_1_2_dias: float = Field(default=72.0, gt=0)
    follow_up_hours_semana: float = Field(default=168.0, gt=0)
    #: A rating not given within this long closes the lead.
    rating_window_hours: float = Field(default=72.0, gt=0)
    #: How often due timers are looked for (the precision of every deadline).
    tick_seconds: float = Field(default=5.0, gt=0, le=3600)
    #: A customer who confirmed on WhatsApp that their data be erased is forgotten once the goodbye's send
    #: is recorded, or after this long if it never is (the sender down): the sender needs the phone.
    erasure_goodbye_wait_seconds: float = Field(default=300.0, gt=0, le=86400)
    #: "¿borrar tus datos?" left unanswered this long: the flow resumes as after a "No" (its timers run again).
    erasure_question_wait_hours: float = Field(default=24.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    conectapro_env: Environment = Environment.LOCAL
    conectapro_data_dir: Path = Path(".conectapro")
    log_level: str = "INFO"
    log_format: Annotated[str, Field(pattern="^(json|console)$")] = "json"

    database_url: str | None = None
    #: One NATS server, or several separated by commas (the members of a cluster the client may use).
    nats_url: str | None = None
    #: Copies of every JetStream stream the services create: 1 on one server, 3 on a three-node cluster.
    jetstream_replicas: int = Field(default=1, ge=1, le=5)

    ingress_host: str = "127.0.0.1"
    ingress_port: int = Field(default=8080, ge=1, le=65535)
    #: Ingress processes sharing the port (SO_REUSEPORT): one Python process uses one core.
    ingress_workers: int = Field(default=1, ge=1, le=64)
    operator_api_port: int = Field(default=8081, ge=1, le=65535)
    operator_api_host: str = "127.0.0.1"
    #: Bearer token of the operator API; generated in the data folder in local mode, required in production.
    operator_api_token: SecretStr | None = None
    sandbox_port: int = Field(default=8082, ge=0, le=65535)
    #: Local mode, services in separate containers (compose): where the sandbox and the simulator post
    #: webhooks (default: the ingress on this host) and where the simulator reads the sandbox (default:
    #: SANDBOX_PORT on this host).
    local_webhook_url: str | None = None
    local_sandbox_url: str | None = None
    #: Base of every service's Prometheus /metrics and /healthz port: + its place in the service table
    #: (``infra.metrics_server``); 0 serves none.
    metrics_port: int = Field(default=9100, ge=0, le=65500)
    metrics_host: str = "127.0.0.1"

    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_api_base_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_phone_number_id: str | None = None

    #: Partitions of the inbound subject space: one customer always lands in the same one.
    inbound_partitions: int = Field(default=8, ge=1, le=1024)
    #: How long an inbound message handed to a consumer that died waits before redelivery.
    inbound_ack_wait_seconds: float = Field(default=30.0, gt=0.5, le=3600)
    #: Inbound messages of one partition handled at once (in order per customer): a slow or failing
    #: customer holds up only their own later messages.
    inbound_concurrency_per_partition: int = Field(default=32, ge=1, le=1000)
    #: How long the INBOUND stream keeps each update, and with it the record that its id was published
    #: (Meta retries for up to 7 days, so at least 8).
    inbound_retention_days: int = Field(default=14, ge=8)
    #: A reply the sender attempted but never recorded (it stopped mid-send) is sent again only if no
    #: status webhook naming it arrived this long after the attempt. Meta reports "sent" within seconds;
    #: too short a window sends a message twice.
    sender_unconfirmed_resend_seconds: float = Field(default=60.0, ge=1.0, le=86_400)
    #: Sends per second the business number may make (Meta's throughput: 80 by default, up to 1,000 on
    #: higher tiers); the sender paces itself under it.
    whatsapp_messages_per_second: float = Field(default=80.0, gt=0, le=10_000)

    #: Read from the environment with the rest, so a bad ``CLOSER_*`` value stops `conectapro run` at once.
    closer: CloserSettings = Field(default_factory=CloserSettings)

    #: Wraps every person's data key (``privacy/``); generated in the data folder in local mode, required
    #: in production (at least 32 characters).
    privacy_master_key: SecretStr | None = None
    #: The closer forgets the personal data of leads closed longer ago than this.
    privacy_retention_days: int = Field(default=180, ge=1)
    #: For benchmarks only (the cost of sealing, off vs on): personal fields are stored in clear and cannot
    #: be erased. Refused in production; a local run that sets it logs a warning at every start.
    privacy_sealing_off_for_benchmarks: bool = False

    #: The optional LLM adapter (off by default: the rules alone understand every message).
    llm_enabled: bool = False
    openai_api_key: SecretStr | None = None
    #: Any OpenAI-compatible server (OpenAI, a gateway, Ollama, vLLM, llama.cpp); unset → OpenAI's.
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    #: The whole budget of one LLM answer, retries included; past it the rules' result stands.
    llm_timeout_seconds: float = Field(default=3.0, gt=0.1, le=60)
    #: Tokens one adapter process may spend per day (Chile's day); past it, rules alone.
    llm_daily_token_budget: int = Field(default=2_000_000, ge=0)
    #: LLM calls per customer per hour; past it, rules alone for that customer.
    llm_customer_calls_per_hour: int = Field(default=20, ge=0)
    #: Port of the adapter's Prometheus /metrics; 0 serves none.
    llm_metrics_port: int = Field(default=0, ge=0, le=65535)
    #: The sender asks the adapter for a warmer wording of customer replies' body text; only one that keeps
    #: every fact is sent (the adapter not running: the texts go as decided).
    llm_rephrase_enabled: bool = False
    #: How long a send waits for a rewording at most; past it the deterministic text goes.
    llm_rephrase_timeout_seconds: float = Field(default=1.0, gt=0.1, le=10)

    @property
    def is_production(self) -> bool:
        return self.conectapro_env is Environment.PRODUCTION

    @property
    def required_database_url(self) -> str:
        """DATABASE_URL, which `conectapro run` fills in with the embedded server's when it is unset."""
        if not self.database_url:
            raise MissingServerError("DATABASE_URL is not set (`conectapro run` starts an embedded PostgreSQL)")
        return self.database_url

    @property
    def required_nats_url(self) -> str:
        """NATS_URL, which `conectapro run` fills in with the embedded server's when it is unset."""
        if not self.nats_url:
            raise MissingServerError("NATS_URL is not set (`conectapro run` starts an embedded nats-server)")
        return self.nats_url

    def with_servers(self, database_url: str, nats_url: str) -> Settings:
        """These settings pointed at the servers actually running (embedded ones included)."""
        return self.model_copy(update={"database_url": database_url, "nats_url": nats_url})

    @field_validator("privacy_master_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        secret = "" if value is None else value.get_secret_value().strip()
        if 0 < len(secret) < 32:
            raise ValueError("at least 32 characters (secrets.token_urlsafe(32) makes one)")
        return value

    @field_validator("nats_url")
    @classmethod
    def _every_server_named(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            nats_servers(value)
        return value

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if not self.is_production:
            return self
        problems = []
        for name in ("whatsapp_app_secret", "whatsapp_verify_token", "operator_api_token", "privacy_master_key"):
            value: SecretStr | None = getattr(self, name)
            if value is None or value.get_secret_value().strip().lower() in _PLACEHOLDERS:
                problems.append(name.upper())
        if self.database_url is None:
            problems.append("DATABASE_URL")
        if self.nats_url is None:
            problems.append("NATS_URL")
        if self.llm_enabled and (
            self.openai_api_key is None or self.openai_api_key.get_secret_value().strip().lower() in _PLACEHOLDERS
        ):
            problems.append("OPENAI_API_KEY (LLM_ENABLED is true)")
        if problems:
            raise InsecureSettingError("production mode needs real values for: " + ", ".join(problems))
        if self.privacy_sealing_off_for_benchmarks:
            raise InsecureSettingError(
                "PRIVACY_SEALING_OFF_FOR_BENCHMARKS is for benchmarks only: production always seals personal data"
            )
        return self


def nats_servers(url: str) -> list[str]:
    """The servers of a ``NATS_URL``: one URL, or several separated by commas."""
    servers = [server.strip() for server in url.split(",")]
    if not all(servers):
        raise ValueError("an empty server name between commas")
    for server in servers:
        scheme, separator, rest = server.partition("://")
        if separator and (scheme not in {"nats", "tls", "ws", "wss"} or not rest):
            raise ValueError(f"not a NATS server URL: {scheme}://…")
    return servers


def local_secret(data_dir: Path, name: str) -> str:
    """A development secret generated once and kept in the data folder, so restarts keep it."""
    secrets_dir = data_dir / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    path = secrets_dir / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def settings_from_environment() -> Settings:
    """The settings from the environment, or a :class:`SettingsError` naming every variable at fault."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe(error)) from error


def describe(error: ValidationError) -> str:
    """One line per refused value, named as the environment variable that holds it (never its value)."""
    prefixes = {model.__name__: str(model.model_config.get("env_prefix", "")) for model in (Settings, CloserSettings)}
    prefix = prefixes.get(error.title, "")
    lines = []
    for problem in error.errors():
        variable = (prefix + "_".join(str(part) for part in problem["loc"])).upper()
        # A validator's own error reads better without pydantic's "Value error, " in front of it.
        message = str(problem["ctx"]["error"]) if problem["type"] == "value_error" else problem["msg"]
        lines.append(f"{variable}: {message}" if variable else message)
    return "; ".join(lines)
