"""`trainyard approvals ...` (data grants) and `trainyard audit` (the audit trail).

trainyard approvals request --dataset reviews --action train --project P --purpose "intent model" --days 30
trainyard approvals approve A-ID --reason "fits the project's purpose"
trainyard approvals revoke A-ID --reason "consent withdrawn"
trainyard approvals list --state active --dataset reviews
trainyard approvals show A-ID
trainyard audit --resource job/t-1.1
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from sdk.cli import output as out
from sdk.cli.session import session
from sdk.contracts.errors import Problem, ValidationError
from sdk.governance import ApprovalView, AuditRecordView, GrantActionName, GrantStateFilter

GRANT_STYLE = {"requested": "cyan", "approved": "green", "denied": "red", "revoked": "yellow", "expired": "dim"}
ReasonOpt = Annotated[str, typer.Option(help="Why (kept in the grant's history and the audit trail).")]
TenantOpt = Annotated[str | None, typer.Option(help="Another tenant (admins of the platform-admin tenant).")]


def _state(value: str) -> str:
    return f"[{GRANT_STYLE.get(value, 'white')}]{out.text(value)}[/]"


def _rows(grants: list[ApprovalView]) -> list[list[str]]:
    return [
        [g.approval_id, _state(g.state), out.text(g.action), out.text(", ".join(g.datasets)), out.text(g.grantee),
         out.text(g.requested_by), out.when(g.expires_at)]
        for g in grants
    ]  # fmt: skip


def _with_version(g: ApprovalView, dataset: str) -> str:
    return f"{dataset} v{g.versions[dataset]}" if dataset in g.versions else dataset


def _show(g: ApprovalView) -> None:
    out.fields([
        ("approval", g.approval_id), ("state", _state(g.state)), ("action", out.text(g.action)),
        ("datasets", out.text(", ".join(_with_version(g, d) for d in g.datasets))), ("grantee", out.text(g.grantee)),
        ("purpose", out.text(g.purpose)), ("requested by", out.text(g.requested_by)),
        ("requested", out.when(g.requested_at)), ("expires", out.when(g.expires_at)),
    ])  # fmt: skip
    rows = [
        [
            out.when(c.at),
            out.text(c.actor),
            out.text(c.from_state or "-"),
            _state(c.to_state),
            out.text(c.reason or "-"),
        ]
        for c in g.history
    ]
    out.table("history", ["when", "who", "from", "to", "why"], rows)


def _decided(g: ApprovalView) -> None:
    out.stdout().print(f"approval {g.approval_id} is {_state(g.state)}")


def _versions(pairs: list[str]) -> dict[str, int]:
    versions = {}
    for pair in pairs:
        name, _, number = pair.partition("=")
        if not name or not number.isdigit() or int(number) < 1:
            raise ValidationError([Problem("dataset_version", f"{pair!r} is not NAME=N with N >= 1")])
        versions[name] = int(number)
    return versions


def approvals_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)

    @app.command("request")
    def request(
        ctx: typer.Context,
        dataset: Annotated[list[str], typer.Option("--dataset", help="Dataset name (repeatable).")],
        action: Annotated[GrantActionName, typer.Option(help="train, validate or read.")],
        purpose: Annotated[str, typer.Option(help="What the data is for (shown to approvers).")],
        days: Annotated[int, typer.Option(min=1, max=365, help="Days the grant lasts once approved.")],
        project: Annotated[
            str | None,
            typer.Option(
                help="The project whose datasets are meant; the grant goes to "
                "its tasks unless --principal names one person."
            ),
        ] = None,
        principal: Annotated[
            str | None, typer.Option(help="Grant it to this principal (a user's sub) only, on the project's datasets.")
        ] = None,
        dataset_version: Annotated[
            list[str] | None,
            typer.Option(help="Limit the grant to one version of a dataset, NAME=N (repeatable; default: all)."),
        ] = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """Ask an approver for a grant on datasets of a project, to the project or to one principal."""
        versions = _versions(dataset_version or [])
        client = session(ctx).client()
        grant = client.request_approval(
            dataset, action=action, purpose=purpose, days=days, project=project, principal=principal, versions=versions
        )
        out.emit(grant, as_json=json_, render=_show)

    @app.command("approve")
    def approve(ctx: typer.Context, approval: str, reason: ReasonOpt = "", json_: out.JsonOpt = False) -> None:
        """Approve a request (approvers and admins of its tenant; not your own)."""
        out.emit(session(ctx).client().approve(approval, reason=reason), as_json=json_, render=_decided)

    @app.command("deny")
    def deny(ctx: typer.Context, approval: str, reason: ReasonOpt = "", json_: out.JsonOpt = False) -> None:
        """Deny a request."""
        out.emit(session(ctx).client().deny(approval, reason=reason), as_json=json_, render=_decided)

    @app.command("revoke")
    def revoke(
        ctx: typer.Context, approval: str, reason: ReasonOpt = "", tenant: TenantOpt = None, json_: out.JsonOpt = False
    ) -> None:
        """Revoke a grant: its running jobs are cancelled at the next sweep."""
        grant = session(ctx).client().revoke(approval, reason=reason, tenant=tenant)
        out.emit(grant, as_json=json_, render=_decided)

    @app.command("list")
    def list_(
        ctx: typer.Context,
        state: Annotated[
            GrantStateFilter | None, typer.Option(help="current, active, requested, expired, revoked or denied.")
        ] = None,
        dataset: Annotated[str | None, typer.Option(help="Grants naming this dataset.")] = None,
        principal: Annotated[str | None, typer.Option(help="Grants to this principal (or project:ID).")] = None,
        tenant: TenantOpt = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """List grants: the tenant's for approvers and admins, else yours."""
        grants = session(ctx).client().list_approvals(state=state, dataset=dataset, principal=principal, tenant=tenant)
        if json_:
            out.print_json(grants)
            return
        out.table(
            "approvals", ["id", "state", "action", "datasets", "grantee", "requested by", "expires"], _rows(grants)
        )

    @app.command("show")
    def show(ctx: typer.Context, approval: str, tenant: TenantOpt = None, json_: out.JsonOpt = False) -> None:
        """Show one grant and its history."""
        out.emit(session(ctx).client().get_approval(approval, tenant=tenant), as_json=json_, render=_show)

    return app


def _audit_rows(records: list[AuditRecordView]) -> list[list[str]]:
    return [
        [out.when(r.at), out.text(r.actor), out.text(r.action), out.text(r.resource),
         "[green]allowed[/]" if r.decision == "allowed" else "[red]denied[/]", out.text(r.reason or "-"),
         out.text(r.request_id or "-")]
        for r in records
    ]  # fmt: skip


def audit(
    ctx: typer.Context,
    resource: Annotated[str | None, typer.Option(help="e.g. job/ID, approval/ID, dataset/PROJECT/NAME.")] = None,
    actor: Annotated[str | None, typer.Option(help="Records of this principal (admins).")] = None,
    since: Annotated[datetime | None, typer.Option(help="Only records at or after this time (ISO-8601).")] = None,
    tenant: TenantOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many records.")] = 100,
    json_: out.JsonOpt = False,
) -> None:
    """Read the audit trail, newest first: the tenant's for admins, your own actions otherwise."""
    records = session(ctx).client().audit(resource=resource, actor=actor, since=since, tenant=tenant, limit=limit)
    if json_:
        out.print_json(records)
        return
    out.table("audit", ["when", "who", "action", "resource", "decision", "why", "request"], _audit_rows(records))
