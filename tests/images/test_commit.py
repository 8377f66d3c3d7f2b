"""commit, diff, history and rollback against the real daemon, CLI and API."""

import json

from apiclient import json_request


def test_commit_keeps_added_and_deleted_files(dy):
    c = dy.container("busybox", "sh", "-c", "echo installed > /usr/installed.txt && rm /bin/ls")
    assert dy.out("diff", c).splitlines() == ["C /bin", "D /bin/ls", "C /usr",
                                              "A /usr/installed.txt"]
    image = dy.image_name()
    image_id = dy.out("commit", "-m", "install a file", "-a", "Ann <ann@example.com>",
                      c, image).strip()
    assert image_id.startswith("sha256:")
    out = dy.out("run", "--rm", image, "sh", "-c",
                 "cat /usr/installed.txt; test -e /bin/ls || echo ls-gone")
    assert out.splitlines() == ["installed", "ls-gone"]

    info = dy.inspect(image)
    base = dy.inspect("busybox")
    assert info["Id"] == image_id
    assert info["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
    assert len(info["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    assert info["Author"] == "Ann <ann@example.com>"
    assert info["Comment"] == "install a file"
    assert info["Config"]["Cmd"] == ["sh", "-c",
                                     "echo installed > /usr/installed.txt && rm /bin/ls"]
    assert info["RepoTags"] == [image]

    hist = dy.out("history", image).splitlines()
    assert hist[0].split() [:2] == ["IMAGE", "CREATED"]
    assert image_id[7:19] in hist[1] and "install a file" in hist[1]
    assert "echo installed" in hist[1]
    assert len(hist) == 1 + 1 + len(json.loads(json.dumps(base["RootFS"]["Layers"])))
    ids = dy.out("history", "-q", "--no-trunc", image).split()
    assert ids == [image_id, base["Id"]]  # the parent image is local: its ID shows
    fmt = dy.out("history", "--format", "{{.CreatedBy}}|{{.Comment}}", "--no-trunc", image)
    assert fmt.splitlines()[0] == ("sh -c echo installed > /usr/installed.txt && rm /bin/ls"
                                   "|install a file")


def test_commit_changes_and_running_container(dy):
    c = dy.container("-d", "busybox", "sh", "-c", "echo v2 > /version; sleep 1000")
    image = dy.image_name()
    for _ in range(50):
        if dy.out("diff", c).strip():
            break
    dy("commit", "-c", "ENV MODE=prod", "-c", 'CMD ["cat", "/version"]', "-c",
       "LABEL tier=web", "-c", "WORKDIR /srv", "-c", "EXPOSE 8080", c, image)
    assert json.loads(dy.out("inspect", "-f", "{{json .State.Running}}", c)) is True
    assert dy.out("run", "--rm", image).strip() == "v2"
    cfg = dy.inspect(image)["Config"]
    assert "MODE=prod" in cfg["Env"] and cfg["Labels"] == {"tier": "web"}
    assert cfg["WorkingDir"] == "/srv" and "8080/tcp" in cfg["ExposedPorts"]
    assert dy.out("run", "--rm", image, "pwd").strip() == "/srv"
    r = dy("commit", "-c", "RUN echo no", c, dy.image_name(), ok=False)
    assert r.returncode != 0 and b"RUN" in r.stderr


def test_commit_without_pause_and_empty_commit(dy):
    c = dy.container("busybox", "true")
    image = dy.image_name()
    dy("commit", "--pause=false", c, image)
    base, info = dy.inspect("busybox"), dy.inspect(image)
    assert info["RootFS"]["Layers"] == base["RootFS"]["Layers"]  # nothing changed: no layer
    rows = json.loads("[" + ",".join(dy.out("history", "--format", "{{json .}}",
                                              image).splitlines()) + "]")
    assert rows[0]["Size"] == "0B"


def test_rollback_by_tag(dy):
    """v1 of a service is committed from a running container, v2 from a container of v1;
    going back to v1 by tag gives v1's files, and v2 stays available."""
    repo = dy.name("svc")
    dy.made_images += [f"{repo}:v1", f"{repo}:v2", f"{repo}:latest"]
    v1 = dy.container("-d", "busybox", "sh", "-c",
                      "echo 1 > /app-version; mkdir /state; echo a > /state/db; sleep 1000")
    for _ in range(100):
        if "A /state/db" in dy.out("diff", v1):
            break
    dy("commit", "-c", 'CMD ["sh", "-c", "cat /app-version /state/db"]', v1, f"{repo}:v1")
    v2 = dy.container(f"{repo}:v1", "sh", "-c", "echo 2 > /app-version; echo b >> /state/db")
    dy("commit", "-c", 'CMD ["sh", "-c", "cat /app-version /state/db"]', v2, f"{repo}:v2")
    dy("tag", f"{repo}:v2", f"{repo}:latest")
    assert dy.out("run", "--rm", repo).split() == ["2", "a", "b"]
    dy("tag", f"{repo}:v1", f"{repo}:latest")  # roll back
    assert dy.out("run", "--rm", repo).split() == ["1", "a"]
    assert dy.out("run", "--rm", f"{repo}:v2").split() == ["2", "a", "b"]
    hist = dy.out("history", "-q", f"{repo}:v2").split()
    assert dy.inspect(f"{repo}:v1")["Id"][7:19] == hist[1]


def test_commit_api(daemon, dy):
    c = dy.container("busybox", "sh", "-c", "mkdir -p /etc/app && echo x > /etc/app/conf")
    name = dy.name("api")
    dy.made_images.append(f"{name}:t1")
    status, body = json_request(
        daemon.sock, "POST",
        f"/v1.41/commit?container={c}&repo={name}&tag=t1&comment=via+api&author=bob"
        "&changes=ENV%20A%3D1&pause=0", body={"Labels": {"from": "body"}})
    assert status == 201, body
    info = dy.inspect(f"{name}:t1")
    assert info["Id"] == body["Id"] and info["Comment"] == "via api"
    assert info["Author"] == "bob" and info["Config"]["Labels"] == {"from": "body"}
    assert "A=1" in info["Config"]["Env"]
    assert len(info["Container"]) == 64
    status, changes = json_request(daemon.sock, "GET", f"/containers/{c}/changes")
    assert status == 200
    assert {"Path": "/etc/app/conf", "Kind": 1} in changes
    assert {"Path": "/etc", "Kind": 0} in changes
    status, hist = json_request(daemon.sock, "GET", f"/images/{name}:t1/history")
    assert status == 200 and hist[0]["Id"] == body["Id"]
    assert hist[0]["Tags"] == [f"{name}:t1"] and hist[0]["Comment"] == "via api"
    assert hist[0]["Size"] > 0 and hist[1]["Tags"] == ["busybox:latest"]
    for bad, code in [("/commit?container=nope", 404), ("/commit", 400),
                      (f"/commit?container={c}&repo=UPPER", 400),
                      (f"/commit?container={c}&repo=x&changes=FROM%20y", 400)]:
        status, body = json_request(daemon.sock, "POST", bad)
        assert status == code, (bad, body)
    status, _ = json_request(daemon.sock, "GET", "/containers/nope/changes")
    assert status == 404
    status, _ = json_request(daemon.sock, "GET", "/images/nope:x/history")
    assert status == 404
