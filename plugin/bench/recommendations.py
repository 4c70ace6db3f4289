"""Recommendations: how good (on the demo store's orders), how fast to build, how fast to serve.

Quality: a demo store history is cut in two. The model is built from the orders placed
before the cut, and nothing placed after it; every customer who bought before the cut
and whose first order after it holds a product new to them is a case. Four
recommendations are made from their earlier purchases (never one of those), and scored
against that order's new products: hit rate@4 (any of the four bought) and NDCG@4 (the
higher the bought ones rank, the better). The same cases are scored for the model's own
fallback, recency-weighted best sellers, and for four products drawn at random (seeded).

Build: a synthetic shop with structure (products in families, customers loyal to one or
two, a long tail of best sellers), timed against a pass that only counts each product's
sales. Serving: ``also_bought`` for many customers' histories, one call at a time, against
``best_sellers`` for the same queries.
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from plugin.demo.catalog import PRODUCTS
from plugin.demo.census import purchases
from plugin.demo.history import generate_history
from rules.recommend import Model, OrderLines, ProductState, Recommendation, build

K = 4
QUALITY_START = datetime(2026, 3, 1, tzinfo=UTC)  # spring into summer: the season matters
TEST_DAYS = 30  # the cut lies this many days before the history's end


@dataclass
class Training:
    """What the model may learn from: the orders placed before ``cut``, and nothing later."""

    cut: datetime
    model: Model
    bought: dict[str, list[str]]  # each customer's products before the cut, oldest first

    @classmethod
    def of(cls, orders: Iterable[OrderLines], cut: datetime) -> Training:
        past = [o for o in orders if o.placed_at < cut]
        bought: dict[str, dict[str, None]] = {}
        for order in past:
            if order.customer_id is not None:
                bought.setdefault(order.customer_id, {}).update(dict.fromkeys(order.product_ids))
        return cls(cut, build(past, cut), {c: list(p) for c, p in bought.items()})


@dataclass
class Scores:
    """Hit rate@K and NDCG@K of one recommender over the cases."""

    hits: int = 0
    gain: float = 0.0
    cases: int = 0

    def add(self, recommended: list[str], wanted: set[str]) -> None:
        ranks = [rank for rank, product in enumerate(recommended[:K]) if product in wanted]
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(wanted), K)))
        self.hits += bool(ranks)
        self.gain += sum(1 / math.log2(rank + 2) for rank in ranks) / ideal
        self.cases += 1

    def as_json(self) -> dict[str, float]:
        if not self.cases:
            raise ValueError("no customer to judge the recommendations on: a larger history")
        return {"hit_rate": self.hits / self.cases, "ndcg": self.gain / self.cases}


@dataclass
class Quality:
    """The three recommenders' scores on the same cases, and how the cases were found."""

    model: Scores = field(default_factory=Scores)
    best_sellers: Scores = field(default_factory=Scores)
    random: Scores = field(default_factory=Scores)
    customers_after_cut: int = 0
    without_history: int = 0  # first bought after the cut: the model has nothing to go on
    only_repeats: int = 0  # their next order held nothing new to them


def next_orders(orders: Iterable[OrderLines], cut: datetime) -> dict[str, OrderLines]:
    """Each customer's first order placed at or after ``cut``."""
    found: dict[str, OrderLines] = {}
    for order in sorted(orders, key=lambda o: o.placed_at):
        if order.placed_at >= cut and order.customer_id is not None:
            found.setdefault(order.customer_id, order)
    return found


def score(training: Training, later: dict[str, OrderLines], seed: int = 11) -> Quality:
    """Recommend for each customer from what they bought before the cut; score each
    recommender on the new products of their next order."""
    catalog = {str(p.id): ProductState() for p in PRODUCTS}
    offered = sorted(catalog)
    rng = random.Random(seed)
    quality = Quality(customers_after_cut=len(later))
    model = training.model
    for customer, order in sorted(later.items()):
        before = training.bought.get(customer)
        if not before:
            quality.without_history += 1
            continue
        wanted = set(order.product_ids) - set(before)
        if not wanted:
            quality.only_repeats += 1
            continue
        exclude = set(before)
        quality.model.add(_ids(model.also_bought(before, catalog, exclude, K)), wanted)
        quality.best_sellers.add(_ids(model.best_sellers(catalog, exclude, K)), wanted)
        others = [p for p in offered if p not in exclude]
        quality.random.add(rng.sample(others, min(K, len(others))), wanted)
    return quality


