"""Every form of compiled conditions, and the worker's decisions, agree exactly with
business-rules' own engine, on random rules and facts."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from business_rules.engine import check_condition, run_all
from business_rules.operators import SelectMultipleType
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.actions import WorkflowActions
from rules.catalog import operator_inputs, variable_types
from rules.comparisons import verdict
from rules.compiler import ConditionResult, compile_conditions
from rules.definitions import StepDef, parse_workflow
from rules.evaluation import evaluate_step, explain
from rules.facts import Checkout, Customer, FactSet, LineItem, Order, Product
from rules.validation import condition_errors
from rules.variable_costs import (
    CACHED,
    INLINE,
    LOOPS,
    cost,
    inlined_expression,
    variable_function,
)
from rules.variables import CATALOG_VARIABLES, HISTORY_PRODUCT_VARIABLES, FactVariables

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TYPES = variable_types()
TAGS = ["vip", "VIP", "Vip", "Coffee", "coffee", "tea", "101", "Northwind", "northwind", ""]

# Comparison values by operator input type. Numbers sit on and a hair either side of the
# values facts commonly take, where business-rules' epsilon decides; lists may be empty
# and differ from the facts' values only by case.
BOUNDARIES = [0, 1, 2, 3, 7, 14, 20, 50, 72, 90, 36_500, 876_000, -1, -14]
NUDGES = [0, 0, 1e-7, -1e-7, 1e-5, -1e-5, 0.5, -0.5]
values_for_input = {
    "numeric": st.one_of(
        st.builds(
            lambda base, nudge: base + nudge, st.sampled_from(BOUNDARIES), st.sampled_from(NUDGES)
        ),
        st.integers(-1000, 100_000),
        st.floats(-1000, 100_000, allow_nan=False, allow_infinity=False),
    ),
    "text": st.sampled_from(["", "vip", "VIP", "v.p", "^v", "coffee"]),
    "select": st.sampled_from(["vip", "Coffee", "1"]),
    "select_multiple": st.lists(st.sampled_from(TAGS), max_size=3),
    "none": st.sampled_from([True, False, None]),
}


@st.composite
def leaf(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(TYPES)))
    operators = operator_inputs()[TYPES[name]]
    operator = draw(st.sampled_from(sorted(operators)))
    return {
        "name": name,
        "operator": operator,
        "value": draw(values_for_input[operators[operator]]),
    }


conditions = st.recursive(
    leaf(),
    lambda children: st.builds(
        lambda group, members: {group: members},
        st.sampled_from(["all", "any"]),
        st.lists(children, min_size=1, max_size=4),
    ),
    max_leaves=10,
)

moments = st.one_of(
    st.none(),
    st.sampled_from([0, 1, 3, 7, 14, 90]).map(lambda days: NOW - timedelta(days=days)),
    st.integers(-400 * 24 * 60, 24 * 60).map(lambda minutes: NOW + timedelta(minutes=minutes)),
)
money = st.one_of(
    st.sampled_from([Decimal(0), Decimal(20), Decimal(50)]),
    st.decimals(min_value=0, max_value=500, places=2),
)
items = st.lists(
    st.builds(
        LineItem,
        product_id=st.sampled_from(["101", "102", None]),
        product_type=st.sampled_from(["Coffee", "coffee", "tea", None]),
        vendor=st.sampled_from(["Northwind", "NORTHWIND", "Botanica", None]),
        tags=st.lists(st.sampled_from(["vip", "gift", "VIP"]), max_size=2).map(tuple),
        quantity=st.integers(0, 3),
        price=money,
    ),
    max_size=3,
).map(tuple)
labels = st.lists(st.sampled_from(["vip", "gift", "VIP", "Coffee", "Summer"]), max_size=2).map(
    tuple
)
products = st.builds(
    Product,
    id=st.just(""),  # set from the catalog's key below
    title=st.sampled_from([None, "A product"]),
    product_type=st.sampled_from([None, "", "Coffee", "tea"]),
    vendor=st.sampled_from([None, "", "Northwind", "BOTANICA"]),
    tags=st.one_of(st.none(), labels),
    collections=st.one_of(st.none(), labels),
    deleted=st.booleans(),
)
catalogs = st.dictionaries(st.sampled_from(["101", "102"]), products, max_size=2).map(
    lambda found: {
        # one with no title is known only by its deletion: it holds nothing but its id
        key: replace(product, id=key) if product.title else Product(id=key, deleted=True)
        for key, product in found.items()
    }
)
fact_sets = st.builds(
    FactSet,
    now=st.just(NOW),
    customer=st.builds(
        Customer,
        id=st.just("1"),
        email=st.sampled_from([None, "", "a@example.com"]),
        accepts_marketing=st.sampled_from([None, True, False]),
        tags=st.one_of(st.none(), st.lists(st.sampled_from(TAGS), max_size=3).map(tuple)),
        orders_count=st.one_of(st.none(), st.integers(0, 5)),
        total_spent=st.one_of(st.none(), money),
        last_order_at=moments,
        mean_days_between_orders=st.one_of(st.none(), st.floats(0, 90)),
        last_engaged_at=moments,
        created_at=moments,
    ),
    checkout=st.one_of(
        st.none(),
        st.builds(
            Checkout,
            token=st.just("t"),
            cart_token=st.sampled_from([None, "c"]),
            value=money,
            items=items,
            created_at=moments,
            updated_at=moments,
            completed_at=moments,
        ),
    ),
    order=st.one_of(
        st.none(),
        st.builds(
            Order,
            id=st.just("o1"),
            value=money,
            items=items,
            created_at=moments,
            fulfilled_at=moments,
            cancelled_at=moments,
            refunded=st.booleans(),
        ),
    ),
    orders=st.lists(
        st.builds(
            Order,
            id=st.sampled_from(["o1", "o2", "o3"]),
            value=money,
            items=items,
            created_at=moments,
            cancelled_at=st.one_of(st.none(), st.just(NOW)),
            checkout_token=st.sampled_from([None, "t"]),
            cart_token=st.sampled_from([None, "c"]),
        ),
        max_size=3,
    ).map(tuple),
    anchor_at=moments,
    last_marketing_email_at=moments,
    last_abandonment_email_at=moments,
    suppressed=st.booleans(),
    catalog=catalogs,
    ordered_items=items,
    extra=st.one_of(
        st.just({}), st.builds(lambda d: {"reorder_interval_days": d}, st.integers(1, 60))
    ),
)
action_lists = st.lists(
    st.one_of(
        st.builds(
            lambda t, s: {"name": "send_email", "params": {"template": t, **s}},
            st.sampled_from(["cart_reminder", "upsell", "winback"]),
            st.sampled_from([{}, {"subject": "Hello"}, {"template_id": "d-1"}]),
        ),
        st.builds(
            lambda p, e: {
                "name": "create_discount",
                "params": {"percent": p, "expires_in_days": e},
            },
            st.integers(1, 100),
            st.sampled_from([1, 3, 7.5]),
        ),
        st.builds(
            lambda a: {"name": "create_discount", "params": {"amount": a, "minimum": 20}},
            st.integers(1, 50),
        ),
        st.builds(
            lambda t: {"name": "tag_customer", "params": {"tag": t}}, st.sampled_from(TAGS[:3])
        ),
        st.sampled_from(
            [
                {"name": "notify_staff", "params": {"template": "staff_alert"}},
                {
                    "name": "notify_staff",
                    "params": {"template": "staff_alert", "to": "s@example.com"},
                },
            ]
        ),
    ),
    min_size=1,
    max_size=3,
)


def workflow_with(rule_conditions: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "random",
        "trigger": {"event": "customer_upserted", "subject": "customer"},
        "steps": [
            {"id": "only", "delay": {"hours": 0}, "conditions": rule_conditions, "actions": actions}
        ],
    }


def traced_decision(step: StepDef, fact_set: FactSet) -> tuple[bool, tuple[Any, ...], str, Any]:
    """A step decided the long way, as a reference: every check traced in the order written
    by the reference closures, the actions recorded, a skip's reason its last 3 failures."""
    trace: list[ConditionResult] = []
    fired = step.compiled.trace(FactVariables(fact_set), trace)
    if not fired:
        failed = [check for check in trace if not check.passed]
        return False, (), "; ".join(explain(check) for check in failed[-3:]), tuple(trace)
    actions = WorkflowActions()
    for action in step.actions:
        getattr(actions, action["name"])(**(action.get("params") or {}))
    return True, tuple(actions.requested), "conditions met", tuple(trace)


