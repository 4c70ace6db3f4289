"""Product recommendations from the shop's own orders: pure, no I/O, `now` passed in.

``build`` counts which products the same customers bought (item-to-item co-purchase) and
how much each product sold lately; the ``Model`` answers "customers who bought these also
bought", best sellers and new arrivals, never recommending what the caller excludes (what
the customer bought, what is in the cart) nor a product the catalog does not offer now.
Imports nothing outside the standard library.
"""

from rules.recommend.model import Model, Settings, build
from rules.recommend.records import OrderLines, ProductState, Recommendation

__all__ = ["Model", "OrderLines", "ProductState", "Recommendation", "Settings", "build"]
