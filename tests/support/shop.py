"""The shop the tests install, and the app credentials the ``app`` fixture is made with."""

SHOP = "test-shop.myshopify.com"
SHOP_SECRET = "test-webhook-secret"  # signs the shop's webhooks
API_KEY = "test-api-key"
APP_SECRET = "test-app-secret-0123456789abcdef0123456789"  # signs session tokens
# the address its marketing email shows (a shop without one has its marketing email held)
SHOP_ADDRESS = "12 Harbour Street, Portland, ME 04101, United States"
