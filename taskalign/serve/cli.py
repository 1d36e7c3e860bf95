"""`taskalign serve` (start the server) and `taskalign serve keys add|list|revoke` (manage API keys).

    taskalign serve keys add alice --db tasks.sqlite
    taskalign serve keys revoke --id 3 --db tasks.sqlite        # or --owner alice: every key of alice
    taskalign serve --model embedded --db tasks.sqlite --port 8000 [--mode plain] [--guard]
"""

from pathlib import Path

import typer

from taskalign.errors import UserError

DB_HELP = "SQLite file holding tasks and API keys."


def _store(db: str):
    from taskalign.serve.store import Store

    return Store(Path(db))


def register(app: typer.Typer) -> None:
    serve = typer.Typer(help="Serve the model behind a Task API and an OpenAI-compatible chat endpoint.",
                        invoke_without_command=True)
    keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
    serve.add_typer(keys, name="keys")
    app.add_typer(serve, name="serve")

    @serve.callback()
    def start(ctx: typer.Context,
              model: str = typer.Option(None, "--model", help="Model spec: embedded, a folder, openai:URL, mock:FILE."),
              model_name: str = typer.Option(None, "--model-name", help="Model id on an openai: server."),
              adapter: str = typer.Option(None, "--adapter", help="PEFT adapter folder for a Hugging Face model."),
              host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
              port: int = typer.Option(8000, "--port", help="Port to listen on."),
              db: str = typer.Option("tasks.sqlite", "--db", help=DB_HELP),
              mode: str = typer.Option("agent", "--mode", help="agent: run tool calls on the caller's tasks; plain: return them."),
              guard: bool = typer.Option(False, "--guard", help="Judge replies and block ones that act on harmful requests."),
              judge: str = typer.Option("cross", "--judge", help="Judge spec the guard uses."),
              served_name: str = typer.Option("taskmaster", "--served-name", help="Model id that /v1/models reports."),
              domain: str = typer.Option("taskmaster", "--domain", help="Domain (built-in name or folder) whose persona, "
                                                                        "tools and guard policy a request gets when it "
                                                                        "sends none; other domains need --mode plain.")):
        """Serve the model behind a Task API and an OpenAI-compatible chat endpoint."""
        if ctx.invoked_subcommand is not None:
            return
        if not model:
            raise UserError("taskalign serve needs --model (e.g. --model embedded); see taskalign serve --help.")
        from taskalign.serve import ServeConfig, run

        run(ServeConfig(model=model, db=db, model_name=model_name, adapter=adapter, host=host, port=port, mode=mode,
                        guard=guard, judge=judge, served_name=served_name, domain=domain))

    @keys.command("add")
    def add(name: str = typer.Argument(..., help="Owner name; tasks belong to the owner."),
            db: str = typer.Option("tasks.sqlite", "--db", help=DB_HELP)):
        """Create an API key for NAME and print it (shown only this once)."""
        typer.echo(_store(db).add_key(name))

    @keys.command("list")
    def list_keys(db: str = typer.Option("tasks.sqlite", "--db", help=DB_HELP)):
        """List API keys (id, owner, prefix, created, revoked); keys themselves are never stored."""
        for row in _store(db).list_keys():
            state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
            typer.echo(f"{row['id']}\t{row['name']}\t{row['key_prefix']}…\t{row['created_at']}\t{state}")

    @keys.command("revoke")
    def revoke(key_id: int = typer.Option(None, "--id", help="Revoke the key with this id (from keys list)."),
               owner: str = typer.Option(None, "--owner", help="Revoke every key of this owner."),
               bare: str = typer.Argument(None, hidden=True),
               db: str = typer.Option("tasks.sqlite", "--db", help=DB_HELP)):
        """Revoke one key (--id N) or every key of an owner (--owner NAME)."""
        if bare is not None or (key_id is None) == (owner is None):
            hint = f" (got {bare!r})" if bare is not None else ""
            raise UserError(f"keys revoke takes exactly one of --id N or --owner NAME{hint}; "
                            "ids and owners are listed by taskalign serve keys list.")
        count = _store(db).revoke_keys(key_id=key_id, owner=owner)
        if not count:
            what = f"id {key_id}" if owner is None else f"owner {owner!r}"
            raise UserError(f"No active key with {what} in {db}; see taskalign serve keys list.")
        typer.echo(f"revoked {count} key(s)")
