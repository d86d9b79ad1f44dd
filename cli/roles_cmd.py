"""`tickpipe roles`: every role the engine can run, from its declaration (engine/role.py)."""

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the roles as JSON.")
def roles(as_json):
    """List the roles: each one folder of workers/ (or a package TICKPIPE_ROLES names),
    with its rings, counters, config sections and what it does (docs/runner.md,
    "Adding a role")."""
    from tickpipe.engine.registry import ROLE_ERRORS, ROLES
    for error in ROLE_ERRORS:  # a package TICKPIPE_ROLES names that could not be taken
        click.echo(f"warning: {error}", err=True)
    rows = [{"name": role.name, "role_id": role.role_id, "rows": list(role.rows),
             "agent": role.agent, "summary": role.summary,
             "rings": [f"{ring.section}: {ring.producer} -> {ring.consumer} ({ring.records})"
                       for ring in role.rings],
             "counters": sorted(role.counters, key=role.counters.get),
             "config": ([role.name] if role.config else []) + list(role.sections),
             "background": role.background, "source": role.source,
             "gates_rings": role.gates_rings, "runs_plugins": role.runs_plugins}
            for role in ROLES.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        flags = [flag for flag in ("source", "background", "gates_rings", "runs_plugins")
                 if row[flag]]
        click.echo(f"{row['name']} (role {row['role_id']}, rows "
                   f"{', '.join(map(str, row['rows']))}{'; ' + ', '.join(flags) if flags else ''})"
                   f": {row['summary']}")
        for ring in row["rings"]:
            click.echo(f"  ring {ring}")
        if row["config"]:
            click.echo(f"  config [{'], ['.join(row['config'])}]")
        click.echo(f"  counters {', '.join(row['counters']) or '-'}")
