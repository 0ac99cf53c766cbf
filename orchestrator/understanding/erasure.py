"""A customer asking, in their words, that their data be erased ("borra mis datos", "eliminen mi
información", "quiero que borren mis datos", "borrar mi cuenta"): recognised by rules only.

The understanding step records it (``Understanding.asks_for_erasure``, kept in ``IntentExtracted``), so
the audit re-decides it once the text itself is forgotten; nothing of such a message goes to the LLM.
Nothing is erased on this: the customer is asked to confirm with buttons first. A verb of
erasing must govern the customer's own data ("mis datos", "mi información", "mi número", "mi cuenta",
"todo lo mío"); "borra la dirección" is a correction, not an erasure.
"""

from __future__ import annotations

import re
from typing import Final

from contracts.comunas import normalize_text

# With the typos of quick typing: "vorrar", "borar", "elimnar", "eliminen", "borrenme".
_VERB: Final = (
    r"(?:b|v)or+(?:a|e|o|en|ar|arme|ame|alos|enlos|enme|arlos|ren|rar)?\w*"
    r"|elim+in?\w*|elimn\w*|suprim\w*|quit\w*|olvid\w*|destru\w*"
)
#: Words that may stand between the verb and what it erases ("borren ya todos mis datos").
_FILLER: Final = (
    r"(?:\s+(?:ya|altiro|porfa|por favor|todos|todas|todo|toda|de|del|ustedes|me|nos|le|les|los|las|por|fa"
    r"|completamente|definitivamente))"
)
_MINE: Final = (
    r"(?:mis|mi|todos mis|toda mi|mi propia|mis propios) ?(?:datos?|informacion|info|numero|telefono|cuenta|registro"
    r"|historial|conversacion(?:es)?|mensajes)"
    r"|(?:los|todos los) datos (?:mios|que tienen de mi|que tienen)|todo lo mio|todo sobre mi"
)
_ASKS: Final = re.compile(rf"\b(?:{_VERB})\b{_FILLER}{{0,4}}\s+(?:{_MINE})\b")
_NOUN_FIRST: Final = re.compile(
    rf"\b(?:{_MINE})\b(?: personales)?{_FILLER}{{0,3}}\s+(?:{_VERB})\b"
    r"|\b(?:derecho (?:de|a la) )?supresion de (?:mis )?datos\b|\bley 21\.?719\b"
)
#: "no borren mis datos" says the opposite.
_NEGATED: Final = re.compile(r"\b(?:no|nunca|ni)\s+(?:me\s+|les\s+)?$")


def asks_for_erasure(text: str | None) -> bool:
    """Whether the customer asks that their data be erased (a request to confirm, never the erasure)."""
    if not text:
        return False
    normalized = normalize_text(text)
    found = _ASKS.search(normalized) or _NOUN_FIRST.search(normalized)
    return found is not None and not _NEGATED.search(normalized[: found.start()])
