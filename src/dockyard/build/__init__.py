"""Dockerfile builds: parser, shell-word expansion, .dockerignore, context, COPY."""
