"""The customer's and Meta's side of `make compose-smoke`, with the standard library only (it runs on the host).

send URL SECRET PHONE TEXT    POST a WhatsApp text message to the ingress webhook, signed as Meta signs
                              (X-Hub-Signature-256: sha256=HMAC-SHA256(body, app secret)); prints the status
replies URL PHONE MIN TIMEOUT wait until the sandbox's outbox holds at least MIN replies to PHONE; prints them
count URL PHONE               how many replies to PHONE the sandbox holds now
simulate URL PHONE TEXT TIMEOUT
                              write TEXT as PHONE in the operator API's WhatsApp simulator and wait until
                              the simulator's chat shows a reply (read from the sandbox in another container)
statuses URL MIN TIMEOUT      wait until the ingress at URL counted MIN status webhooks (the sandbox posts
                              sent / delivered / read for each reply, signed, as Meta does)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


def text_message(sender: str, text: str) -> dict[str, Any]:
    wamid = "wamid.smoke" + secrets.token_hex(16)
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "56229990000", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Compose Smoke"}, "wa_id": sender}],
        "messages": [
            {"from": sender, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}
        ],
    }
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [change]}]}


def send(url: str, secret: str, phone: str, text: str) -> int:
    body = json.dumps(text_message(phone, text)).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    print(f"webhook from {phone} ({text!r}): HTTP {status}")
    return 0 if status == 200 else 1


def replies_to(sandbox: str, phone: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"to": phone})
    with urllib.request.urlopen(f"{sandbox}/sandbox/messages?{query}", timeout=10) as response:
        messages: list[dict[str, Any]] = json.load(response)["messages"]
    return messages


def describe(message: dict[str, Any]) -> str:
    payload = message.get("payload") or {}
    text = (payload.get("text") or {}).get("body") or (payload.get("interactive") or {}).get("body", {}).get("text")
    return f"{message.get('type')}: {str(text or '')[:70]!r}"


def wait_replies(sandbox: str, phone: str, minimum: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while True:
        try:
            found = replies_to(sandbox, phone)
        except OSError:
            found = []
        if len(found) >= minimum:
            noun = "reply" if len(found) == 1 else "replies"
            print(f"{len(found)} {noun} to {phone} after {time.monotonic() - started:.1f} s")
            for message in found:
                print(f"  {describe(message)}")
            return 0
        if time.monotonic() > deadline:
            print(f"no reply to {phone} within {timeout:.0f} s (found {len(found)}, wanted {minimum})")
            return 1
        time.sleep(0.5)


def _json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.load(response)


def _until(timeout: float, check: Any) -> tuple[Any, float]:
    """``check()`` until it returns something truthy (None on timeout), and the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            found = check()
        except OSError:
            found = None
        if found or time.monotonic() - started > timeout:
            return found, time.monotonic() - started
        time.sleep(0.5)


def simulate(operator_api: str, phone: str, text: str, timeout: float) -> int:
    sent = _json(f"{operator_api}/simulator/api/send", {"phone": phone, "name": "Compose Smoke", "text": text})
    print(f"simulator: {phone} wrote {text!r} ({sent['wamid'][:16]}...)")
    query = urllib.parse.urlencode({"phone": phone})

    def replies() -> list[dict[str, Any]]:
        return [line for line in _json(f"{operator_api}/simulator/api/chat?{query}") if line["direction"] == "out"]

    found, took = _until(timeout, replies)
    if not found:
        print(f"simulator: no reply in {phone}'s chat within {timeout:.0f} s")
        return 1
    print(f"simulator: {phone}'s chat shows {len(found)} reply after {took:.1f} s")
    return 0


def status_webhooks(ingress: str) -> float:
    with urllib.request.urlopen(f"{ingress}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith('ingress_updates_total{kind="status"}'):
                return float(line.split()[-1])
    return 0.0


def wait_statuses(ingress: str, minimum: int, timeout: float) -> int:
    found, took = _until(timeout, lambda: status_webhooks(ingress) >= minimum)
    count = status_webhooks(ingress)
    if not found:
        print(f"the ingress counted {count:.0f} status webhooks within {timeout:.0f} s (wanted {minimum})")
        return 1
    print(f"the ingress counted {count:.0f} status webhooks from the sandbox ({took:.1f} s)")
    return 0


def main(argv: list[str]) -> int:
    match argv:
        case ["send", url, secret, phone, text]:
            return send(url, secret, phone, text)
        case ["replies", sandbox, phone, minimum, timeout]:
            return wait_replies(sandbox, phone, int(minimum), float(timeout))
        case ["count", sandbox, phone]:
            print(len(replies_to(sandbox, phone)))
            return 0
        case ["simulate", operator_api, phone, text, timeout]:
            return simulate(operator_api, phone, text, float(timeout))
        case ["statuses", ingress, minimum, timeout]:
            return wait_statuses(ingress, int(minimum), float(timeout))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
