"""Product recommendations from the shop's own orders: pure, no I/O, `now` passed in.

``build`` counts which products the same customers bought (item-to-item co-purchase) and
how much each product sold lately; the ``Model`` answers "customers who bought these also
bought", best sellers and new arrivals, never recommending what the caller excludes (what
the customer bought, what is in the cart) nor a product the catalog does not offer now.
Imports nothing outside the standard library.

How the app uses it::

    model = build(orders, now)  # from the stored orders (at install, or to start afresh)
    model.add_order(order, bought_before)  # as each order is stored, once
    model.rescore()  # now and then: every list of partners from the exact counts
    text = model.to_json()  # stored per shop; Model.from_json(text) in any process
    model.also_bought(order_products, catalog, exclude=bought | in_cart, k=4)
    model.best_sellers(catalog, exclude=bought, k=4)
    model.new_arrivals(catalog, now, exclude=bought, k=4)

``catalog`` maps each product id to its ``ProductState`` now, so a product going draft,
archived, out of stock or deleted (absent) stops being recommended at once, no rebuild.
"""

from rules.recommend.model import Model, Settings, build
from rules.recommend.records import OrderLines, ProductState, Recommendation

__all__ = ["Model", "OrderLines", "ProductState", "Recommendation", "Settings", "build"]
