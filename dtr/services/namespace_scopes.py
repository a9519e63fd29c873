"""Rows that belong to one repository or to every repository of a namespace (`repository_id`
None): trusted keys, immutable tag rules, webhooks, retention policies. The model has
`namespace_id` and `repository_id`."""

from .. import access


class AdministeredScope:
    """A repository or a namespace, for a caller who administers it (admin level on the
    repository; `repositories.administered_namespace` for a namespace). `MANAGING` names what
    is managed in a refusal."""

    MANAGING = "this"

    def __init__(self, namespace_id, repository_id, target):
        self.namespace_id, self.repository_id, self.target = namespace_id, repository_id, target

    @classmethod
    def of_repository(cls, identity, full_name):
        from .repositories import visible_repository

        repository = visible_repository(identity, full_name, access.ADMIN)
        return cls(repository.namespace_id, repository.id, full_name)

    @classmethod
    def of_namespace(cls, identity, namespace):
        from .repositories import administered_namespace

        account = administered_namespace(identity, namespace, cls.MANAGING)
        return cls(account.id, None, namespace)


def of_scope(model, namespace_id, repository_id):
    """Rows of exactly that scope: the repository's own, or (None) the namespace's."""
    if repository_id is None:
        return (model.namespace_id == namespace_id) & model.repository_id.is_(None)
    return model.repository_id == repository_id


def applying_to(model, namespace_id, repository_id):
    """Rows that apply to a repository: its own and its namespace's (values or bindparams)."""
    own = (model.repository_id == repository_id) | model.repository_id.is_(None)
    return (model.namespace_id == namespace_id) & own


def own_first(model):
    """An ordering: the repository's own rows before its namespace's."""
    return model.repository_id.is_(None)
