"""Product variables read the catalog by product id; an unknown product says so in the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rules.definitions import parse_workflow
from rules.evaluation import evaluate_step, explain, reason_group
from rules.facts import Checkout, Customer, FactSet, LineItem, Order, Product
from rules.variables import CatalogValues, FactVariables, unknown_products

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
IPOD = Product(
    id="632910392",
    title="IPod Nano - 8GB",
    product_type="Cult Products",
    vendor="Apple",
    tags=("MP3", "Music"),
    collections=("Gadgets",),
)
SNOWBOARD = Product(
    id="7234590408817",
    title="The Collection Snowboard: Hydrogen",
    product_type="snowboard",
    vendor="Hydrogen Vendor",
    tags=("Winter",),
    collections=None,  # known from a webhook only: its collections are not
)
# as real order payloads say them: the product and variant, and (Shopify) the vendor
IPOD_LINE = LineItem(product_id="632910392", variant_id="808950810", title="IPod Nano - 8GB")
BOARD_LINE = LineItem(product_id="7234590408817", vendor="Hydrogen Vendor")


def facts(**kw: object) -> FactSet:
    kw.setdefault("customer", Customer(id="1", email="a@example.com", accepts_marketing=True))
    return FactSet(now=NOW, **kw)  # type: ignore[arg-type]


def order(*items: LineItem) -> Order:
    return Order(id="o1", items=items, value=Decimal("10"), created_at=NOW)


def step_on(*conditions: dict[str, object]):  # type: ignore[no-untyped-def]
    workflow = parse_workflow(
        {
            "name": "by_type",
            "trigger": {"event": "order_placed", "subject": "order"},
            "steps": [
                {
                    "id": "send",
                    "delay": {"hours": 0},
                    "conditions": {"all": list(conditions)},
                    "actions": [{"name": "send_email", "params": {"template": "upsell"}}],
                }
            ],
        }
    )
    return workflow.steps[0]


def test_order_product_attributes_come_from_the_catalog():
    v = FactVariables(
        facts(order=order(IPOD_LINE, BOARD_LINE), catalog={IPOD.id: IPOD, SNOWBOARD.id: SNOWBOARD})
    )
    assert v.order_product_types() == ["Cult Products", "snowboard"]
    assert v.order_product_tags() == ["MP3", "Music", "Winter"]
    assert v.order_vendors() == ["Apple", "Hydrogen Vendor"]
    assert v.order_collections() == ["Gadgets"]
    assert unknown_products(v.order_collections()) == (
        SNOWBOARD.id,
    )  # its collections are not known
    assert unknown_products(v.order_product_types()) == ()
    assert v.order_products_known() is True


def test_a_product_not_in_the_catalog_is_unknown_unless_its_line_says():
    v = FactVariables(facts(order=order(IPOD_LINE, BOARD_LINE), catalog={}))
    types = v.order_product_types()
    assert types == [] and unknown_products(types) == (IPOD.id, SNOWBOARD.id)
    vendors = v.order_vendors()  # real order lines carry the vendor
    assert vendors == ["Hydrogen Vendor"] and unknown_products(vendors) == (IPOD.id,)
    assert v.order_products_known() is False


def test_the_catalog_wins_over_what_a_line_says():
    line = LineItem(product_id=IPOD.id, product_type="Gadget", vendor="Someone")
    v = FactVariables(facts(order=order(line), catalog={IPOD.id: IPOD}))
    assert (v.order_product_types(), v.order_vendors()) == (["Cult Products"], ["Apple"])


def test_an_empty_type_in_the_catalog_is_known_and_contributes_nothing():
    untyped = Product(id="5", title="Gift card", product_type="", vendor="", tags=())
    v = FactVariables(facts(order=order(LineItem(product_id="5")), catalog={"5": untyped}))
    assert v.order_product_types() == [] and unknown_products(v.order_product_types()) == ()


def test_a_deleted_product_keeps_its_attributes_and_one_known_only_as_deleted_is_unknown():
    deleted = Product(id=IPOD.id, title=IPOD.title, product_type="Cult Products", deleted=True)
    gone = Product(id=SNOWBOARD.id, deleted=True)  # deleted before the catalog knew it
    v = FactVariables(
        facts(order=order(IPOD_LINE, BOARD_LINE), catalog={IPOD.id: deleted, SNOWBOARD.id: gone})
    )
    assert v.order_product_types() == ["Cult Products"]
    assert unknown_products(v.order_product_types()) == (SNOWBOARD.id,)
    assert v.order_products_known() is False


def test_lines_without_a_product_are_neither_looked_up_nor_unknown():
    tip = LineItem(product_id=None, title="Tip")
    v = FactVariables(facts(order=order(tip)))
    assert unknown_products(v.order_product_types()) == () and v.order_products_known() is True


def test_cart_and_history_variables_read_their_own_items():
    cart = Checkout(token="t", items=(IPOD_LINE,))
    v = FactVariables(
        facts(
            checkout=cart,
            ordered_items=(BOARD_LINE,),
            catalog={IPOD.id: IPOD, SNOWBOARD.id: SNOWBOARD},
        )
    )
    assert (v.checkout_product_types(), v.checkout_vendors()) == (["Cult Products"], ["Apple"])
    assert v.checkout_product_tags() == ["MP3", "Music"] and v.checkout_collections() == ["Gadgets"]
    assert v.checkout_products_known() is True
    assert v.history_product_types() == ["snowboard"]
    assert v.history_product_tags() == ["Winter"] and v.history_vendors() == ["Hydrogen Vendor"]
    assert unknown_products(v.history_collections()) == (SNOWBOARD.id,)
    assert v.history_products_known() is True
    assert v.order_product_types() == []  # no order


def test_a_type_condition_matches_once_the_product_is_in_the_catalog():
    step = step_on(
        {"name": "order_product_types", "operator": "contains_all", "value": ["Cult Products"]}
    )
    before = evaluate_step(step, facts(order=order(IPOD_LINE)))
    assert not before.fired
    assert before.reason == (
        "Product types in order is unknown: product 632910392 is not in the catalog yet "
        "(needs contains all [Cult Products])"
    )
    assert (
        reason_group(before.reason) == "Product types in order (needs contains all [Cult Products])"
    )
    [check] = before.checks
    assert explain(check) == before.reason
    after = evaluate_step(step, facts(order=order(IPOD_LINE), catalog={IPOD.id: IPOD}))
    assert after.fired and after.reason == "conditions met"


def test_a_reason_names_what_is_known_and_the_first_unknown_products():
    lines = [LineItem(product_id=str(n)) for n in range(1, 6)]
    known = Product(id="9", title="Tea", product_type="Tea")
    step = step_on({"name": "order_product_types", "operator": "contains_all", "value": ["Coffee"]})
    decision = evaluate_step(
        step, facts(order=order(LineItem(product_id="9"), *lines), catalog={"9": known})
    )
    assert decision.reason == (
        "Product types in order is [Tea], unknown for products 1, 2, 3 and 2 more: "
        "not in the catalog yet (needs contains all [Coffee])"
    )


def test_known_values_read_as_before():
    step = step_on({"name": "order_product_types", "operator": "contains_all", "value": ["Coffee"]})
    tea = Product(id="9", title="Tea", product_type="Tea")
    decision = evaluate_step(step, facts(order=order(LineItem(product_id="9")), catalog={"9": tea}))
    assert decision.reason == "Product types in order is [Tea] (needs contains all [Coffee])"


@pytest.mark.parametrize(
    ("catalog", "fired"),
    [({}, False), ({IPOD.id: IPOD}, True)],
)
def test_a_negative_condition_can_require_the_products_known(catalog, fired):
    step = step_on(
        {"name": "order_product_tags", "operator": "shares_no_elements_with", "value": ["Gift"]},
        {"name": "order_products_known", "operator": "is_true", "value": True},
    )
    decision = evaluate_step(step, facts(order=order(IPOD_LINE), catalog=catalog))
    assert decision.fired is fired
    if not fired:
        assert decision.reason == ("Every product in the order is in the catalog: no (needs yes)")


def test_catalog_values_are_the_lists_business_rules_compares():
    def values(known: list[str], *unknown: str) -> CatalogValues:
        made = CatalogValues(known)
        made.unknown = unknown
        return made

    assert values(["Coffee"], "42") == ["Coffee"] and isinstance(values([]), list)
    assert (
        values(["Coffee"], "42").words()
        == "[Coffee], unknown for product 42: not in the catalog yet"
    )
    assert values([], "1", "2", "3").words().startswith("unknown: products 1, 2 and 3")
    assert values([], "1", "2").words() == "unknown: products 1 and 2 are not in the catalog yet"
    assert values(["Tea"]).words() == "[Tea]"
    assert unknown_products(["Tea"]) == () and unknown_products(values([], "7")) == ("7",)
