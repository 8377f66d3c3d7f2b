"""Images: configs, manifests, layers (stored in the content store, unpacked by the snapshotter),
and the names that point at them."""
