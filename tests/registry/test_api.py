"""The OCI Distribution HTTP API against a real registry process on loopback."""

from __future__ import annotations

import json
import os
import threading

from .conftest import sha

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def test_base_endpoint_announces_api_version(registry):
    r = registry.req("GET", "/v2/")
    assert r.status == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_monolithic_blob_push_then_head_get_and_range(registry):
    data = os.urandom(100_000)
    dg = registry.push_blob("a/b", data)
    h = registry.req("HEAD", f"/v2/a/b/blobs/{dg}")
    assert h.status == 200
    assert h.headers["Content-Length"] == str(len(data))
    assert h.headers["Docker-Content-Digest"] == dg
    g = registry.req("GET", f"/v2/a/b/blobs/{dg}")
    assert g.status == 200 and g.body == data
    assert g.headers["Docker-Content-Digest"] == dg
    p = registry.req("GET", f"/v2/a/b/blobs/{dg}", headers={"Range": "bytes=10-19"})
    assert p.status == 206 and p.body == data[10:20]


def test_blob_is_visible_only_in_repositories_that_link_it(registry):
    dg = registry.push_blob("one", b"secret layer")
    assert registry.req("HEAD", f"/v2/two/blobs/{dg}").status == 404
    r = registry.req("GET", f"/v2/two/blobs/{dg}")
    assert r.status == 404 and r.code() == "BLOB_UNKNOWN"


def test_post_put_upload(registry):
    data = b"x" * 5000
    r = registry.req("POST", "/v2/r/blobs/uploads/")
    assert r.status == 202
    loc = r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"] in loc
    r = registry.req("PUT", f"{loc}?digest={sha(data)}", data,
                     {"Content-Type": "application/octet-stream"})
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/r/blobs/{sha(data)}"
    assert registry.req("GET", f"/v2/r/blobs/{sha(data)}").body == data


def test_chunked_upload_with_strict_ordering_and_status(registry):
    data = os.urandom(3000)
    a, b, c = data[:1000], data[1000:2000], data[2000:]
    loc = registry.req("POST", "/v2/r/blobs/uploads/").headers["Location"]
    # out of order first chunk
    r = registry.req("PATCH", loc, b, {"Content-Range": "1000-1999",
                                       "Content-Type": "application/octet-stream"})
    assert r.status == 416
    r = registry.req("PATCH", loc, a, {"Content-Range": "0-999",
                                       "Content-Type": "application/octet-stream"})
    assert r.status == 202 and r.headers["Range"] == "0-999"
    # the same chunk again is out of order now
    r = registry.req("PATCH", loc, a, {"Content-Range": "0-999"})
    assert r.status == 416
    s = registry.req("GET", loc)
    assert s.status == 204 and s.headers["Range"] == "0-999" and s.headers["Location"]
    r = registry.req("PATCH", loc, b, {"Content-Range": "1000-1999"})
    assert r.status == 202 and r.headers["Range"] == "0-1999"
    # final chunk rides on the PUT
    r = registry.req("PUT", f"{loc}?digest={sha(data)}", c, {"Content-Range": "2000-2999"})
    assert r.status == 201, r.body
    assert registry.req("GET", f"/v2/r/blobs/{sha(data)}").body == data


def test_streamed_patch_without_content_range(registry):
    data = os.urandom(4 << 20)
    loc = registry.req("POST", "/v2/r/blobs/uploads/").headers["Location"]
    r = registry.req("PATCH", loc, data)
    assert r.status == 202 and r.headers["Range"] == f"0-{len(data) - 1}"
    assert registry.req("PUT", f"{loc}?digest={sha(data)}").status == 201


def test_wrong_digest_is_digest_invalid(registry):
    r = registry.req("POST", f"/v2/r/blobs/uploads/?digest={sha(b'other')}", b"data")
    assert r.status == 400 and r.code() == "DIGEST_INVALID"
    loc = registry.req("POST", "/v2/r/blobs/uploads/").headers["Location"]
    r = registry.req("PUT", f"{loc}?digest={sha(b'other')}", b"data")
    assert r.status == 400 and r.code() == "DIGEST_INVALID"
    r = registry.req("POST", "/v2/r/blobs/uploads/?digest=sha256:totallywrong", b"data")
    assert r.status == 400 and r.code() == "DIGEST_INVALID"


