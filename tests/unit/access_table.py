"""The permission table of `access.allowed_actions`, as data.

Columns: auth mode; global role of the caller ("anonymous": no caller); relation of the
caller to the repository; visibility; the expected actions (p=pull, s=push, d=delete,
a=admin; - for none). Relations: "owner" (the repository is in the caller's user
namespace), "owners-team" (caller in the owners team of the repository's organization),
"team-ro/rw/admin" (a team of the caller has that grant on the repository), "ns-ro/rw/admin"
(a team of the caller has that grant on the whole organization namespace), "user-ro/rw/admin"
(the caller has that grant on a repository of another user's namespace), "no-grant".
"""

TABLE = """
mode     role        relation     visibility expected
managed  anonymous   no-grant     private    -
managed  anonymous   no-grant     public     p
managed  none        owner        private    psda
managed  none        owner        public     psda
managed  none        owners-team  private    psda
managed  none        owners-team  public     psda
managed  none        team-ro      private    p
managed  none        team-ro      public     p
managed  none        team-rw      private    psd
managed  none        team-rw      public     psd
managed  none        team-admin   private    psda
managed  none        team-admin   public     psda
managed  none        ns-ro        private    p
managed  none        ns-ro        public     p
managed  none        ns-rw        private    psd
managed  none        ns-rw        public     psd
managed  none        ns-admin     private    psda
managed  none        ns-admin     public     psda
managed  none        user-ro      private    p
managed  none        user-ro      public     p
managed  none        user-rw      private    psd
managed  none        user-rw      public     psd
managed  none        user-admin   private    psda
managed  none        user-admin   public     psda
managed  none        no-grant     private    -
managed  none        no-grant     public     p
managed  read-only   owner        private    psda
managed  read-only   owner        public     psda
managed  read-only   owners-team  private    psda
managed  read-only   owners-team  public     psda
managed  read-only   team-ro      private    p
managed  read-only   team-ro      public     p
managed  read-only   team-rw      private    psd
managed  read-only   team-rw      public     psd
managed  read-only   team-admin   private    psda
managed  read-only   team-admin   public     psda
managed  read-only   ns-ro        private    p
managed  read-only   ns-ro        public     p
managed  read-only   ns-rw        private    psd
managed  read-only   ns-rw        public     psd
managed  read-only   ns-admin     private    psda
managed  read-only   ns-admin     public     psda
managed  read-only   user-ro      private    p
managed  read-only   user-ro      public     p
managed  read-only   user-rw      private    psd
managed  read-only   user-rw      public     psd
managed  read-only   user-admin   private    psda
managed  read-only   user-admin   public     psda
managed  read-only   no-grant     private    p
managed  read-only   no-grant     public     p
managed  read-write  owner        private    psda
managed  read-write  owner        public     psda
managed  read-write  owners-team  private    psda
managed  read-write  owners-team  public     psda
managed  read-write  team-ro      private    psd
managed  read-write  team-ro      public     psd
managed  read-write  team-rw      private    psd
managed  read-write  team-rw      public     psd
managed  read-write  team-admin   private    psda
managed  read-write  team-admin   public     psda
managed  read-write  ns-ro        private    psd
managed  read-write  ns-ro        public     psd
managed  read-write  ns-rw        private    psd
managed  read-write  ns-rw        public     psd
managed  read-write  ns-admin     private    psda
managed  read-write  ns-admin     public     psda
managed  read-write  user-ro      private    psd
managed  read-write  user-ro      public     psd
managed  read-write  user-rw      private    psd
managed  read-write  user-rw      public     psd
managed  read-write  user-admin   private    psda
managed  read-write  user-admin   public     psda
managed  read-write  no-grant     private    psd
managed  read-write  no-grant     public     psd
managed  admin       owner        private    psda
managed  admin       owner        public     psda
managed  admin       owners-team  private    psda
managed  admin       owners-team  public     psda
managed  admin       team-ro      private    psda
managed  admin       team-ro      public     psda
managed  admin       team-rw      private    psda
managed  admin       team-rw      public     psda
managed  admin       team-admin   private    psda
managed  admin       team-admin   public     psda
managed  admin       ns-ro        private    psda
managed  admin       ns-ro        public     psda
managed  admin       ns-rw        private    psda
managed  admin       ns-rw        public     psda
managed  admin       ns-admin     private    psda
managed  admin       ns-admin     public     psda
managed  admin       user-ro      private    psda
managed  admin       user-ro      public     psda
managed  admin       user-rw      private    psda
managed  admin       user-rw      public     psda
managed  admin       user-admin   private    psda
managed  admin       user-admin   public     psda
managed  admin       no-grant     private    psda
managed  admin       no-grant     public     psda
none     admin       owner        private    -
none     admin       owner        public     -
none     read-write  owner        private    -
none     read-write  owner        public     -
none     anonymous   no-grant     private    -
none     anonymous   no-grant     public     -
"""

