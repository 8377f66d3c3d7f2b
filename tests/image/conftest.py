import pytest

from dockyard.image.store import ImageStore
from dockyard.store.content import ContentStore
from dockyard.store.meta import MetaDB
from dockyard.store.snapshot import Snapshotter


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "root"
    meta = MetaDB(str(root / "meta.db"))
    snap = Snapshotter(str(root / "snapshots"))
    store = ImageStore(ContentStore(str(root / "content")), meta, snap)
    mounts: list[str] = []
    store.test_mounts = mounts  # type: ignore[attr-defined]
    try:
        yield store
    finally:
        for target in reversed(mounts):
            snap.unmount(target)
        meta.close()