def test_evaluate_step_decides_and_acts_exactly_as_run_all_and_the_traced_form():
    outcomes: Counter[bool] = Counter()

    @settings(max_examples=400, deadline=None)
    @given(rule_conditions=conditions, actions=action_lists, fact_set=fact_sets)
    def decide_every_way(
        rule_conditions: dict[str, Any], actions: list[dict[str, Any]], fact_set: FactSet
    ) -> None:
        [step] = parse_workflow(workflow_with(rule_conditions, actions)).steps  # validates
        theirs = WorkflowActions()
        expected = run_all(
            [{"conditions": rule_conditions, "actions": actions}],
            FactVariables(fact_set),
            theirs,
            stop_on_first_trigger=True,
        )
        decision = evaluate_step(step, fact_set)
        assert decision.fired == expected
        assert decision.actions == tuple(theirs.requested)
        outcomes[expected] += 1
        # the worker's form says what the traced form says: the same reason, the same checks
        assert (decision.fired, decision.actions, decision.reason, decision.checks) == (
            traced_decision(step, fact_set)
        )

        # each explained check carries the variable's real value and business-rules' verdict
        fresh = FactVariables(fact_set)
        assert decision.checks, "at least one condition is always evaluated"
        for check in decision.checks:
            assert check.actual == getattr(fresh, check.name)()
            leaf_condition = {"name": check.name, "operator": check.operator, "value": check.value}
            assert check.passed == bool(check_condition(leaf_condition, fresh))

    decide_every_way()
    # a generator that only ever fired (or only skipped) would make the check vacuous
    assert min(outcomes[True], outcomes[False]) > sum(outcomes.values()) // 10, outcomes


