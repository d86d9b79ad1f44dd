"""`tickpipe bridge-keys NAME`: a CURVE key pair for a bridge (workers/bridge_out/keys.py)."""

import json
import os

import click


@click.command("bridge-keys")
@click.argument("name")
@click.option("--dir", "folder", default=".", show_default=True,
              help="Where to write NAME.key (public) and NAME.key_secret (secret, mode 0600).")
@click.option("--json", "as_json", is_flag=True, help="Print the two paths as JSON.")
def bridge_keys(name, folder, as_json):
    """Make a key pair for an encrypted, authenticated bridge (CurveZMQ).

    Give NAME.key, the public key, to the other engine's host; keep NAME.key_secret.
    The out bridge sets secret_key to its own .key_secret and client_keys to a folder
    of the in bridges' .key files; an in bridge sets secret_key to its own and
    server_key to the out bridge's .key (docs/bridges.md, "Encryption").
    """
    if not name or os.sep in name or name.startswith("."):
        raise click.BadParameter("a plain file name, without a folder", param_hint="NAME")
    try:
        import zmq
    except ImportError:
        raise click.ClickException("the bridges need pyzmq: pip install 'tickpipe[bridge]'") \
            from None
    if not zmq.has("curve"):
        raise click.ClickException("this pyzmq's libzmq was built without CURVE")
    from tickpipe.workers.bridge_out.keys import make_keys
    try:
        public, secret = make_keys(name, folder)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"public": public, "secret": secret}))
        return
    click.echo(f"public key: {public}   (give it to the other engine's host)")
    click.echo(f"secret key: {secret}   (keep it here; mode 0600)")
