"""The storefront script's weight and cost: its bytes (as written, and gzipped) and the
main-thread time it takes in headless Chromium on a sample storefront page.

    python -m plugin.bench.storefront [--loads N] [--json PATH] [--chromium PATH]

Each load is a fresh browser context (an empty cache: a first visit) on a sample page
served from its own port, with the script from the app on another (a shop elsewhere than
Shopify; on Shopify the same files come from Shopify's CDN). The visitor has consented.
Four pages, interleaved: the page without the script (the baseline); with it, for a visitor
who has not consented (it loads and waits); recording a page view (the overlay off); and
showing the overlay (its module loaded and drawn at once). Main-thread time is Chromium's own count (the DevTools protocol's
``Performance.getMetrics``: ``ScriptDuration``, JavaScript run; ``TaskDuration``, every task
of the page's main thread), read once the page view is answered (and the overlay drawn);
the script's cost is a page's median over the loads minus the baseline's.

Needs Playwright (``pip install -e '.[browser]'``, in the test extra too) and Chromium
(``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from plugin import create_app
from plugin.bench.measure import machine
from plugin.services import Services
from plugin.storage.models import Shop

SHOP = "bench-shop.myshopify.com"
ASSETS = Path(__file__).parents[1] / "static" / "storefront"
CONSENT = "<script>window.nudgeConsent = true</script>"
SCENARIOS = ("baseline", "no_consent", "page_view", "overlay")


def weight() -> dict[str, dict[str, int]]:
    """Each storefront file's bytes as written and gzipped (level 9)."""
    return {
        path.name: {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9))}
        for path in sorted(ASSETS.glob("*.js"))
        for data in [path.read_bytes()]
    }


def sample_page(script_tag: str, consent: bool = True) -> str:
    """A storefront page of the usual kind: a header, a product grid, a footer."""
    cards = "".join(
        f'<li class="card"><img alt="" width="240" height="240" src="data:image/gif;base64,'
        f'R0lGODlhAQABAAAAACw="><h3>Single-origin tea no. {n}</h3>'
        f'<p class="price">${12 + n}.00</p><button type="button">Add to cart</button></li>'
        for n in range(24)
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Tea | Northwind</title>
<style>body{{font-family:system-ui,sans-serif;margin:0}}header,footer{{padding:1rem 2rem;
background:#f3f4f6}}ul{{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));
gap:1rem;list-style:none;padding:2rem;margin:0}}.card{{border:1px solid #e5e7eb;
border-radius:.5rem;padding:1rem}}</style>
{CONSENT if consent else ""}{script_tag}</head>
<body><header><strong>Northwind Tea</strong> <nav>Tea · Coffee · Accessories</nav></header>
<main><h1>Tea</h1><ul>{cards}</ul></main><footer>Northwind Tea, 1 Harbour Street</footer>
</body></html>"""


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler, without a log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serving(wsgi_app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def storefront_pages(app_url: str) -> Any:
    """The sample page at /<scenario>: without the script, with it waiting for a consent
    that does not come, recording a page view (the overlay off), showing the overlay."""

    def pages(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        scenario = (environ.get("PATH_INFO") or "/").strip("/")
        shop = SHOP if scenario == "overlay" else "quiet-" + SHOP
        tag = f'<script src="{app_url}/storefront/{shop}/nudge.js" defer></script>'
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        page = sample_page("" if scenario == "baseline" else tag, consent=scenario != "no_consent")
        return [page.encode()]

    return pages


def add_shops(services: Services) -> None:
    """Two shops: one showing the overlay at once, one with it off."""
    overlay = {"delay_seconds": 0, "exit_intent": False, "topics": ["tea"]}
    with services.sessions() as session, session.begin():
        session.add(Shop(domain=SHOP, platform="shopify", settings={"storefront": overlay}))
        session.add(
            Shop(
                domain="quiet-" + SHOP,
                platform="shopify",
                settings={"storefront": {**overlay, "overlay_enabled": False}},
            )
        )


def load_once(browser: Any, url: str, scenario: str) -> dict[str, float]:
    """One first visit: Chromium's main-thread counters once the script's work is done."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    # waited for from the network, never from inside the page: a locator's script would
    # count in the page's own time
    if scenario in ("baseline", "no_consent"):  # a deferred script has run by then
        page.goto(f"{url}/{scenario}", wait_until="load")
    elif scenario == "page_view":
        with page.expect_response(lambda r: r.url.endswith("/events")):
            page.goto(f"{url}/{scenario}", wait_until="load")
    else:  # the overlay says it is shown as it draws itself
        with page.expect_request(lambda r: "overlay_shown" in (r.post_data or "")):
            page.goto(f"{url}/{scenario}", wait_until="load")
    page.wait_for_timeout(200)  # the answer's handling, layout and paint, then idle
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    context.close()
    return {
        "script_ms": metrics["ScriptDuration"] * 1000,
        "task_ms": metrics["TaskDuration"] * 1000,
    }


def measure(loads: int, chromium: str) -> dict[str, Any]:
    """Weight, and the median main-thread time of each page over ``loads`` loads."""
    from playwright.sync_api import sync_playwright

    samples: dict[str, list[dict[str, float]]] = {name: [] for name in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="nudge-storefront-bench-") as folder:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
                "SECRET_KEY": "storefront-bench",
                "EMBEDDED_WORKER": False,
            }
        )
        services = Services.of(app)
        add_shops(services)
        with serving(app) as app_url, serving(storefront_pages(app_url)) as url:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, headless=True)
                for scenario in SCENARIOS:  # a warm-up of each, not counted
                    load_once(browser, url, scenario)
                for _ in range(loads):
                    for scenario in SCENARIOS:
                        samples[scenario].append(load_once(browser, url, scenario))
                browser.close()
        services.dispose()

    def median(scenario: str, key: str) -> float:
        return statistics.median(sample[key] for sample in samples[scenario])

    pages = {
        name: {key: round(median(name, key), 2) for key in ("script_ms", "task_ms")}
        for name in SCENARIOS
    }
    cost = {
        name: {
            key: round(pages[name][key] - pages["baseline"][key], 2)
            for key in ("script_ms", "task_ms")
        }
        for name in SCENARIOS[1:]
    }
    return {
        "weight": weight(),
        "loads": loads,
        "median_ms": pages,
        "script_cost_ms": cost,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=21, help="loads of each page (default 21)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--chromium",
        default=shutil.which("chromium") or "/usr/bin/chromium",
        help="the Chromium to drive (default: chromium on the PATH)",
    )
    args = parser.parse_args()
    report = measure(args.loads, args.chromium)
    for name, sizes in report["weight"].items():
        print(f"{name}: {sizes['bytes']:,} bytes, {sizes['gzip_bytes']:,} gzipped")
    for name in SCENARIOS:
        ms = report["median_ms"][name]
        line = f"{name}: script {ms['script_ms']:.1f} ms, main-thread tasks {ms['task_ms']:.1f} ms"
        if name in report["script_cost_ms"]:
            cost = report["script_cost_ms"][name]
            line += f" (the script: +{cost['script_ms']:.1f} / +{cost['task_ms']:.1f} ms)"
        print(f"{line}, median of {report['loads']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
