"""The web console in a real headless browser (Debian's chromium through Playwright), against a real
server: what each page shows, resolving a key from the page (a waiting SDK client wakes), a process
event and the overview's figures arriving live, pagination, search and bad input."""

from __future__ import annotations

import asyncio
import json

from effectd import Cancelled, CustomWait, Ok, ProcessEventAppendRequest, RemoteProcessRegistry, Worker
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import Console, screenshot
from tests.console_seed import PROCESS_ID, REVOKED_SESSION, SCOPE, SESSION


def count(page: Page, name: str) -> Locator:
    return page.locator(f'[data-count="{name}"]')


async def test_overview_shows_the_counts(console: Console, page: Page) -> None:
    response = await page.goto(console.url)
    assert response is not None and response.status == 200
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    await expect(count(page, "keys_pending")).to_have_text("2")
    await expect(count(page, "keys_resolved")).to_have_text("1")
    await expect(count(page, "sessions_revoked")).to_have_text("1")
    await expect(count(page, "effects_completed")).to_have_text("1")
    await expect(count(page, "effects_failed")).to_have_text("1")
    await expect(count(page, "processes_running")).to_have_text("1")
    await expect(count(page, "workers")).to_have_text("0")
    await screenshot(page, "overview")


async def test_overview_shows_calls_and_resolve_to_wake_from_the_metrics(console: Console, page: Page) -> None:
    await page.goto(console.url)
    await expect(count(page, "wake_p50_ms")).to_have_text("\u2013")  # no wake yet
    calls = int(await count(page, "rpc_calls").inner_text())
    assert calls > 0  # the seed's calls
    key = await console.client.mint_key(SCOPE, CustomWait("woken-for-the-overview"))
    waiting = asyncio.create_task(console.client.await_event(key))
    await asyncio.sleep(0.3)
    await page.reload()
    assert int(await count(page, "open_streams").inner_text()) >= 1  # the waiter's Await stream
    await console.client.resolve(key, Ok("now"))
    assert await asyncio.wait_for(waiting, 15) == Ok("now")
    await page.reload()
    assert float(await count(page, "wake_p50_ms").inner_text()) > 0
    assert int(await count(page, "rpc_calls").inner_text()) > calls
    await screenshot(page, "overview-metrics")


async def test_overview_counts_update_live(console: Console, page: Page) -> None:
    await page.goto(console.url)
    await expect(count(page, "keys_pending")).to_have_text("2")
    await console.client.mint_key(SCOPE, CustomWait("live-count"))
    await expect(count(page, "keys_pending")).to_have_text("3", timeout=15_000)


async def test_sessions_list_and_a_session(console: Console, page: Page) -> None:
    await page.goto(console.url + "sessions")
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text(SESSION)
    await expect(rows.nth(0)).to_contain_text("active")
    await expect(rows.nth(1)).to_contain_text(REVOKED_SESSION)
    await expect(rows.nth(1)).to_contain_text("revoked")
    await screenshot(page, "sessions")

    await page.get_by_role("link", name=REVOKED_SESSION).click()
    await expect(page.get_by_role("status")).to_contain_text("This session is revoked")

    await page.goto(console.url + f"session?id={SESSION}")
    pending = page.get_by_role("table", name="Keys of this session waiting for a resolution")
    await expect(pending.locator("tbody tr")).to_have_count(2)
    await expect(pending).to_contain_text("approval")
    await expect(pending).to_contain_text("deploy-gate")
    resolved = page.get_by_role("table", name="Keys of this session with a terminal")
    await expect(resolved.locator("tbody tr")).to_have_count(1)
    await expect(resolved).to_contain_text("review")
    # Pending keys come first on the page.
    headings = await page.get_by_role("heading", level=2).all_inner_texts()
    assert headings == ["Pending keys", "Resolved keys", "Journal scopes", "Processes"]
    scopes = page.get_by_role("table", name="Journal scopes of this session")
    await expect(scopes).to_contain_text('"turn_id":"turn-1"')
    processes = page.get_by_role("table", name="Processes this session holds a grant for")
    await expect(processes).to_contain_text(PROCESS_ID)
    await expect(processes).to_contain_text("running")
    await screenshot(page, "session")


async def test_a_resolved_key_shows_its_terminal(console: Console, page: Page) -> None:
    await page.goto(console.url + f"key?id={console.seeded.resolved.key_id}")
    await expect(page.locator("#terminal")).to_contain_text('"approved": true')
    await expect(page.locator(".facts")).to_contain_text("resolved")
    await expect(page.locator("#resolved-by")).to_contain_text("ipv4:127.0.0.1:")  # the seed's client
    await expect(page.get_by_role("button", name="Resolve…")).to_have_count(0)
    await screenshot(page, "key-resolved")


async def test_resolve_from_the_page_wakes_a_waiting_client(console: Console, page: Page) -> None:
    key = console.seeded.waited
    waiting = asyncio.create_task(console.client.await_event(key))
    await page.goto(console.url + f"key?id={key.key_id}")
    await expect(page.locator(".facts")).to_contain_text("pending")
    await page.get_by_label("Payload (JSON, for ok)").fill('{"deploy": "approved", "build": 42}')
    await screenshot(page, "key-pending")
    await page.get_by_role("button", name="Resolve…").click()
    # Nothing is recorded before the confirmation.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Confirm")
    await expect(page.get_by_label("Terminal to record")).to_contain_text('"deploy": "approved"')
    await screenshot(page, "key-confirm")
    assert not waiting.done()
    await page.get_by_role("button", name="Confirm resolve").click()
    await expect(page.get_by_role("status")).to_contain_text("Resolved: the key took this resolution")
    await expect(page.locator("#terminal")).to_contain_text('"build": 42')
    await expect(page.locator("#resolved-by")).to_have_text("console")
    assert await asyncio.wait_for(waiting, 15) == Ok({"deploy": "approved", "build": 42})
    await screenshot(page, "key-resolved-from-page")