def test_cancel_and_unknown_uploads(registry):
    loc = registry.req("POST", "/v2/r/blobs/uploads/").headers["Location"]
    assert registry.req("DELETE", loc).status == 204
    r = registry.req("GET", loc)
    assert r.status == 404 and r.code() == "BLOB_UPLOAD_UNKNOWN"
    for path in ("/v2/r/blobs/uploads/" + "0" * 32, "/v2/r/blobs/uploads/nothex"):
        r = registry.req("PATCH", path, b"x")
        assert r.status == 404 and r.code() == "BLOB_UPLOAD_UNKNOWN", path
    r = registry.req("PATCH", "/v2/r/blobs/uploads/..%2F..%2Fetc", b"x")
    assert r.status == 404
    # an upload belongs to the repository that started it
    loc = registry.req("POST", "/v2/r/blobs/uploads/").headers["Location"]
    r = registry.req("GET", loc.replace("/v2/r/", "/v2/other/"))
    assert r.status == 404 and r.code() == "BLOB_UPLOAD_UNKNOWN"


def test_bad_names_and_references_never_500(registry):
    for path in ("/v2/UPPER/tags/list", "/v2/a..b/manifests/latest", "/v2/-x/blobs/uploads/"):
        r = registry.req("GET" if "uploads" not in path else "POST", path)
        assert r.status == 400 and r.code() == "NAME_INVALID", path
    for ref in ("sha256:totallywrong", "sha256:", "md5:abcd", "bad%20tag", "-lead"):
        for method in ("GET", "HEAD", "DELETE", "PUT"):
            r = registry.req(method, f"/v2/r/manifests/{ref}", b"{}" if method == "PUT" else None)
            assert r.status in (400, 404), (method, ref, r.status)
    r = registry.req("GET", "/v2/r/referrers/sha256:nothex")
    assert r.status == 400


def test_cross_repository_mount(registry):
    dg = registry.push_blob("src", b"mount me")
    r = registry.req("POST", f"/v2/dst/blobs/uploads/?mount={dg}&from=src")
    assert r.status == 201 and r.headers["Location"] == f"/v2/dst/blobs/{dg}"
    assert registry.req("GET", f"/v2/dst/blobs/{dg}").body == b"mount me"
    # mounting from a repo without the blob falls back to a fresh upload session
    r = registry.req("POST", f"/v2/dst2/blobs/uploads/?mount={dg}&from=nowhere")
    assert r.status == 202 and "/v2/dst2/blobs/uploads/" in r.headers["Location"]


def test_blob_delete(registry):
    dg = registry.push_blob("r", b"gone soon")
    r = registry.req("DELETE", f"/v2/r/blobs/{dg}")
    assert r.status == 202
    assert registry.req("HEAD", f"/v2/r/blobs/{dg}").status == 404
    assert registry.req("DELETE", f"/v2/r/blobs/{dg}").code() == "BLOB_UNKNOWN"


def test_manifest_put_get_head_by_tag_and_digest(registry):
    dg, body = registry.push_image("app", "v1", [b"layer-1", b"layer-2"])
    for ref in ("v1", dg):
        r = registry.req("GET", f"/v2/app/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status == 200 and r.body == body
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == dg
        h = registry.req("HEAD", f"/v2/app/manifests/{ref}")
        assert h.status == 200 and h.headers["Content-Length"] == str(len(body))
    r = registry.req("GET", "/v2/app/manifests/v2")
    assert r.status == 404 and r.code() == "MANIFEST_UNKNOWN"


def test_manifest_put_by_digest_checks_digest(registry):
    cfg = registry.push_blob("app", b"{}")
    m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": cfg, "size": 2}, "layers": []}).encode()
    r = registry.push_manifest("app", sha(b"not it"), m)
    assert r.status == 400 and r.code() == "DIGEST_INVALID"
    r = registry.push_manifest("app", sha(m), m)
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == sha(m)


def test_manifest_with_missing_blob_is_refused(registry):
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha(b"absent"), "size": 6}, "layers": []}
    r = registry.push_manifest("app", "t", m)
    assert r.status == 400 and r.code() == "MANIFEST_BLOB_UNKNOWN"


