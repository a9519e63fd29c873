"""What the test fixtures that run a server as a child process share.

`die_with_parent` is the `preexec_fn` that gives the child SIGTERM when the test process dies
without cleaning up. `ChildServer` is a base class: `spawn` starts the child with its output
appended to a log file, `wait_until_answering` polls until it is ready (stopping it and raising
with its log when it exits or does not answer in time), `stop` ends it and `log_text` reads
its log.
"""

import ctypes
import signal
import subprocess
import time
from pathlib import Path


def die_with_parent():
    """Runs in the child: it gets SIGTERM if the test process dies without cleaning up."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ChildServer:
    """A server run as a child process: `process` (a Popen, None when stopped), `log` (its
    open log file, None when stopped) and `log_path`."""

    process = None
    log = None
    log_path = None
    stop_wait = 10  # seconds between SIGTERM and SIGKILL

    def spawn(self, args, log_path, **popen_kwargs):
        """Starts `args` with stdout and stderr appended to `log_path`; more Popen arguments
        (cwd, stdin, env...) in `popen_kwargs`."""
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            args,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            **popen_kwargs,
        )
        return self.process

    def wait_until_answering(self, name, answers, timeout, interval=0.05, errors=(OSError,)):
        """Returns self once `answers()` is true; an exception in `errors` (requests' errors
        are OSErrors) counts as not yet. Stops the server and raises RuntimeError, with its
        log, when it exits or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = self.log_text()
                self.stop()
                raise RuntimeError(f"{name} exited: {text}")
            try:
                if answers():
                    return self
            except errors:
                pass
            time.sleep(interval)
        text = self.log_text()
        self.stop()
        raise RuntimeError(f"{name} did not start in {timeout} s: {text}")

    def stop(self):
        """Terminates the process (killed after `stop_wait` seconds) and closes the log;
        harmless when not running."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(self.stop_wait)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def log_text(self):
        """The log so far ('' when there is none)."""
        if self.log is not None:
            self.log.flush()
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")
