"""`nudge demo` on a small history: the real endpoint, every workflow acting, previews left."""

from __future__ import annotations

import json

from click.testing import CliRunner

from connectors import shopify
from plugin.cli import main
from plugin.demo.history import describe, generate_history


def test_history_is_deterministic_ordered_and_realistic():
    first = list(generate_history(seed=3, customers=300, days=30))
    assert first == list(generate_history(seed=3, customers=300, days=30))
    assert first != list(generate_history(seed=4, customers=300, days=30))
    assert [d.at for d in first] == sorted(d.at for d in first)
    mix = describe(first)
    assert 250 < mix["customers"] <= 300  # some sign up only after the window
    assert mix["abandoned"] > 20 and mix["checkouts_with_email"] > mix["abandoned"]
    assert mix["repeat_buyers"] > 20 and mix["duplicates"] > 0
    assert mix["topic:customers_email_marketing_consent/update"] > 0
    for delivery in first:
        shopify.to_events(
            delivery.topic, delivery.payload
        )  # every payload is one Shopify could send
        json.dumps(delivery.payload)


def test_demo_runs_every_workflow_and_leaves_previews(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        main,
        ["demo", "--customers", "300", "--days", "30", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "(0 rejected)" in result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {
        "cart_abandonment",
        "upsell",
        "purchase_cycle",
        "feedback_request",
        "reengagement",
    }
    for name, row in report.items():
        assert row["enrolled"] > 0 and row["emails"] > 0, name
        assert row["skipped"], name  # and it says why some were not sent
    assert report["cart_abandonment"]["converted"] <= report["cart_abandonment"]["exited"]
    previews = list((out / "previews").glob("*.html"))
    assert {p.name.split("-")[0] for p in previews} == set(report)
    assert all("<html" in p.read_text() for p in previews)
