"""``/simulator``: the page, and the two calls it makes — send as a person, read a person's chat.

Sending signs the payload with the app secret exactly as Meta does and posts it to the real ingress;
reading merges what the simulator sent with what the sandbox recorded for that number.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import orjson
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from devtools.simulator.payloads import reply_payload, text_payload
from ingress.signature import sign

PAGE = Path(__file__).parent / "page.html"
Phone = Annotated[str, Field(pattern=r"^[1-9][0-9]{7,14}$")]


@dataclass(frozen=True)
class SimulatorConfig:
    webhook_url: str
    app_secret: str
    sandbox_url: str


class SendIn(BaseModel):
    phone: Phone
    name: str = Field(default="Cliente", min_length=1, max_length=60)
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    reply_id: str | None = Field(default=None, min_length=1, max_length=256)
    reply_title: str | None = Field(default=None, max_length=72)
    from_list: bool = False


class ChatLine(BaseModel):
    direction: Literal["in", "out"]
    at: str
    wamid: str
    message: dict[str, Any]


@dataclass
class _Sent:
    """What people typed in the simulator, per phone (the sandbox only sees the other direction)."""

    lines: dict[str, list[ChatLine]] = field(default_factory=dict)


def create_simulator_router(config: SimulatorConfig) -> APIRouter:
    router = APIRouter(prefix="/simulator", include_in_schema=False)
    sent = _Sent()

    @router.get("")
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @router.post("/api/send")
    async def send(body: SendIn) -> dict[str, str]:
        if (body.text is None) == (body.reply_id is None):
            raise HTTPException(422, detail="give exactly one of text or reply_id")
        wamid = "wamid.SIM" + secrets.token_hex(16)
        now = int(time.time())
        if body.text is not None:
            payload = text_payload(body.phone, body.name, body.text, wamid=wamid, timestamp=now)
            shown: dict[str, Any] = {"type": "text", "text": body.text}
        else:
            assert body.reply_id is not None
            title = body.reply_title or body.reply_id
            payload = reply_payload(body.phone, body.name, reply_id=body.reply_id, title=title,
                                    from_list=body.from_list, wamid=wamid, timestamp=now)  # fmt: skip
            shown = {"type": "reply", "title": title}
        raw = orjson.dumps(payload)
        async with httpx.AsyncClient(timeout=10) as client:
            try:
                response = await client.post(
                    config.webhook_url, content=raw,
                    headers={"X-Hub-Signature-256": sign(raw, config.app_secret), "Content-Type": "application/json"},
                )  # fmt: skip
            except httpx.HTTPError as error:
                raise HTTPException(502, detail=f"the ingress did not answer: {error}") from error
        if response.status_code != 200:
            raise HTTPException(502, detail=f"the ingress answered {response.status_code}: {response.text[:200]}")
        line = ChatLine(direction="in", at=datetime.now(UTC).isoformat(), wamid=wamid, message=shown)
        sent.lines.setdefault(body.phone, []).append(line)
        return {"wamid": wamid}

    @router.get("/api/chat")
    async def chat(phone: Annotated[str, Query(pattern=r"^[1-9][0-9]{7,14}$")]) -> list[ChatLine]:
        async with httpx.AsyncClient(timeout=5) as client:
            try:
                response = await client.get(f"{config.sandbox_url}/sandbox/messages", params={"to": phone})
                response.raise_for_status()
            except httpx.HTTPError as error:
                raise HTTPException(502, detail=f"the sandbox did not answer: {error}") from error
        replies = [
            ChatLine(direction="out", at=m["received_at"], wamid=m["wamid"], message=m["payload"])
            for m in response.json().get("messages", [])
        ]
        return sorted(sent.lines.get(phone, []) + replies, key=lambda line: line.at)

    return router
