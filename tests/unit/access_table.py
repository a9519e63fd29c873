"""The permission table of `access.allowed_actions`, as data.

Columns: auth mode, global role of the caller ("anonymous" for no caller), relation of the
caller to the repository ("owner": the repository is in the caller's namespace, "other":
someone else's), visibility, and the expected actions (p=pull, s=push, d=delete, a=admin).
"""

TABLE = """
mode     role        relation visibility expected
managed  anonymous   other    private    -
managed  anonymous   other    public     p
managed  none        other    private    -
managed  none        other    public     p
managed  none        owner    private    psda
managed  none        owner    public     psda
managed  read-only   other    private    p
managed  read-only   other    public     p
managed  read-only   owner    private    psda
managed  read-write  other    private    psd
managed  read-write  other    public     psd
managed  read-write  owner    private    psda
managed  admin       other    private    psda
managed  admin       other    public     psda
managed  admin       owner    private    psda
none     admin       owner    private    -
none     admin       other    public     -
none     read-write  other    private    -
none     anonymous   other    public     -
"""

LETTERS = {"p": "pull", "s": "push", "d": "delete", "a": "admin"}


def rows():
    lines = [line.split() for line in TABLE.strip().splitlines()[1:]]
    for mode, role, relation, visibility, expected in lines:
        actions = frozenset() if expected == "-" else frozenset(LETTERS[c] for c in expected)
        yield mode, role, relation, visibility, actions
