"""Emails: the built-in designs a step sends (``designs``: subject, preheader, blocks), their
rendering (``render``, ``blocks``; merchant text through ``merchant_text``, in Jinja's
sandbox), the fixed staff and signup templates (``templates/``), and sample data for the
merchant's test email and previews (``sample``).

May import ``plugin.storage``, ``plugin.shop_settings`` and ``rules``.
"""
