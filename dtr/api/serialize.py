"""JSON shapes of the API's resources (DTR's field names)."""

import json


def iso(moment):
    return moment.isoformat() + "Z" if moment else None


def account(a):
    body = {"id": a.id, "name": a.name, "type": "organization" if a.is_org else "user"}
    if not a.is_org:
        body.update(
            role=a.role,
            isAdmin=a.role == "admin",
            isActive=a.active,
            isLdap=a.ldap_dn is not None,
            isOidc=a.oidc_subject is not None,
        )
    body["createdAt"] = iso(a.created_at)
    return body


def team(t, org_name):
    return {
        "id": t.id,
        "name": t.name,
        "organization": org_name,
        "description": t.description,
        "type": "ldap" if t.ldap_group_dn else "oidc" if t.oidc_group else "managed",
        "ldapGroupDN": t.ldap_group_dn,
        "oidcGroup": t.oidc_group,
    }


def repository(r):
    return {
        "id": r.id,
        "namespace": r.namespace.name,
        "namespaceType": "organization" if r.namespace.is_org else "user",
        "name": r.name,
        "fullName": r.full_name,
        "visibility": r.visibility,
        "pullOnlySigned": r.pull_only_signed,
        "shortDescription": r.short_description,
        "longDescription": r.long_description,
        "createdAt": iso(r.created_at),
    }


def audit_event(e):
    return {
        "id": e.id,
        "at": iso(e.at),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "detail": json.loads(e.detail) if e.detail else None,
        "address": e.address,
    }


def trusted_key(k):
    return {
        "name": k.name,
        "scope": scope_of(k),
        "type": "certificate" if "BEGIN CERTIFICATE" in k.pem else "publicKey",
        "algorithm": k.algorithm,
        "fingerprint": k.fingerprint,
        "pem": k.pem,
        "createdBy": k.created_by,
        "createdAt": iso(k.created_at),
    }


def immutable_tag_rule(r):
    return {
        "id": r.id,
        "pattern": r.pattern,
        "scope": scope_of(r),
        "createdBy": r.created_by,
        "createdAt": iso(r.created_at),
    }


def retention_policy(p):
    return {
        "scope": scope_of(p),
        "rules": json.loads(p.rules),
        "schedule": p.schedule,
        "updatedBy": p.updated_by,
        "updatedAt": iso(p.updated_at),
    }


def retention_run(r):
    return {
        "id": r.id,
        "triggeredBy": r.triggered_by,
        "dryRun": r.dry_run,
        "startedAt": iso(r.started_at),
        "finishedAt": iso(r.finished_at),
        "tagsKept": r.tags_kept,
        "tagsDeleted": r.tags_deleted,
        "repositories": json.loads(r.report),
    }


def deleted_tag(d, digest):
    return {
        "id": d.id,
        "tag": d.name,
        "digest": digest,
        "deletedBy": d.deleted_by,
        "deletedAt": iso(d.deleted_at),
    }


def scope_of(row) -> str:
    """What a row of `namespace_scopes` belongs to: a repository, a namespace or (webhooks)
    the registry."""
    if row.repository_id is not None:
        return "repository"
    return "namespace" if row.namespace_id is not None else "registry"


def webhook(w):
    """A webhook, without its secret (shown once, when created)."""
    return {
        "id": w.id,
        "url": w.url,
        "events": w.events.split(","),
        "enabled": w.enabled,
        "scope": scope_of(w),
        "createdBy": w.created_by,
        "createdAt": iso(w.created_at),
    }


def webhook_delivery(d, attempts):
    return {
        "id": d.id,
        "event": d.event,
        "eventId": d.event_id,
        "state": d.state,
        "attempts": d.attempts,
        "nextAttemptAt": iso(d.next_attempt_at) if d.state == "pending" else None,
        "redeliveryOf": d.redelivery_of,
        "createdAt": iso(d.created_at),
        "finishedAt": iso(d.finished_at),
        "payload": d.payload,
        "lastAttempts": [
            {
                "at": iso(a.at),
                "statusCode": a.status_code,
                "error": a.error,
                "milliseconds": a.milliseconds,
            }
            for a in attempts
        ],
    }


