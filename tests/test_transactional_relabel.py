"""Relabelling a marketing workflow as transactional drops its consent check and its
unsubscribe link: it takes a confirmation naming that, kept in the version history, and a
transactional step may not offer discounts or recommend products."""

from __future__ import annotations

import copy
import json

from click.testing import CliRunner

from plugin.cli import main
from tests.support.session_tokens import session_token


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token()}"}


def definition(client, name: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return copy.deepcopy(client.get(f"/api/workflows/{name}", headers=auth()).json["workflow"])


def relabelled(client, name: str = "feedback_request") -> dict:  # type: ignore[no-untyped-def,type-arg]
    data = definition(client, name)["definition"]
    data["category"] = "transactional"
    return data  # type: ignore[no-any-return]


def test_relabelling_is_refused_until_confirmed_and_the_history_says_so(client, shop):
    data = relabelled(client)
    refused = client.put(
        "/api/workflows/feedback_request", json={"definition": data}, headers=auth()
    )
    assert refused.status_code == 409
    assert refused.json["confirm"] == "confirm_transactional"
    assert "never agreed to marketing" in refused.json["error"]
    assert "without an unsubscribe link" in refused.json["error"]
    assert definition(client, "feedback_request")["category"] == "marketing"  # nothing saved

    saved = client.put(
        "/api/workflows/feedback_request",
        json={"definition": data, "confirm_transactional": True},
        headers=auth(),
    )
    assert saved.status_code == 200 and saved.json["workflow"]["category"] == "transactional"
    [newest] = client.get("/api/workflows/feedback_request", headers=auth()).json["versions"]
    assert newest["note"].startswith("Relabelled transactional, confirmed:")
    assert "without an unsubscribe link" in newest["note"]

    # restoring a transactional version over a marketing one asks again
    data["category"] = "marketing"
    back = client.put("/api/workflows/feedback_request", json={"definition": data}, headers=auth())
    assert back.status_code == 200
    path = f"/api/workflows/feedback_request/versions/{newest['version']}/restore"
    assert client.post(path, headers=auth()).status_code == 409
    restored = client.post(path, json={"confirm_transactional": True}, headers=auth())
    assert restored.status_code == 200
    assert restored.json["workflow"]["category"] == "transactional"


def test_a_transactional_step_may_not_offer_or_recommend(client, shop):
    data = relabelled(client, "cart_abandonment")  # its second step creates a discount
    answer = client.put(
        "/api/workflows/cart_abandonment",
        json={"definition": data, "confirm_transactional": True},
        headers=auth(),
    )
    assert answer.status_code == 422
    paths = [e["path"] for e in answer.json["errors"]]
    assert "steps[1].actions[0]" in paths  # create_discount
    assert "offers or product recommendations" in answer.json["errors"][0]["message"]

    data = relabelled(client)
    email = data["steps"][0]["actions"][0]["params"]
    email["blocks"] = [
        {"type": "text", "text": "How was it?"},
        {"type": "products", "source": "recommendations"},
    ]
    answer = client.put(
        "/api/workflows/feedback_request",
        json={"definition": data, "confirm_transactional": True},
        headers=auth(),
    )
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json["errors"]] == [
        "steps[0].actions[0].params.blocks[1].source"
    ]

    # a built-in design that recommends products, with no blocks of the step's own
    email.pop("blocks")
    email["template"] = "upsell"
    answer = client.put(
        "/api/workflows/feedback_request",
        json={"definition": data, "confirm_transactional": True},
        headers=auth(),
    )
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json["errors"]] == ["steps[0].actions[0].params.template"]
    # the order's own lines are not an offer: the feedback design stays allowed
    email["template"] = "feedback_request"
    answer = client.put(
        "/api/workflows/feedback_request",
        json={"definition": data, "confirm_transactional": True},
        headers=auth(),
    )
    assert answer.status_code == 200


def test_the_cli_asks_for_the_confirmation_flag(client, shop, services, monkeypatch, tmp_path):
    monkeypatch.setenv("NUDGE_DATABASE_URL", services.settings["DATABASE_URL"])
    monkeypatch.setenv("NUDGE_SECRET_KEY", services.settings["SECRET_KEY"])
    path = tmp_path / "feedback.json"
    path.write_text(json.dumps(relabelled(client)))
    domain = shop.domain
    refused = CliRunner().invoke(main, ["workflows", "set", domain, str(path)])
    assert refused.exit_code != 0
    assert "--confirm-transactional" in refused.output
    assert "unsubscribe link" in refused.output
    saved = CliRunner().invoke(
        main, ["workflows", "set", domain, str(path), "--confirm-transactional"]
    )
    assert saved.exit_code == 0, saved.output
    assert definition(client, "feedback_request")["category"] == "transactional"
