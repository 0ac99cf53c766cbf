"""Handing a conversation to a person, in a real browser: a customer asks for a person in the simulator, an
agent finds it in the console's queue, opens it (no hand-back button before taking it), takes it, writes
(the customer reads it in the simulator) and hands it back; the bot asks its pending question again. The
screenshot of the console's queue comes from here."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from contracts.operator_events import OperatorRole
from infra.clock import utc_now
from projections.operator_api.operator_account_store import OperatorAccountStore
from tests.browser.test_console_and_simulator import WAIT, chat_as, console_url, log_in, write
from tests.e2e.pipeline import Pipeline

CUSTOMER = "56911113333"
AGENT_PASSWORD = "agent-password-0123"


async def test_an_agent_takes_writes_and_hands_back_a_conversation(
    pipeline: Pipeline, browser: Browser, screenshots: Path
) -> None:
    await OperatorAccountStore(pipeline.store, clock=utc_now).add("beto", OperatorRole.AGENT, AGENT_PASSWORD, by="cli")
    context = await browser.new_context(viewport={"width": 1200, "height": 800}, locale="es-CL")

    customer = await context.new_page()
    await chat_as(customer, pipeline, CUSTOMER, "Camila")
    await write(customer, "se me rompió la cañería, estoy en ñuñoa")
    await expect(customer.locator(".msg.out").first).to_contain_text("gasfiter en Ñuñoa", timeout=WAIT)
    await write(customer, "quiero hablar con una persona")
    await expect(customer.locator(".msg.out")).to_have_count(2, timeout=WAIT)
    await expect(customer.locator(".msg.out").last).to_contain_text("persona del equipo")

    console = await context.new_page()
    await log_in(console, pipeline, "beto", AGENT_PASSWORD)
    await console.goto(f"{console_url(pipeline)}/console/handovers")
    row = console.locator("#handovers tbody tr", has_text="Camila")
    for _ in range(100):  # the queue reads the conversations' read model, which follows within a moment
        if await row.count():
            break
        await console.wait_for_timeout(200)
        await console.reload()
    await expect(row).to_contain_text("esperando")
    await console.screenshot(path=str(screenshots / "console-handovers.png"), full_page=True)
    await row.get_by_role("link").click()
    # Handing back is for whoever took the conversation (or an admin): no button before taking it.
    await expect(console.get_by_role("button", name="Tomar conversación")).to_be_visible()
    await expect(console.get_by_role("button", name="Devolver al asistente")).to_have_count(0)
    await console.get_by_role("button", name="Tomar conversación").click()

    await expect(console.locator(".notice")).to_contain_text("Conversación tomada")
    await expect(console.locator("#handover")).to_contain_text("La atiende beto")
    await console.fill("#handover textarea[name=text]", "Hola Camila, soy Beto. Te ayudo yo con la cañería.")
    await console.get_by_role("button", name="Enviar").click()
    await expect(console.locator(".notice")).to_contain_text("Mensaje enviado")
    await expect(customer.locator(".msg.out").last).to_contain_text("soy Beto", timeout=WAIT)
    await expect(console.locator("#timeline")).to_contain_text("soy Beto", timeout=WAIT)
    await console.screenshot(path=str(screenshots / "console-handover.png"), full_page=True)

    await console.get_by_role("button", name="Devolver al asistente").click()
    await expect(console.locator(".notice")).to_contain_text("devuelta al asistente")
    await expect(console.locator("#handover")).to_have_count(0)
    await expect(customer.locator(".msg.out").last).to_contain_text("Te vuelve a atender el asistente", timeout=WAIT)
    await expect(customer.locator(".msg.out .choices button", has_text="Hoy").last).to_be_visible()

    await console.get_by_role("button", name="Auditar esta conversación").click()
    await expect(console.locator("#audit-result")).to_contain_text("OK")
    await context.close()
