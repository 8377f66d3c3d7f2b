"""Durable storage: blobs by digest, SQLite metadata, overlay snapshots."""
