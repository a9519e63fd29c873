"""Rows that belong to one repository or to every repository of a namespace (`repository_id`
None): trusted keys, immutable tag rules. The model has `namespace_id` and `repository_id`."""


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
