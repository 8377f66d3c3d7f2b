import pytest

from dockyard.errors import InvalidArgument
from dockyard.image.changes import apply_changes


def test_shell_and_exec_forms():
    c = apply_changes({}, ["CMD echo $HOME", 'ENTRYPOINT ["/bin/app", "--flag"]'])
    assert c["Cmd"] == ["/bin/sh", "-c", "echo $HOME"]
    assert c["Entrypoint"] == ["/bin/app", "--flag"]
    # ENTRYPOINT alone resets an inherited CMD, as the builder does
    c = apply_changes({"Cmd": ["old"]}, ["ENTRYPOINT /x"])
    assert "Cmd" not in c


def test_env_forms_and_substitution():
    c = apply_changes({"Env": ["PATH=/bin"]}, [
        "ENV PATH=/usr/local/bin:$PATH", "ENV GREETING hello world", "ENV Q='$PATH' R=\"a b\""])
    assert c["Env"] == ["PATH=/usr/local/bin:/bin", "GREETING=hello world", "Q=$PATH", "R=a b"]


def test_labels_ports_volumes_workdir():
    c = apply_changes({"WorkingDir": "/srv"}, [
        'LABEL a=1 "b c"=2', "EXPOSE 8000-8002/udp 80", 'VOLUME ["/a", "/b"]', "VOLUME /c",
        "WORKDIR app", "WORKDIR ../x", "USER 1000:1000", "STOPSIGNAL 9",
        "HEALTHCHECK --interval=1m30s --retries=3 CMD [\"true\"]", "ONBUILD RUN make"])
    assert c["Labels"] == {"a": "1", "b c": "2"}
    assert list(c["ExposedPorts"]) == ["8000/udp", "8001/udp", "8002/udp", "80/tcp"]
    assert c["Volumes"] == {"/a": {}, "/b": {}, "/c": {}}
    assert c["WorkingDir"] == "/srv/x"
    assert c["User"] == "1000:1000" and c["StopSignal"] == "9"
    assert c["Healthcheck"] == {"Interval": 90_000_000_000, "Retries": 3, "Test": ["CMD", "true"]}
    assert c["OnBuild"] == ["RUN make"]


def test_input_not_mutated():
    base = {"Env": ["A=1"]}
    apply_changes(base, ["ENV B=2"])
    assert base == {"Env": ["A=1"]}


@pytest.mark.parametrize("change", [
    "RUN make", "FROM busybox", "COPY a b", "NOPE x", "EXPOSE 70000", "EXPOSE 80/icmp",
    "ENV =x", "ENV lonely", "LABEL", "VOLUME []", "HEALTHCHECK --bogus=1 CMD x",
    "HEALTHCHECK --interval=soon CMD x", "ONBUILD FROM x", "ENV A=\"unterminated"])
def test_rejected(change):
    with pytest.raises(InvalidArgument):
        apply_changes({}, [change])