class ClosureVariables(FactVariables):
    """FactVariables under another class: compiled conditions decide it by their reference
    closures, as they do any variables object that is not a FactVariables."""


@settings(max_examples=300, deadline=None)
@given(rule_conditions=conditions, fact_set=fact_sets)
def test_the_generated_forms_decide_and_note_failures_as_the_reference_traces_them(
    rule_conditions: dict[str, Any], fact_set: FactSet
):
    compiled = compile_conditions(rule_conditions)
    trace: list[ConditionResult] = []
    decided = compiled.trace(FactVariables(fact_set), trace)
    traced_failures = [
        ((check.name, check.operator, check.value), check.actual)
        for check in trace
        if not check.passed
    ]
    assert compiled.decide(FactVariables(fact_set)) == decided
    for variables in (FactVariables(fact_set), ClosureVariables(fact_set)):
        failed: list[Any] = []
        assert compiled.decide_noting_failures(variables, failed) == decided
        assert failed == traced_failures  # same checks, same order, same values


def generated_verdicts(rule_conditions: dict[str, Any], fact_set: FactSet) -> set[bool]:
    """What both generated forms answer, each on fresh variables: one answer if they agree."""
    compiled = compile_conditions(rule_conditions)
    return {
        compiled.decide(FactVariables(fact_set)),
        compiled.decide_noting_failures(FactVariables(fact_set), []),
    }


def near(actual: Any) -> st.SearchStrategy[Any]:
    """Comparison values made from the variable's own value: equal, or a hair off."""
    if isinstance(actual, list):
        if not actual:
            return values_for_input["select_multiple"]
        mine = st.tuples(st.sampled_from(actual), st.booleans()).map(
            lambda pick: pick[0].swapcase() if pick[1] else pick[0]
        )
        return st.lists(st.one_of(mine, st.sampled_from(TAGS)), max_size=4)
    return st.builds(lambda nudge: float(actual) + nudge, st.sampled_from(NUDGES))


