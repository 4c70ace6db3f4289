"""The one place that lists the platform connectors, by the name deliveries are stored under."""

from __future__ import annotations

from types import ModuleType

from connectors import shopify, woocommerce

CONNECTORS: dict[str, ModuleType] = {"shopify": shopify, "woocommerce": woocommerce}
