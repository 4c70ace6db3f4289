"""The pipeline: stored webhooks become facts, facts start episodes, due steps are decided.

In the order data flows:

- ``inbox``: apply stored deliveries (``connectors`` turn them into events) to the facts.
- ``enrollment``: events start episodes and move their steps; ``exits``: events end them
  (and credit orders to them); ``sweeps``: the time-triggered workflows find whom to enroll.
- ``due_steps``: where a step is decided — conditions re-checked on current facts
  (``episode_facts``, ``step_histories``), shop policies applied, actions written to the outbox.
- ``recommender``: each shop's recommendation model and its customers' rhythms per product,
  kept fresh from the orders stored; ``product_picks``: the products an email shows, chosen
  when its step fires from the model and the catalog as it is then.
- ``outbox``: a fired step's actions as rendered, keyed rows; ``delivery`` sends them.
- ``worker``: the embedded loop that runs all of the above; ``tasks`` and ``celery_app``
  run the same stages as Celery tasks at scale.

May import ``plugin.storage``, ``plugin.shop_settings``, ``plugin.emails``,
``plugin.shopify_app`` (shop actions, compliance), the shared ``plugin.services``,
``connectors`` and ``rules``; never ``plugin.web`` or ``plugin.storefront``.
"""
