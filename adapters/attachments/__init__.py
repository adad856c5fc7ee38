"""The attachment store's adapters (the port is ``engine.attachments.Blobs``): a local
directory (the default) and a database table (PostgreSQL in production), the content
inspector (``filetype`` + Pillow), the app channel's photo fetcher, and the wiring."""