@settings(max_examples=500, deadline=None)
@given(fact_set=fact_sets, data=st.data())
def test_each_condition_decides_as_business_rules(fact_set: FactSet, data: st.DataObject):
    # Single leaves whose values sit where casts, epsilon and case rules matter.
    name = data.draw(st.sampled_from(sorted(TYPES)))
    operators = operator_inputs()[TYPES[name]]
    operator = data.draw(st.sampled_from(sorted(operators)))
    actual = getattr(FactVariables(fact_set), name)()
    input_type = operators[operator]
    value = data.draw(
        near(actual)
        if input_type in ("numeric", "select_multiple")
        else values_for_input[input_type]
    )
    condition = {"name": name, "operator": operator, "value": value}
    expected = bool(check_condition(condition, FactVariables(fact_set)))
    assert generated_verdicts(condition, fact_set) == {expected}


@settings(max_examples=200, deadline=None)
@given(rule_conditions=conditions, fact_set=fact_sets)
def test_compiled_conditions_alone_match_business_rules(
    rule_conditions: dict[str, Any], fact_set: FactSet
):
    assert condition_errors(rule_conditions, "conditions") == []
    expected = run_all(
        [{"conditions": rule_conditions, "actions": []}],
        FactVariables(fact_set),
        WorkflowActions(),
        stop_on_first_trigger=True,
    )
    assert generated_verdicts(rule_conditions, fact_set) == {expected}


NUMERIC_OPERATORS = sorted(operator_inputs()["numeric"])
EDGE_NUDGES = [0, 1e-7, -1e-7, 1e-6, -1e-6, 2e-6, -2e-6, 1e-3, -1e-3, 2e-3, -2e-3, 1, -1]


def test_generated_numeric_comparisons_match_business_rules_at_every_edge():
    """Both generated forms' int, float and Decimal branches, exhaustively around each threshold.

    Cart value is a Decimal, orders since the subject an int, hours since activity a float;
    thresholds sit on the value and a hair either side, where epsilon and the float
    margin decide.
    """
    created = NOW - timedelta(hours=5, minutes=30)
    facts = FactSet(
        now=NOW,
        customer=Customer(id="1"),
        checkout=Checkout(token="t", value=Decimal("20.00"), created_at=created),
    )
    checked = 0
    for name in ("checkout_value", "orders_since_subject", "hours_since_checkout_activity"):
        actual = getattr(FactVariables(facts), name)()
        for operator in NUMERIC_OPERATORS:
            for nudge in EDGE_NUDGES:
                for value in {float(actual) + nudge, round(float(actual)) + int(nudge)}:
                    condition = {"name": name, "operator": operator, "value": value}
                    expected = bool(check_condition(condition, FactVariables(facts)))
                    assert generated_verdicts(condition, facts) == {expected}, condition
                    checked += 1
    assert checked > 300


INLINED = {
    name: inlined
    for name in sorted(TYPES)
    if (inlined := inlined_expression(variable_function(name))) is not None
}


def test_one_expression_variables_are_inlined_and_the_rest_read_through_the_cache():
    assert {"accepts_marketing", "order_cancelled", "checkout_value"} <= set(INLINED)
    assert "checkout_product_ids" not in INLINED  # calls a module's function, which loops
    assert "orders_since_subject" not in INLINED  # loops: called once, then cached
    assert "checkout_completed" not in INLINED  # an assignment before its return
    facts = FactSet(now=NOW, customer=Customer(id="1", accepts_marketing=True))
    variables = FactVariables(facts)
    both = {
        "all": [
            {"name": "accepts_marketing", "operator": "is_true", "value": True},
            {"name": "orders_since_subject", "operator": "equal_to", "value": 0},
        ]
    }
    assert compile_conditions(both).decide(variables) is True
    assert variables._cache == {"orders_since_subject": 0}


@settings(max_examples=300, deadline=None)
@given(fact_set=fact_sets)
def test_an_inlined_expression_gives_what_its_variable_returns(fact_set: FactSet):
    for name, expression in INLINED.items():
        variables = FactVariables(fact_set)
        inlined = eval(expression, {}, {"variables": variables, "facts": fact_set})  # noqa: S307
        assert inlined == getattr(FactVariables(fact_set), name)(), name


@settings(max_examples=300, deadline=None)
@given(fact_set=fact_sets)
def test_every_variable_is_total_so_a_group_may_ask_its_members_in_any_order(
    fact_set: FactSet,
):
    # What lets the fast form decide a group's cheap members first: no variable raises, and
    # business-rules' own type accepts each value (its cast is where a leaf could raise).
    for name in TYPES:
        variable = getattr(FactVariables(fact_set), name)
        variable.field_type(variable())


