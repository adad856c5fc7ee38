"""通知: the notices port, its real adapters (SMTP, a signed webhook, an SMS gateway over HTTP),
an in-memory fake, and the outbox that decides and delivers (docs/notifications.md)."""