LETTERS = {"p": "pull", "s": "push", "d": "delete", "a": "admin"}


def rows():
    lines = [line.split() for line in TABLE.strip().splitlines()[1:]]
    for mode, role, relation, visibility, expected in lines:
        actions = frozenset() if expected == "-" else frozenset(LETTERS[c] for c in expected)
        yield mode, role, relation, visibility, actions


# Personal access tokens: the owner's actions (the table above) narrowed to the token's scopes.
# Columns: scopes (comma-separated; "-" none), the owner's global role, relation, visibility,
# expected.
TOKEN_TABLE = """
scopes                    role        relation     visibility expected
registry:pull             none        owner        private    p
registry:push             none        owner        private    psd
registry:pull,registry:push none      owner        private    psd
api:read                  none        owner        private    p
api:write                 none        owner        private    psda
-                         none        owner        private    -
registry:pull             none        team-ro      private    p
registry:push             none        team-ro      private    p
registry:push             none        team-rw      private    psd
api:write                 none        team-rw      private    psd
registry:push             none        no-grant     private    -
registry:push             none        no-grant     public     p
registry:pull             admin       no-grant     private    p
registry:push             admin       no-grant     private    psd
api:write                 admin       no-grant     private    psda
registry:push             read-only   no-grant     private    p
registry:push             read-write  ns-admin     private    psd
api:read                  read-write  no-grant     private    p
"""

# Robot accounts: what their grants name, in their organization, and public pulls.
# grant: "repo-pull"/"repo-push" on the repository `granted`, "ns-pull"/"ns-push" on the whole
# organization, "none". target: the repository asked about: "granted" (the one a repo grant
# names), "sibling" (another repository of the robot's organization), "foreign" (a repository
# of another organization, whose name differs only in its namespace).
ROBOT_TABLE = """
grant      target   visibility expected
repo-pull  granted  private    p
repo-push  granted  private    ps
repo-pull  sibling  private    -
repo-push  sibling  private    -
repo-pull  sibling  public     p
ns-pull    granted  private    p
ns-pull    sibling  private    p
ns-push    sibling  private    ps
ns-push    foreign  private    -
repo-push  foreign  private    -
ns-push    foreign  public     p
none       granted  private    -
none       granted  public     p
"""


def _parse(table):
    return [line.split() for line in table.strip().splitlines()[1:]]


def _actions(expected):
    return frozenset() if expected == "-" else frozenset(LETTERS[c] for c in expected)


def token_rows():
    for scopes, role, relation, visibility, expected in _parse(TOKEN_TABLE):
        chosen = frozenset() if scopes == "-" else frozenset(scopes.split(","))
        yield chosen, role, relation, visibility, _actions(expected)


def robot_rows():
    for grant, target, visibility, expected in _parse(ROBOT_TABLE):
        yield grant, target, visibility, _actions(expected)