@settings(max_examples=300, deadline=None)
@given(fact_set=fact_sets)
def test_no_variable_reads_the_line_items_of_the_order_history(fact_set: FactSet):
    # The due-step stage loads a customer's history without line items (FactSet.orders):
    # a variable that read them would be told of none.
    bare = replace(fact_set, orders=tuple(replace(o, items=()) for o in fact_set.orders))
    for name in TYPES:
        assert getattr(FactVariables(bare), name)() == getattr(FactVariables(fact_set), name)(), (
            name
        )


@settings(max_examples=300, deadline=None)
@given(fact_set=fact_sets)
def test_only_the_catalog_variables_read_the_catalog_and_the_ordered_items(fact_set: FactSet):
    # The due-step stage loads the catalog and the customer's ordered items only for
    # workflows that name these variables: any other must not see them.
    without_history = replace(fact_set, ordered_items=())
    without_catalog = replace(without_history, catalog={})
    for name in TYPES:
        value = getattr(FactVariables(fact_set), name)()
        if name not in HISTORY_PRODUCT_VARIABLES:
            assert getattr(FactVariables(without_history), name)() == value, name
        if name not in CATALOG_VARIABLES:
            assert getattr(FactVariables(without_catalog), name)() == value, name


def test_a_group_decides_its_cheap_members_first():
    assert cost({"name": "accepts_marketing"}) == INLINE
    assert cost({"name": "days_since_last_engagement"}) == CACHED  # one subtraction
    assert cost({"name": "orders_since_subject"}) == LOOPS
    assert cost({"name": "days_since_last_order"}) == LOOPS  # through a helper that loops
    loop_first = {
        "all": [
            {"name": "orders_since_subject", "operator": "equal_to", "value": 0},
            {"name": "days_since_last_engagement", "operator": "greater_than", "value": 14},
            {"name": "accepts_marketing", "operator": "is_true", "value": True},
        ]
    }
    order = Order(id="o1", created_at=NOW - timedelta(days=1))
    no_consent = FactSet(
        now=NOW, customer=Customer(id="1", accepts_marketing=False), orders=(order,)
    )
    variables = FactVariables(no_consent)
    compiled = compile_conditions(loop_first)
    assert compiled.decide(variables) is False
    assert variables._cache == {}, "consent failed first: nothing else was computed"
    consent = FactSet(now=NOW, customer=Customer(id="1", accepts_marketing=True), orders=(order,))
    variables = FactVariables(consent)
    assert compiled.decide(variables) is True
    assert list(variables._cache) == ["days_since_last_engagement", "orders_since_subject"]
    # the worker's form and the explanation keep the order the merchant wrote
    variables = FactVariables(no_consent)
    failed: list[Any] = []
    assert compiled.decide_noting_failures(variables, failed) is False
    assert list(variables._cache) == ["orders_since_subject", "days_since_last_engagement"]
    assert [check for (check, _value) in failed] == [("accepts_marketing", "is_true", True)]
    trace: list[Any] = []
    compiled.trace(FactVariables(no_consent), trace)
    assert [check.name for check in trace] == [
        "orders_since_subject",
        "days_since_last_engagement",
        "accepts_marketing",
    ]


select_values = st.lists(
    st.one_of(st.sampled_from(TAGS + ["ß", "SS", "İ", "i̇"]), st.none(), st.integers(0, 2)),
    max_size=4,
)


@settings(max_examples=500, deadline=None)
@given(
    operator=st.sampled_from(sorted(operator_inputs()["select_multiple"])),
    wanted=st.one_of(select_values, st.lists(st.sampled_from(TAGS), max_size=3)),
    actual=st.one_of(select_values, st.lists(st.sampled_from(TAGS), max_size=4)),
)
def test_select_multiple_verdicts_by_sets_match_business_rules(operator, wanted, actual):
    # lists of strings are decided by lowercase sets; anything else the exact way
    expected = bool(getattr(SelectMultipleType(actual), operator)(wanted))
    assert verdict("select_multiple", operator, wanted)(actual) == expected