async def test_cancel_from_the_page(console: Console, page: Page) -> None:
    key = console.seeded.pending
    await page.goto(console.url + f"key?id={key.key_id}")
    await page.get_by_role("button", name="Cancel this wait…").click()
    await page.get_by_role("button", name="Confirm cancel").click()
    await expect(page.get_by_role("status")).to_contain_text("Resolved")
    assert await console.client.peek(key) == Cancelled()


async def test_resolve_with_bad_json_is_a_clear_400(console: Console, page: Page) -> None:
    await page.goto(console.url + f"key?id={console.seeded.pending.key_id}")
    await page.get_by_label("Payload (JSON, for ok)").fill("{not json")
    await page.get_by_role("button", name="Resolve…").click()
    await expect(page.get_by_role("alert")).to_contain_text("invalid_json")


async def test_journal_scopes_and_a_scope_in_order(console: Console, page: Page) -> None:
    await page.goto(console.url + "journal")
    table = page.get_by_role("table", name="Journal scopes by their lash-json")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table).to_contain_text(SESSION)
    await screenshot(page, "journal")

    await table.get_by_role("link").first.click()
    effects = page.locator("article.effect")
    await expect(effects).to_have_count(2)
    await expect(effects.nth(0).get_by_role("heading", level=3)).to_contain_text("#1 durable_step completed")
    await expect(effects.nth(0)).to_contain_text("replay:fetch")
    await expect(effects.nth(0)).to_contain_text('"rows": 3')
    await expect(effects.nth(1).get_by_role("heading", level=3)).to_contain_text("#2 durable_step failed")
    await expect(effects.nth(1)).to_contain_text("invoice_rejected")
    await expect(effects.nth(1)).to_contain_text("the customer has no billing address")
    await screenshot(page, "journal-scope")


async def test_processes_filters_and_one_process_following_live(console: Console, page: Page) -> None:
    await page.goto(console.url + "processes?status=running")
    await expect(page.get_by_role("table", name="Processes by id")).to_contain_text(PROCESS_ID)
    await screenshot(page, "processes")
    await page.get_by_label("Status").select_option("completed")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("table", name="Processes by id")).to_contain_text("No processes.")

    await page.goto(console.url + f"process?id={PROCESS_ID}")
    await expect(page.locator(".facts")).to_contain_text("running")
    await expect(page.locator(".facts")).to_contain_text("not waiting")
    await expect(page.get_by_role("table", name="Session scopes that may address this process")).to_contain_text(
        SESSION
    )
    events = page.locator("#events tbody tr")
    await expect(events).to_have_count(2)
    await expect(events.nth(1)).to_contain_text('"percent": 50')
    await screenshot(page, "process")

    # The event stream is open once the page loaded; an append must show up without a reload.
    await RemoteProcessRegistry(console.client).append_event(
        PROCESS_ID, ProcessEventAppendRequest("progress", {"percent": 100, "note": "<done>"})
    )
    await expect(events).to_have_count(3, timeout=15_000)
    await expect(events.nth(2)).to_contain_text('"note": "<done>"')
    await screenshot(page, "process-live-event")


async def test_workers_page_shows_a_connected_worker(console: Console, page: Page) -> None:
    worker = Worker(console.client.rpc, worker_id="console-worker", slots=4, labels={"region": "eu"})

    @worker.tool("search", version="1.2")
    async def search(arguments: object, ctx: object) -> object:
        return {"found": arguments}

    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.registered.wait(), 15)
        await page.goto(console.url + "workers")
        row = page.get_by_role("table", name="Connected workers").locator("tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("console-worker")
        await expect(row).to_contain_text("tool_call search@1.2")
        await expect(row).to_contain_text("region=eu")
        await screenshot(page, "workers")
        await page.goto(console.url)
        await expect(count(page, "workers")).to_have_text("1")
    finally:
        worker.drain()
        await asyncio.wait_for(running, 15)


async def test_keys_are_paginated_and_searchable(console: Console, page: Page) -> None:
    await page.goto(console.url + "keys?state=any&limit=2")
    table = page.get_by_role("table")
    await expect(table.locator("tbody tr")).to_have_count(2)
    await page.get_by_role("link", name="Next page →").click()
    await expect(table.locator("tbody tr")).to_have_count(2)
    await expect(page.get_by_role("link", name="Next page →")).to_be_visible()
    await page.get_by_role("link", name="Next page →").click()
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table).to_contain_text("None.")

    await page.goto(console.url + "keys?state=any")
    await page.get_by_label("Key id, scope or wait contains").fill("deploy-gate")
    await page.get_by_role("button", name="Search").click()
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table).to_contain_text("deploy-gate")
    await screenshot(page, "keys-search")


async def test_bad_input_is_a_400_page_and_unknown_ids_are_404(console: Console, page: Page) -> None:
    response = await page.goto(console.url + "keys?limit=many")
    assert response is not None and response.status == 400
    await expect(page.get_by_role("alert")).to_contain_text("limit must be a whole number")
    response = await page.goto(console.url + "key?id=" + "0" * 64)
    assert response is not None and response.status == 404
    response = await page.goto(console.url + "process?id=nope")
    assert response is not None and response.status == 404
    response = await page.goto(console.url + "keys?state=" + json.dumps("odd"))
    assert response is not None and response.status == 400
