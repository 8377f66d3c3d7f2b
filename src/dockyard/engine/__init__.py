"""Composition: one small service per resource, wired together by the daemon."""