def test_invalid_and_oversized_manifests(registry):
    r = registry.push_manifest("app", "t", b"not json")
    assert r.status == 400 and r.code() == "MANIFEST_INVALID"
    r = registry.push_manifest("app", "t", {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                            "manifests": []}, media_type=OCI_MANIFEST)
    assert r.status == 400 and r.code() == "MANIFEST_INVALID"
    big = b'{"schemaVersion": 2, "pad": "' + b"x" * (4 << 20) + b'"}'
    r = registry.push_manifest("app", "t", big)
    assert r.status == 413 and r.code() == "MANIFEST_INVALID"


def test_docker_schema2_manifest_and_list_content_negotiation(registry):
    cfg = registry.push_blob("d", b'{"os":"linux"}')
    layer = registry.push_blob("d", b"layer")
    m = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
         "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                    "digest": cfg, "size": 14},
         "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                     "digest": layer, "size": 5}]}
    mb = json.dumps(m).encode()
    assert registry.push_manifest("d", "m", mb, DOCKER_MANIFEST).status == 201
    lst = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": sha(mb), "size": len(mb),
         "platform": {"architecture": "amd64", "os": "linux"}}]}
    assert registry.push_manifest("d", "list", lst, DOCKER_LIST).status == 201
    r = registry.req("GET", "/v2/d/manifests/m", headers={"Accept": DOCKER_MANIFEST})
    assert r.headers["Content-Type"] == DOCKER_MANIFEST
    r = registry.req("GET", "/v2/d/manifests/list",
                     headers={"Accept": f"{DOCKER_MANIFEST}, {DOCKER_LIST}"})
    assert r.status == 200 and r.headers["Content-Type"] == DOCKER_LIST
    # a client that cannot read lists is not handed one by tag
    r = registry.req("GET", "/v2/d/manifests/list", headers={"Accept": DOCKER_MANIFEST})
    assert r.status == 404 and r.code() == "MANIFEST_UNKNOWN"


def test_delete_tag_keeps_manifest_delete_digest_removes_tags(registry):
    dg, _ = registry.push_image("app", "v1", [b"l"])
    assert registry.push_manifest(
        "app", "v2", registry.req("GET", f"/v2/app/manifests/{dg}").body).status == 201
    assert registry.req("DELETE", "/v2/app/manifests/v1").status == 202
    assert registry.req("GET", "/v2/app/manifests/v1").status == 404
    assert registry.req("GET", f"/v2/app/manifests/{dg}").status == 200
    assert registry.req("GET", "/v2/app/tags/list").json()["tags"] == ["v2"]
    assert registry.req("DELETE", f"/v2/app/manifests/{dg}").status == 202
    assert registry.req("GET", f"/v2/app/manifests/{dg}").status == 404
    assert registry.req("GET", "/v2/app/tags/list").json()["tags"] == []
    assert registry.req("DELETE", f"/v2/app/manifests/{dg}").code() == "MANIFEST_UNKNOWN"


def test_tags_list_sorted_with_pagination_and_link(registry):
    dg, body = registry.push_image("app", "b", [b"l"])
    for t in ("c", "a", "e", "d"):
        assert registry.push_manifest("app", t, body).status == 201
    assert registry.req("GET", "/v2/app/tags/list").json() == {
        "name": "app", "tags": ["a", "b", "c", "d", "e"]}
    r = registry.req("GET", "/v2/app/tags/list?n=2")
    assert r.json()["tags"] == ["a", "b"]
    assert r.headers["Link"] == '</v2/app/tags/list?last=b&n=2>; rel="next"'
    r = registry.req("GET", "/v2/app/tags/list?n=2&last=b")
    assert r.json()["tags"] == ["c", "d"]
    r = registry.req("GET", "/v2/app/tags/list?n=2&last=d")
    assert r.json()["tags"] == ["e"] and "Link" not in r.headers
    assert registry.req("GET", "/v2/app/tags/list?n=0").json()["tags"] == []
    r = registry.req("GET", "/v2/nope/tags/list")
    assert r.status == 404 and r.code() == "NAME_UNKNOWN"


