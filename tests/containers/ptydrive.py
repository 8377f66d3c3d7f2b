"""Drive a CLI through a real pseudo-terminal, as a user at a keyboard would."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time


class PtySession:
    """``argv`` with a pty as its controlling terminal; read what it prints, type into it."""

    def __init__(self, argv: list[str], env: dict | None = None, rows: int = 24,
                 cols: int = 80):
        import fcntl
        import struct
        import termios

        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def make_ctty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, preexec_fn=make_ctty)
        os.close(slave)
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 20) -> bytes:
        """Everything printed so far once ``needle`` appeared (AssertionError if it never does)."""
        deadline = time.monotonic() + timeout
        # A client whose terminal is not raw yet when output arrives doubles the CR (ONLCR).
        while needle not in self.output.replace(b"\r\r\n", b"\r\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen; output so far: {self.output!r}")
            r, _, _ = select.select([self.master], [], [], left)
            if not r:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            if not data:
                raise AssertionError(f"{needle!r} not seen before EOF; output: {self.output!r}")
            self.output += data
        return self.output

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def resize(self, rows: int, cols: int) -> None:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.killpg(self.proc.pid, signal.SIGWINCH)

    def wait(self, timeout: float = 20) -> int:
        """The exit code, draining output meanwhile so the CLI never blocks on a full pty."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    pass
        code = self.proc.wait(max(0.1, deadline - time.monotonic()))
        while select.select([self.master], [], [], 0.05)[0]:  # what it printed last
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            self.output += data
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
