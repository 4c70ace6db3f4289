"""Item-to-item co-purchase counts, recency-weighted sales, and the answers served from them.

Counting: a pair of products counts once per customer who bought both, in one order or in
two ("customers who bought X also bought Y"). A loyal customer re-ordering the same two
coffees ten times is one customer's habit, not ten pieces of evidence; and the tamper
bought a month after the espresso is the very pairing an upsell wants. So ``min_support``
is a number of distinct customers. A guest order is a customer of its own.

Scoring is ``similarity``; each product keeps its ``neighbours`` best-scored partners, so
serving merges a few short lists.

Sales decay with a half-life. They are kept relative to a fixed anchor moment (an order
at t adds 2 ** ((t - anchor) / half-life)), so time passing scales every product alike:
the best-seller ranking never needs recomputing for decay, and an order only moves its
own products up.

Freshness: ``add_order`` keeps every count exact (equal to a rebuild from the same
orders) and re-scores the pairs the order touched. Pairs it did not touch keep the score
they last had, although their products' buyer counts moved; ``rescore`` recomputes every
neighbour list from the counts alone (no orders needed), after which the model answers
exactly as a rebuild would. The worker runs it now and then (hourly is plenty).
"""

from __future__ import annotations

import heapq
import json
import math
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from rules.recommend.records import OrderLines, ProductState, Recommendation

SNAPSHOT_VERSION = 1
_SHIFT = 32  # a pair's key: the lower product index in the high bits, the higher below
_LOW = (1 << _SHIFT) - 1
_REANCHOR = 512.0  # half-lives: re-anchor sales long before 2.0 ** x overflows (x > 1023)
_DAY = 86_400.0


@dataclass(frozen=True)
class Settings:
    """How the model counts and scores; kept in its snapshot."""

    half_life_days: float = 30.0  # an order this old weighs half as much in best sellers
    min_support: int = 3  # customers who bought both, before a pair is recommended
    shrinkage: float = 5.0  # see ``similarity``
    neighbours: int = 40  # partners kept per product

    def __post_init__(self) -> None:
        if self.half_life_days <= 0 or self.shrinkage < 0:
            raise ValueError("half_life_days must be positive and shrinkage not negative")
        if self.min_support < 1 or self.neighbours < 1:
            raise ValueError("min_support and neighbours must be at least 1")


def similarity(both: int, first: int, second: int, shrinkage: float) -> float:
    """Score a pair: ``both`` customers bought the two, ``first`` and ``second`` each one.

    The cosine of the two products' sets of buyers, both / sqrt(first * second): unlike
    the share of one product's buyers who bought the other, it does not favour best
    sellers, and unlike lift it does not favour rarities. Times both / (both + shrinkage),
    so a pair three customers share cannot outrank one three hundred share on luck.
    """
    return both / math.sqrt(first * second) * both / (both + shrinkage)


