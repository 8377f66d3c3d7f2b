"""dockyard's OCI Distribution registry: the Ship server.

Bytes live behind a small storage driver (``driver``) laid out by ``layout``; metadata that
must be answered fast and atomically (repository links, manifests, tags, referrers) lives in a
SQLite index (``index``). ``service`` composes them, ``app`` speaks HTTP over ``httpd`` (a small
HTTP/1.1 server on plain asyncio, so the registry idles in ~20 MiB), ``auth`` guards it and
``gc`` collects garbage while pushes go on. It imports only the low-level shared modules.
"""
