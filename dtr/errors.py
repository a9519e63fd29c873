"""Domain exceptions raised by services. Each blueprint maps them to its own answer once:
the registry to OCI error JSON, the API to JSON problems, the web to form messages."""


class DomainError(Exception):
    """Base class; `message` is safe to show to the client."""

    def __init__(self, message, detail=None):
        super().__init__(message)
        self.message = message
        self.detail = detail


class NameInvalid(DomainError):
    pass


class TagInvalid(NameInvalid):
    """A tag that does not follow the tag grammar."""


class NameUnknown(DomainError):
    """The repository does not exist (or the caller may not see it)."""


class NameTaken(DomainError):
    pass


class BlobUnknown(DomainError):
    pass


class BlobUploadUnknown(DomainError):
    pass


class BlobUploadInvalid(DomainError):
    pass


class RangeInvalid(DomainError):
    """A chunk does not start where the upload ends, or a read range is outside the blob."""

    def __init__(self, message, current_size=0):
        super().__init__(message)
        self.current_size = current_size


class DigestInvalid(DomainError):
    pass


class SizeInvalid(DomainError):
    pass


class ManifestInvalid(DomainError):
    pass


class ManifestTooLarge(DomainError):
    pass


class ManifestUnknown(DomainError):
    pass


class ManifestBlobUnknown(DomainError):
    pass


class Unsupported(DomainError):
    pass


class Denied(DomainError):
    """The caller is known but may not do this."""


class InvalidCredentials(DomainError):
    pass


class InvalidToken(InvalidCredentials):
    """A bearer token that is malformed, expired, forged, or whose credential changed."""


class TooManyRequests(DomainError):
    """Refused for now (failed logins of a name or address, password checks all busy);
    `retry_after`: seconds to wait."""

    def __init__(self, message, retry_after: int):
        super().__init__(message, {"retryAfter": retry_after})
        self.retry_after = retry_after


class InvalidInput(DomainError):
    """A value given by the caller is not acceptable (role, password...)."""


class NotSetUp(DomainError):
    """The auth mode is None: only the first admin can be created."""

    def __init__(self):
        super().__init__(
            "DTR is not set up: the auth mode is None. Create the first admin (python app.py "
            "create-user NAME --role admin, or POST /api/v0/accounts with role admin); that "
            "switches the mode to Managed."
        )


class JobRunning(DomainError):
    """A job that runs once at a time (garbage collection) is running already."""


class JobUnknown(DomainError):
    pass
