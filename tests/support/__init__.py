"""What test modules share: the test shop, signed requests, a hand-set clock, scenario steps,
fakes of SendGrid and Shopify, payload builders, snapshots and the shared services.

Test modules import from here, never from one another or from conftest.py (which holds
only fixtures). Nothing here is collected as a test.
"""
