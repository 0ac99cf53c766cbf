"""When to ask the LLM, and what of its answer may count: field by field, rules first, grounded in the text.

The model may interpret; it may never supply. A value it returns counts only if its whole answer is at
confidence >= 0.85, the value is on its allowlist (comunas canonicalised against the official list), the
conversation's current question allows it, the rules left that field empty, and — for a comuna or an
address — the customer wrote it (accent-, case- and typo-tolerant). Everything else is dropped with a
reason; where the rules found a value, theirs stands and a different answer is recorded as a disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from rapidfuzz import fuzz, process

from contracts.commands import Understanding
from contracts.comunas import comuna_index, lookup_comuna, normalize_text
from contracts.intent import MIN_CONFIDENCE, Intent, IntentName, UnderstandingSource
from contracts.llm import ClassifyTopicReply, LlmReply, LlmTrace, LlmUsage, OffFlowTopic, UnderstandReply

#: Questions whose answer is free text the rules may miss; consent and ratings come from buttons.
FREE_TEXT_QUESTIONS: Final = frozenset({None, "service", "comuna", "problem", "urgency", "address"})
#: A new request without these is worth asking about: the model reads a trade from a description. (Not the
#: comuna: one the rules did not find is rarely one the model may take, since it must be in the text.)
_REQUIRED_FOR_A_REQUEST: Final = ("service",)
#: A typo tolerated in a place name (rapidfuzz ratio, 0-100).
_PLACE_SIMILARITY: Final = 85.0
_FIELDS: Final = ("service", "comuna", "problem_type", "urgency", "address", "consent")


def needs_llm(rules: Intent, expecting: str | None, text: str) -> bool:
    """Free text the rules left unsure, or without a field the conversation needs now."""
    if not text.strip() or expecting not in FREE_TEXT_QUESTIONS:
        return False
    if not rules.is_confident:
        return True
    if expecting is not None:
        asked = "problem_type" if expecting == "problem" else expecting
        return getattr(rules, asked) is None
    return rules.intent is IntentName.CREATE_LEAD and any(getattr(rules, f) is None for f in _REQUIRED_FOR_A_REQUEST)


@dataclass(frozen=True)
class Merge:
    """The intent the conversation acts on, and what happened to each of the model's values."""

    intent: Intent
    accepted: tuple[str, ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)
    #: field → "rules=<value> llm=<value>", where the rules found a value and the model another.
    disagreements: dict[str, str] = field(default_factory=dict)

    @property
    def used_llm(self) -> bool:
        return bool(self.accepted)


def merge(rules: Intent, llm: Intent, text: str, expecting: str | None) -> Merge:
    if llm.confidence < MIN_CONFIDENCE:
        given = [f for f in _FIELDS if getattr(llm, f) is not None]
        return Merge(rules, dropped=dict.fromkeys(given, "low_confidence"))
    values: dict[str, object] = {}
    dropped: dict[str, str] = {}
    disagreements: dict[str, str] = {}
    for name in _FIELDS:
        proposed = getattr(llm, name)
        if proposed is None:
            continue
        value, reason = _checked(name, proposed, text, expecting)
        ours = getattr(rules, name)
        if reason is not None:
            dropped[name] = reason
        elif ours is not None:
            if _differs(ours, value):
                disagreements[name] = f"rules={_shown(ours)} llm={_shown(value)}"
        else:
            values[name] = value
    if not values:
        if llm.intent is not rules.intent and llm.intent is not IntentName.UNKNOWN:
            disagreements["intent"] = f"rules={rules.intent.value} llm={llm.intent.value}"
        return Merge(rules, dropped=dropped, disagreements=disagreements)
    # The model's intent counts only with a value that counted: on its own it would start or change a
    # request from nothing the customer is known to have said.
    if rules.intent in (IntentName.UNKNOWN, IntentName.SMALLTALK) and llm.intent is not IntentName.UNKNOWN:
        values["intent"] = llm.intent
    elif llm.intent is not rules.intent and llm.intent is not IntentName.UNKNOWN:
        disagreements["intent"] = f"rules={rules.intent.value} llm={llm.intent.value}"
    if "intent" not in values and rules.intent is IntentName.UNKNOWN:
        # A field with nothing to say what it is for: the message adds to the request being collected.
        values["intent"] = IntentName.UPDATE_LEAD if expecting else IntentName.CREATE_LEAD
    merged = rules.model_copy(update={**values, "confidence": llm.confidence})
    accepted = tuple(name for name in ("intent", *_FIELDS) if name in values)
    return Merge(Intent.model_validate(merged.model_dump()), accepted, dropped, disagreements)


