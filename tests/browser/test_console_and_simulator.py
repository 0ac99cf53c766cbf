"""The console and the WhatsApp simulator in a real browser, on the whole pipeline: a customer and a
technician chat in two simulator tabs until the technician accepts; an operator logs in and finds the lead
and its timeline; a viewer can change nothing. The screenshots in docs/screenshots come from here."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from contracts.intent import Service
from contracts.operator_events import OperatorRole
from infra.clock import utc_now
from projections.operator_api.operator_account_store import OperatorAccountStore
from tests.e2e.pipeline import Pipeline

CUSTOMER = "56911112222"
PEDRO = "56987654321"
ADMIN_PASSWORD = "admin-password-0123"
VIEWER_PASSWORD = "viewer-password-0123"
WAIT = 20_000  # ms: the whole pipeline answers in well under a second, but CI machines can be busy


def console_url(pipeline: Pipeline) -> str:
    return str(pipeline.operator_api.base_url).rstrip("/")


async def chat_as(page: Page, pipeline: Pipeline, phone: str, name: str) -> None:
    await page.goto(f"{console_url(pipeline)}/simulator?phone={phone}&name={name}")
    await expect(page.locator("#phone")).to_have_value(phone)


async def write(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def log_in(page: Page, pipeline: Pipeline, name: str, password: str) -> None:
    await page.goto(f"{console_url(pipeline)}/console/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def test_a_customer_and_a_technician_chat_in_the_simulator_and_the_operator_follows_it(
    pipeline: Pipeline, browser: Browser, screenshots: Path
) -> None:
    accounts = OperatorAccountStore(pipeline.store, clock=utc_now)
    await accounts.add("ana", OperatorRole.ADMIN, ADMIN_PASSWORD, by="cli")
    await pipeline.register("Pedro Soto", PEDRO, (Service.GASFITERIA,), ("Ñuñoa",))
    context = await browser.new_context(viewport={"width": 1200, "height": 800}, locale="es-CL")

    customer = await context.new_page()
    await chat_as(customer, pipeline, CUSTOMER, "Camila")
    await write(customer, "hola, se me rompió la cañería del baño y está saliendo agua, estoy en ñuñoa")
    await expect(customer.locator(".msg.out").first).to_contain_text("gasfiter en Ñuñoa", timeout=WAIT)
    await customer.locator(".msg.out .choices button", has_text="Hoy").first.click()
    await expect(customer.locator(".msg.out")).to_have_count(2, timeout=WAIT)
    await write(customer, "irarrázaval 1234 depto 5")
    await expect(customer.locator(".msg.out")).to_have_count(3, timeout=WAIT)
    await customer.locator(".msg.out").nth(2).locator(".choices button").first.click()  # Sí, confirmo
    await expect(customer.locator(".msg.out")).to_have_count(4, timeout=WAIT)

    technician = await context.new_page()
    await chat_as(technician, pipeline, PEDRO, "Pedro")
    offer = technician.locator(".msg.out").first
    await expect(offer).to_contain_text("Ñuñoa", timeout=WAIT)
    await technician.screenshot(path=str(screenshots / "simulator-technician.png"))
    await offer.locator(".choices button").first.click()  # Aceptar
    await expect(customer.locator(".msg.out").last).to_contain_text("Pedro Soto aceptó", timeout=WAIT)
    await customer.screenshot(path=str(screenshots / "simulator-customer.png"))

    console = await context.new_page()
    await log_in(console, pipeline, "ana", ADMIN_PASSWORD)
    await expect(console.locator("h1")).to_have_text("Resumen")
    await console.goto(f"{console_url(pipeline)}/console/leads?status=assigned")
    row = console.locator("#leads tbody tr", has_text="Ñuñoa")
    await expect(row).to_have_count(1, timeout=WAIT)  # the read model follows within a moment
    await expect(row).to_contain_text("Pedro Soto")
    await console.screenshot(path=str(screenshots / "console-leads.png"), full_page=True)
    await row.locator("a").click()
    await console.get_by_text("Ver la conversación").click()
    timeline = console.locator("#timeline")
    await expect(timeline).to_contain_text("cañería del baño")
    await expect(timeline.locator(".wa-button", has_text="Sí, confirmo")).to_have_count(1)
    await expect(timeline).to_contain_text("assigned to Pedro Soto")
    await console.screenshot(path=str(screenshots / "console-timeline.png"), full_page=True)

    # The timeline refreshes on its own: a new message shows up without reloading the page.
    await write(customer, "estado")
    await expect(timeline).to_contain_text("estado", timeout=WAIT)
    await context.close()


async def test_a_viewer_sees_no_buttons_that_change_anything(pipeline: Pipeline, browser: Browser) -> None:
    accounts = OperatorAccountStore(pipeline.store, clock=utc_now)
    await accounts.add("vera", OperatorRole.VIEWER, VIEWER_PASSWORD, by="cli")
    await pipeline.register("Pedro Soto", PEDRO, (Service.GASFITERIA,), ("Ñuñoa",))
    page = await browser.new_page()
    await log_in(page, pipeline, "vera", VIEWER_PASSWORD)
    await page.goto(f"{console_url(pipeline)}/console/technicians")
    await expect(page.locator("#technicians")).to_contain_text("Pedro Soto", timeout=WAIT)
    await expect(page.get_by_role("button", name=re.compile("Desactivar|Registrar"))).to_have_count(0)
    await expect(page.get_by_role("link", name="Operadores")).to_have_count(0)
    response = await page.goto(f"{console_url(pipeline)}/console/operators")
    assert response is not None and response.status == 403


async def test_wrong_passwords_in_the_browser_are_rate_limited(pipeline: Pipeline, browser: Browser) -> None:
    page = await browser.new_page()
    for _ in range(5):
        await log_in(page, pipeline, "nadie", "not-a-password")
        await expect(page.locator(".error")).to_contain_text("incorrectos")
    await log_in(page, pipeline, "nadie", "not-a-password")
    await expect(page.locator(".error")).to_contain_text("Demasiados intentos")
