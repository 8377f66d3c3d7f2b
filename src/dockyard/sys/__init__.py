"""Thin ctypes wrappers over Linux syscalls the stdlib lacks (inotify, namespaces, mounts)."""