def build(
    orders: Iterable[OrderLines],
    now: datetime,
    *,
    half_life_days: float = 30.0,
    min_support: int = 3,
    shrinkage: float = 5.0,
    neighbours: int = 40,
) -> Model:
    """Count and score the orders placed before ``now`` (later ones are not history yet)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    model = Model(Settings(half_life_days, min_support, shrinkage, neighbours), now)
    bought: dict[object, set[int]] = {}
    for order in orders:
        if order.placed_at >= now:
            continue
        customer: object = order.customer_id if order.customer_id is not None else object()
        bought.setdefault(customer, set()).update(model._record_sale(order, rank=False))
    pairs: Counter[int] = Counter()
    buyers = model._buyers
    for products in bought.values():
        for product in products:
            buyers[product] += 1
        if len(products) > 1:
            pairs.update((a << _SHIFT) | b for a, b in combinations(sorted(products), 2))
    model._pairs = pairs
    model._ranking.sort(key=model._rank_key)
    model.rescore()
    return model


class Model:
    """Co-purchase counts and sales of one shop's products, with the answers they give."""

    def __init__(self, settings: Settings, anchor: datetime):
        self.settings = settings
        self._anchor = anchor  # sales are relative to this moment
        self._as_of = anchor  # the latest moment the model knows of: build's now, or an order
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self._buyers: list[int] = []  # distinct customers who bought each product
        self._sales: list[float] = []  # orders with each product, weighted by recency
        self._pairs: Counter[int] = Counter()  # customers who bought both, by pair key
        self._neighbours: list[list[tuple[float, int]]] = []  # best partners first
        self._ranking: list[int] = []  # products, best sellers first (see ``_rank_key``)

    # -- what the model knows ------------------------------------------------------------

    @property
    def as_of(self) -> datetime:
        """The latest moment the model has seen: when it was built, or its newest order."""
        return self._as_of

    def buyers(self, product_id: str) -> int:
        """How many distinct customers bought ``product_id``."""
        index = self._index.get(product_id)
        return 0 if index is None else self._buyers[index]

    def bought_together(self, first: str, second: str) -> int:
        """How many distinct customers bought both products."""
        a, b = self._index.get(first), self._index.get(second)
        return 0 if a is None or b is None or a == b else self._pairs[_key(a, b)]

    def pairs(self) -> Iterator[tuple[str, str, int]]:
        """Every pair some customer bought both of, with how many did (lower id first)."""
        for key, both in self._pairs.items():
            first, second = sorted((self._ids[key >> _SHIFT], self._ids[key & _LOW]))
            yield first, second, both

    # -- answers ---------------------------------------------------------------------------

    def also_bought(
        self,
        product_ids: Iterable[str],
        products: Mapping[str, ProductState],
        exclude: Iterable[str] = (),
        k: int = 4,
    ) -> list[Recommendation]:
        """Up to ``k`` products bought by customers who bought ``product_ids``; best sellers
        fill the rest. Never one of ``product_ids`` or ``exclude`` (what the customer bought,
        what is in their cart), nor one ``products`` (the catalog now) does not offer."""
        seeds = list(dict.fromkeys(product_ids))
        skip = set(exclude)
        skip.update(seeds)
        totals: dict[int, float] = {}
        strongest: dict[int, tuple[float, int]] = {}
        for seed in (self._index.get(p) for p in seeds):
            if seed is None:
                continue
            for score, other in self._neighbours[seed]:
                totals[other] = totals.get(other, 0.0) + score
                if other not in strongest or score > strongest[other][0]:
                    strongest[other] = (score, seed)
        sales = self._sales
        found: list[Recommendation] = []
        for other in sorted(totals, key=lambda o: (-totals[o], -sales[o], o)):
            product_id = self._ids[other]
            if product_id in skip or not _offered(products, product_id):
                continue
            because = self._ids[strongest[other][1]]
            found.append(Recommendation(product_id, totals[other], "also_bought", because))
            if len(found) == k:
                return found
        skip.update(r.product_id for r in found)
        return found + self.best_sellers(products, skip, k - len(found))

    def best_sellers(
        self, products: Mapping[str, ProductState], exclude: Iterable[str] = (), k: int = 4
    ) -> list[Recommendation]:
        """Up to ``k`` offered products that sold most lately, none of ``exclude``; the score
        is their orders as of ``as_of``, each weighted by its age in half-lives."""
        skip = exclude if isinstance(exclude, set | frozenset) else set(exclude)
        decay = self._weight(self._anchor, self._as_of)
        found: list[Recommendation] = []
        for index in self._ranking:
            if len(found) >= k:
                break
            product_id = self._ids[index]
            if product_id not in skip and _offered(products, product_id):
                found.append(Recommendation(product_id, self._sales[index] * decay, "best_seller"))
        return found

    def new_arrivals(
        self,
        products: Mapping[str, ProductState],
        now: datetime,
        exclude: Iterable[str] = (),
        k: int = 4,
        within_days: float = 30.0,
    ) -> list[Recommendation]:
        """Up to ``k`` offered products created in the ``within_days`` before ``now``, newest
        first; the score halves with every half-life of age."""
        skip = set(exclude)
        since = now - timedelta(days=within_days)
        fresh = sorted(
            (
                (state.created_at, product_id)
                for product_id, state in products.items()
                if state.recommendable
                and state.created_at is not None
                and since <= state.created_at <= now
                and product_id not in skip
            ),
            reverse=True,
        )
        return [
            Recommendation(product_id, self._weight(created_at, now), "new_arrival")
            for created_at, product_id in fresh[:k]
        ]

    # -- keeping it fresh ------------------------------------------------------------------

    def add_order(self, order: OrderLines, bought_before: Iterable[str] = ()) -> None:
        """Count one more order, once (not again when its webhook is redelivered);
        ``bought_before``: the products of the customer's earlier orders (ignored for a
        guest order), as pairs count once per customer."""
        products = self._record_sale(order, rank=True)
        self._as_of = max(self._as_of, order.placed_at)
        before: set[int] = set()
        if order.customer_id is not None:
            before = {self._index[p] for p in bought_before if p in self._index}
        new = [p for p in products if p not in before]
        touched: list[int] = []
        for i, product in enumerate(new):
            self._buyers[product] += 1
            for other in (*before, *new[i + 1 :]):
                key = _key(product, other)
                self._pairs[key] += 1
                touched.append(key)
        for key in touched:
            self._rescore_pair(key)

    def rescore(self) -> None:
        """Recompute every product's best partners from the counts."""
        settings, buyers = self.settings, self._buyers
        limit, support, shrinkage = settings.neighbours, settings.min_support, settings.shrinkage
        rows: list[list[tuple[float, int]]] = [[] for _ in self._ids]
        for key, both in self._pairs.items():
            if both < support:
                continue
            a, b = key >> _SHIFT, key & _LOW
            score = similarity(both, buyers[a], buyers[b], shrinkage)
            for row, other in ((rows[a], b), (rows[b], a)):  # keep the best ``limit``
                if len(row) < limit:
                    heapq.heappush(row, (score, other))
                elif (score, other) > row[0]:
                    heapq.heapreplace(row, (score, other))
        self._neighbours = [sorted(row, reverse=True) for row in rows]

    # -- snapshot --------------------------------------------------------------------------

    def to_json(self) -> str:
        """The whole model as JSON text, for storing per shop and loading in any process.

        It holds product ids and counts, and nothing about any customer.
        """
        pairs: list[int] = []
        for key in sorted(self._pairs):
            pairs += (key >> _SHIFT, key & _LOW, self._pairs[key])
        return json.dumps(
            {
                "version": SNAPSHOT_VERSION,
                "settings": asdict(self.settings),
                "anchor": self._anchor.isoformat(),
                "as_of": self._as_of.isoformat(),
                "products": self._ids,
                "buyers": self._buyers,
                "sales": self._sales,
                "pairs": pairs,  # flat: lower index, higher index, customers
                "neighbours": [[x for s, o in row for x in (o, s)] for row in self._neighbours],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Model:
        """The model ``to_json`` wrote."""
        data: dict[str, Any] = json.loads(text)
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown recommendation snapshot version {data.get('version')!r}")
        model = cls(Settings(**data["settings"]), datetime.fromisoformat(data["anchor"]))
        model._as_of = datetime.fromisoformat(data["as_of"])
        model._ids = list(data["products"])
        model._index = {product_id: i for i, product_id in enumerate(model._ids)}
        model._buyers = list(data["buyers"])
        model._sales = [float(s) for s in data["sales"]]
        flat = data["pairs"]
        model._pairs = Counter(
            {(flat[i] << _SHIFT) | flat[i + 1]: flat[i + 2] for i in range(0, len(flat), 3)}
        )
        model._neighbours = [
            [(float(row[i + 1]), row[i]) for i in range(0, len(row), 2)]
            for row in data["neighbours"]
        ]
        model._ranking = sorted(range(len(model._ids)), key=model._rank_key)
        return model

    # -- inside ----------------------------------------------------------------------------

    def _weight(self, at: datetime, now: datetime) -> float:
        """2 ** (half-lives from ``now`` to ``at``): 1 at ``now``, 0.5 one half-life before."""
        return 2.0 ** ((at - now).total_seconds() / _DAY / self.settings.half_life_days)

    def _record_sale(self, order: OrderLines, rank: bool) -> list[int]:
        """Add the order to its products' sales; their indices, each once."""
        if (order.placed_at - self._anchor).total_seconds() / _DAY > (
            _REANCHOR * self.settings.half_life_days
        ):
            self._reanchor(order.placed_at)
        weight = self._weight(order.placed_at, self._anchor)
        indices: list[int] = []
        for product_id in dict.fromkeys(order.product_ids):
            index = self._index.get(product_id)
            if index is None:
                index = self._add_product(product_id)
            if rank:  # take it out, and put it back where its new sales rank it
                del self._ranking[
                    bisect_left(self._ranking, self._rank_key(index), key=self._rank_key)
                ]
            self._sales[index] += weight
            if rank:
                insort(self._ranking, index, key=self._rank_key)
            indices.append(index)
        return indices

    def _add_product(self, product_id: str) -> int:
        index = len(self._ids)
        self._ids.append(product_id)
        self._index[product_id] = index
        self._buyers.append(0)
        self._sales.append(0.0)
        self._neighbours.append([])
        self._ranking.append(index)  # no sales yet, and the highest index: last
        return index

    def _reanchor(self, at: datetime) -> None:
        """Make ``at`` the anchor, scaling the sales to match (their order is unchanged)."""
        scale = self._weight(self._anchor, at)
        self._sales = [s * scale for s in self._sales]
        self._anchor = at
        self._ranking.sort(key=self._rank_key)  # the oldest may have become equal (0.0)

    def _rank_key(self, index: int) -> tuple[float, int]:
        """Best sellers first; among equal sales, the product the model met first."""
        return -self._sales[index], index

    def _rescore_pair(self, key: int) -> None:
        """Put the pair's current score in both products' lists of partners."""
        both = self._pairs[key]
        if both < self.settings.min_support:
            return
        a, b = key >> _SHIFT, key & _LOW
        score = similarity(both, self._buyers[a], self._buyers[b], self.settings.shrinkage)
        for product, other in ((a, b), (b, a)):
            row = [entry for entry in self._neighbours[product] if entry[1] != other]
            row.append((score, other))
            row.sort(reverse=True)
            self._neighbours[product] = row[: self.settings.neighbours]


def _key(a: int, b: int) -> int:
    return (a << _SHIFT) | b if a < b else (b << _SHIFT) | a


def _offered(products: Mapping[str, ProductState], product_id: str) -> bool:
    """Whether the catalog lists the product as recommendable (unlisted means deleted)."""
    state = products.get(product_id)
    return state is not None and state.recommendable