def quality(customers: int, days: int, seed: int = 7) -> dict[str, Any]:
    """Generate the demo store's history, cut it, and score the recommenders."""
    started = time.perf_counter()
    orders = purchases(generate_history(seed, customers, days, start=QUALITY_START))
    generated = time.perf_counter() - started
    cut = QUALITY_START + timedelta(days=days - TEST_DAYS)
    training = Training.of(orders, cut)
    result = score(training, next_orders(orders, cut))
    model, best, rand = (s.as_json() for s in (result.model, result.best_sellers, result.random))
    return {
        "customers": customers,
        "days": days,
        "cut": cut.isoformat(),
        "orders_before_cut": sum(1 for o in orders if o.placed_at < cut),
        "orders_after_cut": sum(1 for o in orders if o.placed_at >= cut),
        "customers_after_cut": result.customers_after_cut,
        "cases": result.model.cases,
        "without_history": result.without_history,
        "only_repeats": result.only_repeats,
        "model": model,
        "best_sellers": best,
        "random": rand,
        "hit_rate_vs_best_sellers": _ratio(model["hit_rate"], best["hit_rate"]),
        "ndcg_vs_best_sellers": _ratio(model["ndcg"], best["ndcg"]),
        "hit_rate_vs_random": _ratio(model["hit_rate"], rand["hit_rate"]),
        "ndcg_vs_random": _ratio(model["ndcg"], rand["ndcg"]),
        "settings": vars(training.model.settings),
        "generate_seconds": generated,
    }


def _ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else math.inf


def _ids(recommendations: list[Recommendation]) -> list[str]:
    return [r.product_id for r in recommendations]


# -- build and serve at scale -------------------------------------------------------------