def test_catalog_with_pagination(registry):
    for name in ("zeta", "alpha", "mid/dle"):
        registry.push_blob(name, name.encode())
    assert registry.req("GET", "/v2/_catalog").json() == {
        "repositories": ["alpha", "mid/dle", "zeta"]}
    r = registry.req("GET", "/v2/_catalog?n=1")
    assert r.json()["repositories"] == ["alpha"] and 'rel="next"' in r.headers["Link"]
    r = registry.req("GET", "/v2/_catalog?n=5&last=alpha")
    assert r.json()["repositories"] == ["mid/dle", "zeta"]


def test_referrers_with_subject_and_artifact_type_filter(registry):
    subj, sbody = registry.push_image("app", "v1", [b"l"])
    empty = registry.push_blob("app", b"{}")
    sig = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-sig",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty,
                      "size": 2},
           "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": subj,
                                     "size": len(sbody)},
           "annotations": {"who": "me"}}
    sb = json.dumps(sig).encode()
    r = registry.push_manifest("app", sha(sb), sb)
    assert r.status == 201 and r.headers["OCI-Subject"] == subj
    sbom_dg, _ = registry.push_image(
        "app", None, [b"sbom"], config_type="application/x-sbom",
        subject={"mediaType": OCI_MANIFEST, "digest": subj, "size": len(sbody)})
    r = registry.req("GET", f"/v2/app/referrers/{subj}")
    assert r.status == 200 and r.headers["Content-Type"] == OCI_INDEX
    got = {d["digest"]: d for d in r.json()["manifests"]}
    assert set(got) == {sha(sb), sbom_dg}
    assert got[sha(sb)]["artifactType"] == "application/x-sig"
    assert got[sha(sb)]["annotations"] == {"who": "me"}
    assert got[sbom_dg]["artifactType"] == "application/x-sbom"
    r = registry.req("GET", f"/v2/app/referrers/{subj}?artifactType=application/x-sig")
    assert [d["digest"] for d in r.json()["manifests"]] == [sha(sb)]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    r = registry.req("GET", f"/v2/app/referrers/{sha(b'nothing')}")
    assert r.status == 200 and r.json()["manifests"] == []


def test_four_concurrent_pushes_of_the_same_blob(registry):
    data = os.urandom(3 << 20)
    results: list[int] = []

    def push() -> None:
        loc = registry.req("POST", "/v2/same/blobs/uploads/").headers["Location"]
        r1 = registry.req("PATCH", loc, data[:1 << 20], {"Content-Range": f"0-{(1 << 20) - 1}"})
        assert r1.status == 202
        r2 = registry.req("PUT", f"{loc}?digest={sha(data)}", data[1 << 20:],
                          {"Content-Range": f"{1 << 20}-{len(data) - 1}"})
        results.append(r2.status)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 4
    assert registry.req("GET", f"/v2/same/blobs/{sha(data)}").body == data


def test_chunked_upload_resumes_after_restart(make_registry):
    reg = make_registry()
    data = os.urandom(2 << 20)
    half = len(data) // 2
    loc = reg.req("POST", "/v2/r/blobs/uploads/").headers["Location"]
    assert reg.req("PATCH", loc, data[:half], {"Content-Range": f"0-{half - 1}"}).status == 202
    reg.stop()
    reg.start()
    s = reg.req("GET", loc)
    assert s.status == 204 and s.headers["Range"] == f"0-{half - 1}"
    r = reg.req("PATCH", loc, data[half:], {"Content-Range": f"{half}-{len(data) - 1}"})
    assert r.status == 202
    assert reg.req("PUT", f"{loc}?digest={sha(data)}").status == 201
    assert reg.req("GET", f"/v2/r/blobs/{sha(data)}").body == data


def test_read_only_refuses_writes(make_registry):
    reg = make_registry("--read-only")
    r = reg.req("POST", "/v2/r/blobs/uploads/")
    assert r.status == 405 and r.code() == "UNSUPPORTED"
    assert reg.req("GET", "/v2/").status == 200


