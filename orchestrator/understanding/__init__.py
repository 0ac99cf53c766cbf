"""Deterministic understanding: customer text or a tapped button → the ``Intent`` shape. Pure, no I/O.

Rules run first and always; the LLM adapter is only consulted when they are not enough, and its answer is
validated against the same allowlists.
"""

from orchestrator.understanding.interactive import understand_interactive
from orchestrator.understanding.rating import find_rating
from orchestrator.understanding.reply_ids import ParsedReply, ReplyKind, parse_reply_id
from orchestrator.understanding.rules import EXPECTING, understand_text

__all__ = [
    "EXPECTING",
    "ParsedReply",
    "ReplyKind",
    "find_rating",
    "parse_reply_id",
    "understand_interactive",
    "understand_text",
]
