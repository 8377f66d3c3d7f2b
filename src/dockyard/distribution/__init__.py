"""Registry client: pull and push images over the OCI Distribution API.

``options`` (insecure registries, mirrors, certs.d, concurrency) → ``transport`` (HTTP with
auth challenges, TLS, retries) → ``pull`` / ``push`` (manifests, blobs, progress). The daemon's
API calls ``service.DistributionService``; nothing here knows about aiohttp.
"""
