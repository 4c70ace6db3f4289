"""Recommendations from the shop's own orders: what the model may and may never recommend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.recommend import Model, OrderLines, ProductState, Settings, build

NOW = datetime(2026, 9, 1, tzinfo=UTC)
ACTIVE = ProductState()


def order(customer: str | None, *products: str, days_ago: float = 1) -> OrderLines:
    return OrderLines(customer, NOW - timedelta(days=days_ago), products)


def offered(*products: str) -> dict[str, ProductState]:
    return dict.fromkeys(products, ACTIVE)


def ids(recommendations) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.product_id for r in recommendations]


ESPRESSO_SHOP = [
    *(order(f"e{n}", "espresso", "tamper") for n in range(6)),
    *(order(f"e{n}", "grinder", days_ago=0.5) for n in range(4)),  # a later order
    *(order(f"t{n}", "sencha", "teapot") for n in range(5)),
    *(order(f"m{n}", "mug") for n in range(12)),  # the best seller, bought alone
]
EVERYTHING = offered("espresso", "tamper", "grinder", "sencha", "teapot", "mug")


def test_customers_who_bought_a_product_also_bought_its_complements():
    model = build(ESPRESSO_SHOP, NOW)
    found = model.also_bought(["espresso"], EVERYTHING, k=2)
    assert ids(found) == ["tamper", "grinder"]  # the grinder came in a later order
    assert {r.reason for r in found} == {"also_bought"}
    assert {r.because for r in found} == {"espresso"}
    assert found[0].score > found[1].score > 0


def test_pairs_count_once_per_customer_and_guests_are_customers_of_their_own():
    model = build(
        [
            *(order("loyal", "beans", "filters", days_ago=d) for d in range(1, 11)),
            order(None, "beans", "kettle"),
            order(None, "filters", "kettle"),
        ],
        NOW,
    )
    assert model.bought_together("beans", "filters") == 1  # ten orders, one customer
    assert model.buyers("beans") == 2 and model.buyers("kettle") == 2
    assert model.bought_together("beans", "kettle") == 1
    assert model.bought_together("filters", "kettle") == 1  # two guests, not one


def test_a_pair_fewer_customers_share_than_the_minimum_support_is_not_recommended():
    orders = [order(f"c{n}", "espresso", "tamper") for n in range(2)]
    orders += [order(f"m{n}", "mug") for n in range(3)]
    catalog = offered("espresso", "tamper", "mug")
    assert ids(build(orders, NOW, min_support=2).also_bought(["espresso"], catalog, k=1)) == [
        "tamper"
    ]
    found = build(orders, NOW, min_support=3).also_bought(["espresso"], catalog, k=1)
    assert [(r.product_id, r.reason) for r in found] == [("mug", "best_seller")]


def test_best_sellers_fill_in_when_the_customer_bought_nothing_known():
    model = build(ESPRESSO_SHOP, NOW)
    found = model.also_bought(["never-sold"], EVERYTHING, k=3)
    assert found == model.best_sellers(EVERYTHING, k=3)
    assert ids(found)[0] == "mug" and {r.reason for r in found} == {"best_seller"}
    # and when the known partners run out, the rest come from the best sellers
    partly = model.also_bought(["sencha"], EVERYTHING, k=3)
    assert [r.reason for r in partly] == ["also_bought", "best_seller", "best_seller"]
    assert ids(partly)[:2] == ["teapot", "mug"]


def test_never_what_was_bought_is_in_the_cart_or_the_catalog_does_not_offer():
    model = build(ESPRESSO_SHOP, NOW)
    catalog = {
        "espresso": ACTIVE,
        "tamper": ProductState(available=False),  # sold out
        "grinder": ProductState(status="draft"),
        "teapot": ProductState(status="archived"),
        "mug": ACTIVE,
        # "sencha" was deleted: the catalog no longer lists it
    }
    found = model.also_bought(["espresso"], catalog, exclude={"mug"}, k=4)
    assert found == []  # nothing else is on offer
    assert ids(model.best_sellers(catalog, k=4)) == ["mug", "espresso"]
    assert ids(model.best_sellers(catalog, exclude=["mug"], k=4)) == ["espresso"]


def test_recent_sales_outweigh_old_ones_by_the_half_life():
    orders = [order(f"a{n}", "old-favourite", days_ago=120) for n in range(10)]
    orders += [order(f"b{n}", "new-hit", days_ago=0) for n in range(4)]
    catalog = offered("old-favourite", "new-hit")
    monthly = build(orders, NOW + timedelta(seconds=1), half_life_days=30)
    [first, second] = monthly.best_sellers(catalog)
    assert (first.product_id, second.product_id) == ("new-hit", "old-favourite")
    assert first.score == pytest.approx(4) and second.score == pytest.approx(10 / 16)
    slow = build(orders, NOW + timedelta(seconds=1), half_life_days=3650)
    assert ids(slow.best_sellers(catalog)) == ["old-favourite", "new-hit"]


def test_orders_placed_at_or_after_now_are_not_history_yet():
    later = [order("c1", "espresso", "mug", days_ago=0), order("c2", "x", days_ago=-3)]
    assert build(ESPRESSO_SHOP, NOW).to_json() == build(ESPRESSO_SHOP + later, NOW).to_json()


def test_the_snapshot_round_trips():
    model = build(ESPRESSO_SHOP, NOW)
    model.add_order(order("e1", "sencha", days_ago=0.1), ["espresso", "tamper", "grinder"])
    loaded = Model.from_json(model.to_json())
    assert loaded.to_json() == model.to_json()
    assert loaded.settings == model.settings and loaded.as_of == model.as_of
    for seeds in (["espresso"], ["sencha", "mug"], []):
        assert loaded.also_bought(seeds, EVERYTHING) == model.also_bought(seeds, EVERYTHING)
    with pytest.raises(ValueError, match="version"):
        Model.from_json(model.to_json().replace('"version":1', '"version":0'))


def test_new_arrivals_are_offered_products_created_lately_newest_first():
    catalog = {
        "old": ProductState(created_at=NOW - timedelta(days=90)),
        "week": ProductState(created_at=NOW - timedelta(days=7)),
        "today": ProductState(created_at=NOW - timedelta(hours=2)),
        "draft": ProductState(status="draft", created_at=NOW - timedelta(days=1)),
        "bought": ProductState(created_at=NOW - timedelta(days=3)),
        "undated": ProductState(),
    }
    model = build([], NOW)
    found = model.new_arrivals(catalog, NOW, exclude={"bought"})
    assert ids(found) == ["today", "week"]
    assert {r.reason for r in found} == {"new_arrival"} and found[0].score > found[1].score


def test_settings_are_checked():
    with pytest.raises(ValueError):
        Settings(min_support=0)
    with pytest.raises(ValueError):
        Settings(half_life_days=0)
    with pytest.raises(ValueError):
        build([], datetime(2026, 9, 1))  # a naive now


# -- properties over any shop ---------------------------------------------------------------

PRODUCTS = [f"p{n}" for n in range(8)]
STATES = st.sampled_from(
    [ACTIVE, ACTIVE, ProductState(available=False), ProductState(status="draft"), None]
)
ORDERS = st.lists(
    st.builds(
        OrderLines,
        customer_id=st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e"])),
        placed_at=st.integers(0, 400 * 24).map(lambda h: NOW - timedelta(hours=h + 1)),
        product_ids=st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=4).map(tuple),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    orders=ORDERS,
    states=st.lists(STATES, min_size=len(PRODUCTS), max_size=len(PRODUCTS)),
    seeds=st.lists(st.sampled_from(PRODUCTS), max_size=3),
    cart=st.sets(st.sampled_from(PRODUCTS), max_size=3),
    min_support=st.integers(1, 3),
    k=st.integers(1, 6),
)
def test_answers_respect_every_rule(orders, states, seeds, cart, min_support, k):
    catalog = {p: s for p, s in zip(PRODUCTS, states, strict=True) if s is not None}
    model = build(orders, NOW, min_support=min_support)
    found = model.also_bought(seeds, catalog, exclude=cart, k=k)
    sold = {p for o in orders for p in o.product_ids}
    allowed = {p for p in sold if p in catalog and catalog[p].recommendable} - cart - set(seeds)
    assert len(found) == min(k, len(allowed)) == len(set(ids(found)))
    assert set(ids(found)) <= allowed
    for r in found:
        if r.reason == "also_bought":
            assert r.because in seeds
            assert model.bought_together(r.because, r.product_id) >= min_support
    reasons = [r.reason for r in found]
    assert reasons == sorted(reasons)  # also_bought first, then the best sellers filling in


def proportions(recommendations) -> dict[str, float]:  # type: ignore[no-untyped-def]
    top = max((r.score for r in recommendations), default=1.0) or 1.0
    return {r.product_id: r.score / top for r in recommendations}


@settings(max_examples=100, deadline=None)
@given(orders=ORDERS, split=st.integers(0, 40))
def test_adding_orders_one_by_one_counts_as_a_rebuild_does(orders, split):
    orders = sorted(orders, key=lambda o: o.placed_at)
    split = min(split, len(orders))
    rebuilt = build(orders, NOW)
    built_at = orders[split - 1].placed_at + timedelta(seconds=1) if split else NOW
    model = build(orders[:split], built_at)
    bought: dict[str, set[str]] = {}
    for o in orders[:split]:
        if o.customer_id is not None:
            bought.setdefault(o.customer_id, set()).update(o.product_ids)
    for o in orders[split:]:
        history = bought.setdefault(o.customer_id, set()) if o.customer_id else set()
        model.add_order(o, history)
        history.update(o.product_ids)
    assert sorted(model.pairs()) == sorted(rebuilt.pairs())
    assert {p: model.buyers(p) for p in PRODUCTS} == {p: rebuilt.buyers(p) for p in PRODUCTS}
    catalog, every = offered(*PRODUCTS), len(PRODUCTS)
    assert proportions(model.best_sellers(catalog, k=every)) == pytest.approx(
        proportions(rebuilt.best_sellers(catalog, k=every))
    )  # the same sales, though the two count their age from different moments
    model.rescore()  # the lists of partners too, once rescored
    for seed in PRODUCTS:
        assert partners(model, seed) == partners(rebuilt, seed)


def partners(model: Model, seed: str) -> dict[str, float]:
    """What the model recommends with ``seed`` for having been bought with it, and scores."""
    found = model.also_bought([seed], offered(*PRODUCTS), k=len(PRODUCTS))
    return {r.product_id: r.score for r in found if r.reason == "also_bought"}
