"""Database-backed services above the pure domain: models, intake, cases, accounts, the outbox,
the broker's declarations and mail. They import neither Flask nor the workers."""
