from dtr.auth import passwords


def test_hash_and_verify():
    hashed = passwords.hash_password("s3cret")
    assert hashed.startswith("$argon2") and "s3cret" not in hashed
    assert passwords.verify_password(hashed, "s3cret")
    assert not passwords.verify_password(hashed, "wrong")
    assert not passwords.verify_password("not a hash", "s3cret")


def test_no_hash_never_matches_even_the_dummy_password():
    assert not passwords.verify_password(None, "a password no account has")
    assert not passwords.verify_password(None, "")
