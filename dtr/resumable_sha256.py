"""SHA-256 whose state can be saved and resumed in another process.

A chunked upload's PATCHes may land on different processes or replicas; without the hash
state of the bytes received so far, the next one would have to read them all back (each
chunk costing what the whole upload so far did). hashlib cannot export its state, so this
uses OpenSSL's SHA256_Init/Update/Final on a SHA256_CTX (the public struct of
`openssl/sha.h`, the same on OpenSSL 1.1 and 3.x: 8 words of state, the bit count, the
partial block), from the libcrypto Python's own hashlib is linked with: the same assembly,
the same speed, and the GIL released while it hashes.

`state()` is that struct prefixed with a tag naming the format and the byte order;
`from_state()` refuses anything else (None), so a replica of another architecture, or a
process without libcrypto, hashes the stored bytes again instead of trusting a state it
cannot read.
"""

import ctypes
import ctypes.util
import hashlib
import sys

CONTEXT_BYTES = 112  # sizeof(SHA256_CTX): h[8], Nl, Nh, data[16], num, md_len (32-bit each)
STATE_TAG = f"openssl-sha256-ctx-v1-{sys.byteorder}:".encode()


def _loaded_libcrypto_path() -> str | None:
    """The libcrypto this process already loaded for hashlib (Linux: /proc/self/maps)."""
    import _hashlib  # noqa: F401 - loads libcrypto

    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "/libcrypto.so" in path:
                    return path
    except OSError:
        pass
    return ctypes.util.find_library("crypto")


def _libcrypto():
    try:
        path = _loaded_libcrypto_path()
        library = ctypes.CDLL(path) if path else None
        if library is None:
            return None
        library.SHA256_Init.argtypes = [ctypes.c_void_p]
        library.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        library.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        for function in (library.SHA256_Init, library.SHA256_Update, library.SHA256_Final):
            function.restype = ctypes.c_int
        return library
    except (OSError, AttributeError):  # no libcrypto, or one without the SHA256_* API
        return None


_LIB = _libcrypto()


def available() -> bool:
    return _LIB is not None


class ResumableSha256:
    """hashlib.sha256's update/copy/digest/hexdigest, plus `state()`."""

    name = "sha256"
    digest_size = 32

    def __init__(self, _context=None):
        self._context = _context or ctypes.create_string_buffer(CONTEXT_BYTES)
        if _context is None:
            _LIB.SHA256_Init(self._context)

    def update(self, data):
        data = data if isinstance(data, bytes) else bytes(data)
        _LIB.SHA256_Update(self._context, data, len(data))

    def copy(self) -> "ResumableSha256":
        return ResumableSha256(ctypes.create_string_buffer(self._context.raw, CONTEXT_BYTES))

    def digest(self) -> bytes:
        out = ctypes.create_string_buffer(self.digest_size)
        _LIB.SHA256_Final(out, self.copy()._context)  # Final spoils the context it is given
        return out.raw

    def hexdigest(self) -> str:
        return self.digest().hex()

    def state(self) -> bytes:
        return STATE_TAG + self._context.raw

    @classmethod
    def from_state(cls, state: bytes | None) -> "ResumableSha256 | None":
        """The hash resumed from `state()`; None when it cannot be (another format or byte
        order, or no libcrypto here)."""
        if _LIB is None or not state or not state.startswith(STATE_TAG):
            return None
        raw = state[len(STATE_TAG) :]
        if len(raw) != CONTEXT_BYTES:
            return None
        return cls(ctypes.create_string_buffer(raw, CONTEXT_BYTES))


def new_sha256():
    """A SHA-256 whose state can be saved when this process can (else hashlib's)."""
    return ResumableSha256() if _LIB is not None else hashlib.sha256()


def saved_state(hasher) -> bytes | None:
    """`hasher`'s state to save, None for a hash that cannot give one."""
    return hasher.state() if isinstance(hasher, ResumableSha256) else None