def provenance(p):
    """A tag's signatures and referrers (services/signatures.Provenance)."""
    return {
        "signed": p.signed,
        "signatures": [
            {
                "type": s.type,
                "signer": s.signer,
                "verified": s.verified,
                "digest": s.digest,
                "problem": s.problem,
            }
            for s in p.signatures
        ],
        "referrers": [
            {"digest": r.digest, "artifactType": r.artifact_type, "kind": r.kind}
            for r in p.referrers
        ],
    }


def _credential(row, body, secret_key, secret):
    """What access tokens and robots show alike: when made, until when, last used where;
    the secret only in the answer that made it."""
    body.update(
        createdAt=iso(row.created_at),
        expiresAt=iso(row.expires_at),
        lastUsedAt=iso(row.last_used_at),
        lastUsedFrom=row.last_used_from,
    )
    if secret is not None:
        body[secret_key] = secret
    return body


def access_token(t, secret=None):
    body = {"id": t.id, "name": t.name, "scopes": t.scopes.split()}
    return _credential(t, body, "token", secret)


def robot(r, access, secret=None):
    body = {
        "name": f"{r.organization.name}+{r.name}",
        "shortName": r.name,
        "organization": r.organization.name,
        "description": r.description,
        "enabled": r.enabled,
        "access": access,
        "createdBy": r.created_by,
    }
    return _credential(r, body, "secret", secret)


def job_fields(run, job) -> dict:
    """What every run of a job (models.JobRun) shows: which job, its state, who started it
    and when."""
    return {
        "id": run.id,
        "job": job,
        "state": run.state,
        "phase": run.phase,
        "triggeredBy": run.triggered_by,
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
    }


def proxy_cache(row, name):
    """A proxy namespace; its password is never shown, only whether it has one."""
    return {
        "name": name,
        "upstreamUrl": row.upstream_url,
        "username": row.username,
        "hasPassword": bool(row.password),
        "verifyTls": row.verify_tls,
        "visibility": row.visibility,
        "hosts": [host for host in row.hosts.split(",") if host],
        "defaultMirror": row.default_mirror,
        "tagCheckSeconds": row.tag_check_seconds,
        "evictAfterDays": row.evict_after_days,
        "createdBy": row.created_by,
        "createdAt": iso(row.created_at),
        "health": proxy_health(row),
    }


def replication_rule(rule, last_run):
    """A replication rule; its password is never shown, only whether it has one."""
    return {
        "name": rule.name,
        "direction": rule.direction,
        "url": rule.remote_url,
        "username": rule.username,
        "hasPassword": bool(rule.password),
        "verifyTls": rule.verify_tls,
        "tags": rule.tags.splitlines(),
        "schedule": rule.schedule,
        "enabled": rule.enabled,
        "createdBy": rule.created_by,
        "createdAt": iso(rule.created_at),
        # push: what goes where, and whether pushes trigger; pull: from where to where
        "repositories": rule.repositories.splitlines(),
        "remotePrefix": rule.remote_prefix,
        "onPush": rule.direction == "push" and rule.on_push,
        "remoteRepository": rule.remote_repository,
        "localRepository": rule.local_repository,
        "lastRun": replication_run(last_run) if last_run is not None else None,
    }


def replication_run(run, items=None):
    shown = {
        "id": run.id,
        "trigger": run.trigger,
        "triggeredBy": run.triggered_by,
        "repository": run.repository,
        "tag": run.tag,
        "digest": run.digest,
        "state": run.state,
        "queuedAt": iso(run.queued_at),
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "copied": run.copied,
        "skipped": run.skipped,
        "failed": run.failed,
        "bytes": run.bytes,
        "error": run.error,
    }
    if items is not None:
        shown["items"] = [
            {
                "repository": item.repository,
                "reference": item.reference,
                "digest": item.digest,
                "outcome": item.outcome,
                "attempts": item.attempts,
                "bytes": item.bytes,
                "error": item.error,
                "at": iso(item.at),
            }
            for item in items
        ]
    return shown


def proxy_health(row):
    from ..services.proxy_caches import health_state

    return {
        "state": health_state(row),
        "lastSuccessAt": iso(row.last_success_at),
        "lastFailureAt": iso(row.last_failure_at),
        "lastFailure": row.last_failure,
    }
