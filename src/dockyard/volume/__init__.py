"""Volumes: the local driver (directories, or tmpfs/bind mounts made on first use)."""
