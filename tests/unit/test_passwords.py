import concurrent.futures
import os
import threading
import time

import pytest

from dtr.auth import passwords
from dtr.errors import InvalidCredentials, TooManyRequests


def test_hash_and_verify():
    hashed = passwords.hash_password("s3cret")
    assert hashed.startswith("$argon2") and "s3cret" not in hashed
    assert passwords.verify_password(hashed, "s3cret")
    assert not passwords.verify_password(hashed, "wrong")
    assert not passwords.verify_password("not a hash", "s3cret")


def test_no_hash_never_matches_even_the_dummy_password():
    assert not passwords.verify_password(None, "a password no account has")
    assert not passwords.verify_password(None, "")


def test_hashing_slots_bound_concurrency_and_refuse_beyond_the_queue():
    slots = passwords.HashingSlots(slots=2, queue=1, wait=5)
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def work():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1
        return "done"

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        admitted = [pool.submit(slots.run, work) for _ in range(3)]
        time.sleep(0.3)  # two run, one waits for a slot
        with pytest.raises(TooManyRequests) as refused:
            slots.run(work)
        assert refused.value.retry_after == 1
        with pytest.raises(TooManyRequests):
            slots.refuse_when_full()
        release.set()
        assert [future.result() for future in admitted] == ["done"] * 3
    assert peak[0] == 2
    slots.refuse_when_full()  # free again
    assert slots.run(lambda: 7) == 7


def test_a_caller_that_cannot_start_in_time_is_refused():
    slots = passwords.HashingSlots(slots=1, queue=1, wait=0.2)
    release = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(slots.run, lambda: release.wait(5))
        time.sleep(0.1)
        with pytest.raises(TooManyRequests):
            slots.run(lambda: "never")
        release.set()
        assert busy.result() is True


def test_hashing_threads_run_at_the_lowest_priority():
    slots = passwords.HashingSlots(slots=1, queue=0, wait=5)
    nice = slots.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert nice == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != 19  # only them


def test_concurrent_checks_of_one_password_run_once():
    calls, release = [], threading.Event()

    def check():
        calls.append(1)
        release.wait(5)
        return "identity"

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(passwords.check_once, "ci", "pw-1", check) for _ in range(8)]
        time.sleep(0.3)
        release.set()
        assert [a.result() for a in answers] == ["identity"] * 8
    assert len(calls) == 1
    # a failure goes to every waiting caller too, and the next check runs again
    failing = threading.Event()

    def wrong():
        calls.append(1)
        failing.wait(5)
        raise InvalidCredentials("incorrect username or password")

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(passwords.check_once, "ci", "nope", wrong) for _ in range(4)]
        time.sleep(0.3)
        failing.set()
        for answer in answers:
            with pytest.raises(InvalidCredentials):
                answer.result()
    assert len(calls) == 2
    assert passwords.check_once("ci", "nope", lambda: "again") == "again"
