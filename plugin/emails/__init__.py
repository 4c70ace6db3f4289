"""Emails: the built-in templates (``templates/``), their rendering, and the merchant's test email.

May import ``plugin.storage`` and ``plugin.shop_settings``.
"""
