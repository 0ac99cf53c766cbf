"""The intent schema: the only thing the LLM may return, and what the deterministic rules return too.

Allowlists are enums so that a value outside them cannot even be constructed; callers that receive raw
output (the LLM adapter) validate it field by field and turn anything outside an allowlist into ``None``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

#: Below this confidence nothing is assumed (DESIGN.md: "confidence < 0.85 → nothing is assumed").
MIN_CONFIDENCE = 0.85


class IntentName(StrEnum):
    CREATE_LEAD = "create_lead"
    UPDATE_LEAD = "update_lead"
    ASK_STATUS = "ask_status"
    CANCEL = "cancel"
    SMALLTALK = "smalltalk"
    UNKNOWN = "unknown"


class Service(StrEnum):
    ELECTRICIDAD = "Electricidad"
    GASFITERIA = "Gasfiteria"
    CERRAJERIA = "Cerrajeria"


class Urgency(StrEnum):
    HOY = "hoy"
    UNO_DOS_DIAS = "1_2_dias"
    SEMANA = "semana"


class Consent(StrEnum):
    YES = "yes"
    NO = "no"


class UnderstandingSource(StrEnum):
    INTERACTIVE = "interactive"
    RULES = "rules"
    LLM = "llm"


class Intent(BaseModel):
    """Exactly the DESIGN.md shape. ``comuna`` is always a canonical official name or ``None``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent: IntentName = IntentName.UNKNOWN
    service: Service | None = None
    comuna: str | None = None
    problem_type: str | None = None
    urgency: Urgency | None = None
    address: str | None = None
    consent: Consent | None = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)

    @property
    def is_confident(self) -> bool:
        return self.confidence >= MIN_CONFIDENCE
