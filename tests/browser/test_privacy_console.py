"""A person's rights in a real browser: a customer chats in the simulator, an admin exports everything held
about them from the console's «Datos personales» page, then forgets them after confirming; the page shows
each outcome and the record of requests. The screenshot of that page comes from here."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

from playwright.async_api import Browser, expect

from contracts.operator_events import OperatorRole
from infra.clock import utc_now
from projections.operator_api.operator_account_store import OperatorAccountStore
from tests.browser.test_console_and_simulator import WAIT, chat_as, log_in, write
from tests.e2e.pipeline import Pipeline

CUSTOMER = "56911114444"
ADMIN_PASSWORD = "admin-password-0123"


async def test_an_admin_exports_then_forgets_a_customer_from_the_console(
    pipeline: Pipeline, browser: Browser, screenshots: Path
) -> None:
    await OperatorAccountStore(pipeline.store, clock=utc_now).add("irene", OperatorRole.ADMIN, ADMIN_PASSWORD,
                                                                  by="cli")  # fmt: skip
    context = await browser.new_context(viewport={"width": 1200, "height": 900}, locale="es-CL")
    customer = await context.new_page()
    await chat_as(customer, pipeline, CUSTOMER, "Rosa")
    await write(customer, "se me rompió la cañería del lavaplatos, estoy en macul")
    await expect(customer.locator(".msg.out").first).to_contain_text("gasfiter en Macul", timeout=WAIT)

    console = await context.new_page()
    await log_in(console, pipeline, "irene", ADMIN_PASSWORD)
    await console.get_by_role("link", name="Datos personales").click()
    await console.fill("#privacy-form input[name=phone]", "+56 9 1111 4444")
    await console.get_by_role("button", name="Exportar").click()
    await expect(console.locator(".notice")).to_contain_text("Exportado: 1 solicitudes, 1 mensajes recibidos")
    await expect(console.locator("#export-document")).to_contain_text("cañería del lavaplatos")
    document = json.loads(await console.locator("#export-document").inner_text())
    assert document["person"] == {"phone": CUSTOMER, "person_key": document["person"]["person_key"],
                                  "whatsapp_names": ["Rosa"]}  # fmt: skip
    href = await console.locator("#download").get_attribute("href")
    assert href is not None and json.loads(unquote(href.partition(",")[2])) == document
    await expect(console.locator("#privacy-requests tbody tr").first).to_contain_text("exported")
    await console.screenshot(path=str(screenshots / "console-privacy.png"), full_page=True)

    await console.get_by_role("button", name="Olvidar…").click()
    await expect(console.locator("#confirm-forget")).to_contain_text("No se puede deshacer")
    await console.get_by_role("button", name=f"Sí, olvidar a {CUSTOMER}").click()
    await expect(console.locator(".notice")).to_contain_text("olvidada: su llave fue destruida")
    await expect(console.locator("#privacy-requests tbody tr").first).to_contain_text("forgotten")
    assert await pipeline.people.find(CUSTOMER) is None

    await console.fill("#privacy-form input[name=phone]", CUSTOMER)
    await console.get_by_role("button", name="Exportar").click()
    await expect(console.locator(".error")).to_contain_text("No tenemos datos de ese número")
    await expect(console.locator("#privacy-requests tbody tr")).to_have_count(3)
    await expect(console.locator("#privacy-requests")).not_to_contain_text(CUSTOMER)
    await context.close()
