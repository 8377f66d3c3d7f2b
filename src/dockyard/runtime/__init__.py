"""The container runtime layer: OCI spec generation, runc driven through conmon, exits, logs."""
