"""Storage: the database schema, its migrations, engines and sessions, and the facts store.

- ``models``: the schema (SQLAlchemy); ``migrations/``: its Alembic history; ``schema``: the
  database's revision against the code's.
- ``db``: engines, sessions, row claims and conflict retries, for SQLite and PostgreSQL.
- ``batch``: one transaction of the pipeline and what it holds beyond its session (the rows
  and episodes it read, the records and cancels it has yet to write), passed explicitly.
- ``facts_store`` (with ``fact_rows``): merge normalized events into customers, checkouts and
  orders, and read them back as ``rules`` facts; ``batch_episodes``: an inbox batch's episode
  reads and enrollments, made once per batch; ``browsing``: storefront page views and open
  carts read as facts; ``recommendations``: each shop's stored recommendation model and
  its customers' rhythms per product.

May import ``rules`` and ``plugin.config``; nothing else of ``plugin``.
"""
