"""Every knob of the demo store's behaviour, in one place."""

from __future__ import annotations

from dataclasses import dataclass

Range = tuple[float, float]

# Share of a day's shopping that happens in each local hour (0-23): quiet nights, a
# morning coffee bump, lunch, and the evening peak when most online shopping happens.
HOURLY_WEIGHTS = (
    0.6, 0.3, 0.2, 0.1, 0.1, 0.2, 0.6, 1.5, 2.6, 3.0, 3.2, 3.4,
    4.0, 4.2, 3.6, 3.3, 3.2, 3.6, 4.4, 5.4, 6.0, 5.6, 4.0, 1.8,
)  # fmt: skip


@dataclass(frozen=True)
class Realism:
    """How the demo store's shoppers behave; rates are probabilities, ranges are inclusive."""

    # Who the shoppers are (weights of each kind).
    segments: tuple[tuple[str, float], ...] = (
        ("loyal", 0.20),  # repeat buyers on their own re-order rhythm
        ("occasional", 0.24),  # buy now and then; about half bought before the window
        ("lapsed", 0.18),  # last order months ago: the re-engagement population
        ("browser", 0.26),  # fill checkouts, rarely buy
        ("subscriber", 0.12),  # newsletter sign-ups, mostly without orders
    )
    consent_rate: float = 0.55  # non-subscriber kinds subscribed to marketing at sign-up
    checkout_opt_in_rate: float = 0.15  # unsubscribed shoppers who tick the box at checkout
    unsubscribe_rate: float = 0.06  # subscribed shoppers who unsubscribe during the window
    new_customer_rate: float = 0.35  # browsers, occasional buyers and subscribers new in the window

    # What shoppers buy: the staples and kit of their taste (catalog.TASTES), strays,
    # what goes with what (catalog.GOES_WITH), the season, presents (catalog.GIFTS).
    second_taste_rate: float = 0.25  # shoppers with a second interest (coffee and skincare)
    stray_rate: float = 0.25  # a basket's pick from anywhere in the shop, not for their taste
    featured_rate: float = 0.5  # strays from the storefront's featured collection
    goes_with_rate: float = 0.7  # a product brings its partner along (the dripper, filters)
    kit_add_on_rate: float = 0.3  # a repeat order adds a piece of kit they lack
    try_staple_rate: float = 0.15  # a repeat order tries another staple of their taste
    gift_rate: float = 0.25  # a basket in gift season with a present added

    # Rhythm of repeat buyers: each staple on its own cycle (catalog's cycle_days) times
    # the shopper's pace; staples due within a few days join the order being placed.
    pace: Range = (0.8, 1.3)
    cycle_jitter: Range = (0.85, 1.2)
    consolidate_days: float = 10
    loyal_history_days: Range = (40, 120)  # how long before the window they began buying

    # Sessions in the window and how often a checkout is completed on the spot.
    buy_now_rate: tuple[tuple[str, float], ...] = (
        ("loyal", 0.72),
        ("occasional", 0.40),
        ("lapsed", 0.45),
        ("browser", 0.08),
        ("subscriber", 0.30),
    )
    occasional_sessions: tuple[int, int] = (1, 2)
    occasional_past_order_rate: float = 0.5
    occasional_past_order_days: Range = (20, 120)
    browser_sessions: tuple[int, int] = (1, 3)
    subscriber_session_rate: float = 0.3
    lapsed_last_order_days: Range = (95, 300)
    lapsed_past_orders: tuple[int, int] = (1, 3)
    lapsed_return_rate: float = 0.08

    # Checkouts, carts and recoveries.
    checkout_email_rate: float = 0.85  # the rest leave before typing an email
    recovery_rate: float = 0.2  # abandoned checkouts completed later, by themselves
    recovery_hours: Range = (1, 30)
    # With reminders on (the demo): of the abandoned checkouts not recovered by themselves,
    # those whose shopper gets the reminder email (consent, cart of 20 or more, not held
    # out) are completed this often, this many hours after it is due (the demo's worker
    # decides due steps once an hour).
    reminder_recovery_rate: float = 0.25
    reminder_recovery_hours: Range = (1.5, 24)
    anonymous_carts_per_customer: float = 0.15  # browsing carts that never reach checkout
    cart_update_rate: float = 0.5

    # What happens to orders.
    pay_later_rate: float = 0.15  # created pending, paid a little later
    fulfil_days: Range = (1, 4)
    cancel_rate: float = 0.02
    refund_rate: float = 0.03

    # Customer-level topics.
    purchasing_summary_rate: float = 0.3  # of orders followed by customers/purchasing_summary
    tags_rate: float = 0.05
    profile_update_rate: float = 0.08  # customers/update (new phone, moved house)

    # The storefront script's topic sign-ups and browsing (generate_history(storefront=True)).
    topic_signup_rate: float = 0.15  # subscribed coffee and tea drinkers who pick a topic
    topic_signup_days: Range = (0, 21)  # how long after they arrive or subscribe
    intent_shopper_rate: float = 0.02  # known shoppers who look into buying wholesale
    intent_visits: tuple[int, int] = (1, 2)
    intent_visit_gap_days: Range = (0.5, 6)  # between a shopper's visits
    intent_pages: tuple[int, ...] = (1, 1, 2, 2, 3, 4)  # high-intent pages seen per visit
    intent_page_seconds: Range = (20, 240)  # reading one page before the next
    bulk_checkout_rate: float = 0.25  # intent shoppers who price a bulk order and leave it
    bulk_quantity: tuple[int, int] = (8, 12)  # of the 1 kg espresso: a cafe's order

    # How deliveries arrive.
    delivery_lag_seconds: Range = (1, 20)
    duplicate_rate: float = 0.02  # re-sent with the same webhook id
    duplicate_delay_seconds: Range = (5, 900)
    out_of_order_rate: float = 0.01  # checkouts whose update arrives before their create

    def buy_now(self, segment: str) -> float:
        """How often a shopper of ``segment`` completes a checkout on the spot."""
        return dict(self.buy_now_rate)[segment]


REALISM = Realism()