def _checked(name: str, value: object, text: str, expecting: str | None) -> tuple[object, str | None]:
    if name == "consent" and expecting not in ("consent", "confirmation"):
        return value, "not_asked_now"
    if name == "comuna":
        canonical = canonical_comuna(str(value))
        if canonical is None:
            return value, "outside_allowlist"
        return canonical, None if comuna_in_text(canonical, text) else "not_in_text"
    if name == "address":
        return value, None if address_in_text(str(value), text) else "not_in_text"
    return value, None


def canonical_comuna(name: str) -> str | None:
    """The official name ``name`` stands for: exactly (any case or accents), else one close typo."""
    exact = lookup_comuna(name)
    if exact is not None:
        return exact
    found = process.extractOne(normalize_text(name), list(comuna_index()), scorer=fuzz.ratio)
    if found is None or found[1] < _PLACE_SIMILARITY:
        return None
    return comuna_index()[found[0]]


def comuna_in_text(canonical: str, text: str) -> bool:
    """Did the customer write this comuna (its name or an alias, maybe misspelt)?"""
    words = normalize_text(text).split()
    names = {alias for alias, comuna in comuna_index().items() if comuna == canonical}
    return any(_words_in(name.split(), words) for name in names)


def address_in_text(address: str, text: str) -> bool:
    """Every number of the address, and its street words, are in the customer's text (typos tolerated)."""
    wanted = normalize_text(address).split()
    words = normalize_text(text).split()
    if not wanted:
        return False
    numbers = [w for w in wanted if w.isdigit()]
    if any(n not in words for n in numbers):
        return False
    names = [w for w in wanted if not w.isdigit() and len(w) >= 3]
    return all(any(fuzz.ratio(w, t) >= _PLACE_SIMILARITY for t in words) for w in names)


def _words_in(name: list[str], words: list[str]) -> bool:
    size = len(name)
    target = " ".join(name)
    return any(
        fuzz.ratio(" ".join(words[i : i + size]), target) >= _PLACE_SIMILARITY for i in range(len(words) - size + 1)
    )


def _differs(ours: object, theirs: object) -> bool:
    if isinstance(ours, str) and isinstance(theirs, str):
        return normalize_text(ours) != normalize_text(theirs)
    return ours != theirs


def _shown(value: object) -> str:
    return str(getattr(value, "value", value))


def combined(
    by_rules: Understanding,
    reply: UnderstandReply | None,
    topic: ClassifyTopicReply | None,
    expecting: str | None,
) -> Understanding:
    """The understanding the conversation acts on, with the LLM's whole part recorded beside it."""
    rules = by_rules.intent
    text = by_rules.text or ""
    result = Merge(rules)
    if reply is not None and reply.intent is not None:
        result = merge(rules, reply.intent, text, expecting)
    detour = by_rules.detour
    classification = topic.classification if topic is not None else None
    topic_counts = (
        detour is None
        and not result.used_llm
        and classification is not None
        and classification.confidence >= MIN_CONFIDENCE
        and classification.topic is not OffFlowTopic.OTHER
    )
    if topic_counts and classification is not None:
        detour = classification.topic
    replies = [r for r in (reply, topic) if r is not None]
    usage = LlmUsage(
        prompt_tokens=sum(r.usage.prompt_tokens for r in replies),
        completion_tokens=sum(r.usage.completion_tokens for r in replies),
        prompt_chars=sum(r.usage.prompt_chars for r in replies),
        completion_chars=sum(r.usage.completion_chars for r in replies),
        calls=sum(r.usage.calls for r in replies),
    )
    first = replies[0] if replies else None
    trace = LlmTrace(
        outcome=_outcome(reply) if reply is not None else "not_asked",
        raw_output=reply.raw_output if reply is not None else None,
        proposed=reply.intent if reply is not None else None,
        rules=rules,
        accepted=result.accepted + (("topic",) if topic_counts else ()),
        dropped={**(reply.dropped if reply is not None else {}), **result.dropped},
        disagreements=result.disagreements,
        topic=classification,
        topic_outcome=_outcome(topic) if topic is not None else None,
        model=first.model if first else None,
        prompt_version="+".join(r.prompt_version for r in replies if r.prompt_version) or None,
        latency_ms=max((r.latency_ms for r in replies), default=0.0),
        usage=usage,
    )
    used = result.used_llm or topic_counts
    return by_rules.model_copy(
        update={
            "intent": result.intent,
            "source": UnderstandingSource.LLM if used else by_rules.source,
            "detour": detour,
            "raw_output": trace.raw_output,
            "model": trace.model,
            "prompt_version": trace.prompt_version,
            "latency_ms": trace.latency_ms,
            "tokens": usage.total_tokens,
            "llm": trace,
        }
    )


def _outcome(reply: LlmReply) -> str:
    return reply.no_result.value if reply.no_result is not None else "ok"