FAMILY = 20  # products per family: a brand's range, a hobby's kit
NOW = datetime(2026, 9, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Shop:
    """A synthetic shop: its products and its customers' orders."""

    products: list[str]
    orders: list[OrderLines]
    families: list[list[str]]


def synthetic_shop(orders: int, products: int, seed: int = 3) -> Shop:
    """``orders`` orders over a year: each customer shops in one or two families of
    products, with some best sellers from anywhere; about three orders per customer."""
    rng = random.Random(seed)
    ids = [f"p{n}" for n in range(products)]
    families = [ids[i : i + FAMILY] for i in range(0, products, FAMILY)]
    family_weights = [1 / (n + 1) ** 0.8 for n in range(len(families))]
    in_family = [1 / (n + 1) for n in range(FAMILY)]
    top = ids[: max(1, products // 20)]  # the shop-wide best sellers, drawn by anyone
    hours = [NOW - timedelta(hours=h) for h in range(1, 365 * 24)]
    placed: list[OrderLines] = []
    customer = 0
    while len(placed) < orders:
        customer += 1
        own = rng.choices(families, weights=family_weights, k=rng.choice((1, 1, 2)))
        for _ in range(min(rng.choice((1, 1, 2, 3, 4, 6, 8)), orders - len(placed))):
            lines: set[str] = set()
            for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
                if rng.random() < 0.2:
                    lines.add(rng.choice(top))
                else:
                    family = rng.choice(own)
                    lines.add(rng.choices(family, weights=in_family[: len(family)])[0])
            placed.append(OrderLines(f"c{customer}", rng.choice(hours), tuple(lines)))
    return Shop(ids, placed, families)


def counting_baseline(orders: Iterable[OrderLines]) -> dict[str, int]:
    """The least any recommender must do: read every order and count each product's sales."""
    sales: dict[str, int] = {}
    for order in orders:
        for product in order.product_ids:
            sales[product] = sales.get(product, 0) + 1
    return sales


def build_at_scale(shop: Shop) -> tuple[str, dict[str, Any]]:
    """Time the model's build, a rescore and its snapshot both ways; the snapshot."""
    started = time.perf_counter()
    counting_baseline(shop.orders)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    model = build(shop.orders, NOW)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    model.rescore()
    rescore = time.perf_counter() - started
    started = time.perf_counter()
    snapshot = model.to_json()
    dumped = time.perf_counter() - started
    return snapshot, {
        "orders": len(shop.orders),
        "products": len(shop.products),
        "customers": len({o.customer_id for o in shop.orders}),
        "pairs": sum(1 for _ in model.pairs()),
        "seconds": seconds,
        "baseline_seconds": baseline,
        "ratio": seconds / baseline,
        "rescore_seconds": rescore,
        "snapshot_mb": len(snapshot) / 1e6,
        "to_json_seconds": dumped,
    }


def queries(shop: Shop, count: int, seed: int = 5) -> Iterator[tuple[list[str], set[str]]]:
    """Customers' histories (1 to 12 products, mostly of one family) and their carts."""
    rng = random.Random(seed)
    for _ in range(count):
        family = rng.choice(shop.families)
        history = rng.sample(family, rng.randint(1, min(12, len(family))))
        cart = {rng.choice(shop.products) for _ in range(rng.randint(0, 3))}
        yield history, cart | set(history)


class Timings:
    """Calls timed one by one: by the wall clock, and by this thread's CPU time (which
    leaves out the time other processes on a shared machine took the core away)."""

    def __init__(self) -> None:
        self.wall: list[int] = []
        self.cpu: list[int] = []

    def time(self, call: Callable[[], object]) -> None:
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        call()
        self.cpu.append(time.thread_time_ns() - cpu)
        self.wall.append(time.perf_counter_ns() - wall)

    def as_json(self) -> dict[str, float]:
        return {
            "p50_ms": _percentile(self.wall, 50),
            "p99_ms": _percentile(self.wall, 99),
            "max_ms": max(self.wall) / 1e6,
            "cpu_p50_ms": _percentile(self.cpu, 50),
            "cpu_p99_ms": _percentile(self.cpu, 99),
        }


def serve(model: Model, shop: Shop, count: int) -> dict[str, Any]:
    """Time ``also_bought`` and ``best_sellers`` call by call on the same queries; 2 % of
    the products are off sale (draft or sold out), so the filtering is paid for."""
    rng = random.Random(9)
    catalog = {
        p: ProductState(
            available=rng.random() > 0.01, status="draft" if rng.random() < 0.01 else "active"
        )
        for p in shop.products
    }
    served, fallback = Timings(), Timings()
    for history, exclude in queries(shop, count):
        served.time(lambda: model.also_bought(history, catalog, exclude, K))  # noqa: B023
        fallback.time(lambda: model.best_sellers(catalog, exclude, K))  # noqa: B023
    also, best = served.as_json(), fallback.as_json()
    return {
        "queries": count,
        "also_bought": also,
        "best_sellers": best,
        "cpu_p99_ratio": also["cpu_p99_ms"] / best["cpu_p99_ms"],
    }


def add_orders(model: Model, shop: Shop, count: int) -> dict[str, Any]:
    """Time ``add_order`` for ``count`` new orders, each from a customer with a history."""
    rng = random.Random(13)
    timings = Timings()
    for n, (history, _cart) in enumerate(queries(shop, count, seed=17)):
        order = OrderLines(
            f"new{n}", NOW + timedelta(seconds=n), tuple(rng.sample(shop.products, 2))
        )
        timings.time(lambda: model.add_order(order, history))  # noqa: B023
    return {"orders": count, **timings.as_json()}


def _percentile(nanoseconds: list[int], q: float) -> float:
    """The ``q``-th percentile of the times, in milliseconds."""
    ordered = sorted(nanoseconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] / 1e6


def run(customers: int, days: int, orders: int, products: int, count: int) -> dict[str, Any]:
    """The part: quality on the demo store; build at scale; then, as a worker process
    would, load the snapshot (and no orders) to serve and to add orders."""
    result: dict[str, Any] = {"quality": quality(customers, days)}
    shop = synthetic_shop(orders, products)
    snapshot, result["build"] = build_at_scale(shop)
    shop = Shop(shop.products, [], shop.families)  # a worker holds the model, not the orders
    gc.collect()
    started = time.perf_counter()
    model = Model.from_json(snapshot)
    result["build"]["from_json_seconds"] = time.perf_counter() - started
    result["serving"] = serve(model, shop, count)
    result["add_order"] = add_orders(model, shop, min(count, 10_000))
    return result