def test_killed_mid_upload_leaves_nothing_visible(make_registry):
    import signal
    import socket

    reg = make_registry()
    data = os.urandom(8 << 20)
    dg = sha(data)
    s = socket.create_connection(("127.0.0.1", reg.port))
    s.sendall(f"POST /v2/r/blobs/uploads/?digest={dg} HTTP/1.1\r\nHost: x\r\n"
              f"Content-Length: {len(data)}\r\n\r\n".encode() + data[: 3 << 20])
    s.close()
    reg.stop(signal.SIGKILL)
    reg.start()
    assert reg.req("HEAD", f"/v2/r/blobs/{dg}").status == 404
    assert reg.req("GET", f"/v2/r/blobs/{dg}").status == 404


def test_stale_uploads_are_purged(make_registry, tmp_path):
    import subprocess
    import sys

    reg = make_registry()
    loc = reg.req("POST", "/v2/r/blobs/uploads/").headers["Location"]
    reg.req("PATCH", loc, b"partial")
    cfg = tmp_path / "gc.toml"
    cfg.write_text("upload_max_age = 0\n")
    p = subprocess.run([sys.executable, "-m", "dockyard.registry", "gc", "--root", reg.root,
                        "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "1 stale uploads" in p.stdout
    r = reg.req("GET", loc)
    assert r.status == 404 and r.code() == "BLOB_UPLOAD_UNKNOWN"


def test_hostile_requests_never_500(registry):
    dg = registry.push_blob("r", b"x")
    loc = registry.req("POST", "/v2/r/blobs/uploads/").headers["Location"]
    cases = [
        ("PATCH", loc, b"abc", {"Content-Range": "bytes=0-"}),
        ("PATCH", loc, b"abc", {"Content-Range": "5-2"}),
        ("PATCH", loc, b"abc", {"Content-Range": "0-99999999999999999999999"}),
        ("PUT", f"{loc}?digest=", b"", {}),
        ("PUT", f"{loc}?digest=sha512:abc", b"", {}),
        ("GET", "/v2/r/tags/list?n=-1", None, {}),
        ("GET", "/v2/r/tags/list?n=abc", None, {}),
        ("GET", "/v2/r/tags/list?n=99999999999999999999999", None, {}),
        ("GET", "/v2/_catalog?n=1&last=%00", None, {}),
        ("GET", f"/v2/r/blobs/{dg}", None, {"Range": "bytes=99-1"}),
        ("GET", f"/v2/r/referrers/{dg}?artifactType=%00", None, {}),
        ("POST", f"/v2/r/blobs/uploads/?mount={dg}&from=BAD..name", None, {}),
        ("POST", "/v2/r/blobs/uploads/?mount=sha256:zz&from=r", None, {}),
        ("PUT", "/v2/r/manifests/t", b"[1,2]", {}),
        ("PUT", "/v2/r/manifests/t", b'{"schemaVersion":2,"config":{"digest":1,"size":true}}', {}),
        ("PUT", "/v2/r/manifests/t", b'{"schemaVersion":2,"layers":"no","config":{}}', {}),
        ("PUT", "/v2/r/manifests/t", b'{"schemaVersion":2,"manifests":[{"digest":"x"}]}',
         {"Content-Type": "application/vnd.oci.image.index.v1+json"}),
        ("PUT", "/v2/r/manifests/t", b"\xff\xfe", {}),
        ("PUT", "/v2/r/manifests/t", b'{"schemaVersion":2,"subject":"str","config":{}}', {}),
        ("DELETE", "/v2/r/blobs/uploads/", None, {}),
        ("GET", "/v2/" + "a/" * 200 + "tags/list", None, {}),
    ]
    for method, path, body, headers in cases:
        r = registry.req(method, path, body, headers)
        assert r.status < 500, (method, path, r.status, r.body)
    assert registry.req("GET", "/v2/").status == 200


def test_sha512_blob_digests(registry):
    import hashlib

    data = b"sha512 content"
    dg = "sha512:" + hashlib.sha512(data).hexdigest()
    r = registry.req("POST", f"/v2/r/blobs/uploads/?digest={dg}", data)
    assert r.status == 201, r.body
    assert registry.req("GET", f"/v2/r/blobs/{dg}").body == data
