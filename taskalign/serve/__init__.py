"""Serve TaskMaster: a Task API (SQLite) with an OpenAI-compatible chat endpoint and a playground page.

    taskalign serve keys add alice --db tasks.sqlite        # prints the key once
    taskalign serve --model embedded --db tasks.sqlite --port 8000
See docs/serve.md. The app factory is `taskalign.serve.app.create_app`; `run(ServeConfig(...))` starts uvicorn.
"""

from dataclasses import dataclass

from taskalign.errors import UserError

__all__ = ["ServeConfig", "run"]


@dataclass(frozen=True, kw_only=True)  # by keyword only: ten settings, several of them strings
class ServeConfig:
    model: str
    db: str = "tasks.sqlite"
    model_name: str | None = None
    adapter: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    mode: str = "agent"
    guard: bool = False
    judge: str = "cross"
    served_name: str = "taskmaster"
    domain: str = "taskmaster"   # plain mode serves any domain; agent mode executes TaskMaster's tools only


def build_app(config: ServeConfig):
    """The app for `config`: loads the model (and the guard's judge) once, up front."""
    from taskalign.models import load_model
    from taskalign.serve.app import create_app

    from taskalign.domain import DEFAULT_DOMAIN, load_domain

    if config.mode not in ("agent", "plain"):
        raise UserError(f"--mode {config.mode!r} is not valid; use agent or plain.")
    domain = load_domain(config.domain)  # a bad --domain fails before the model loads
    if config.mode == "agent" and domain.name != DEFAULT_DOMAIN:
        raise UserError(f"--domain {config.domain}: agent mode executes TaskMaster's tools against the Task API, and "
                        f"domain {domain.name!r} has no executor here; serve it with --mode plain (tool calls go back "
                        "to the client).")
    model = load_model(config.model, config.model_name, config.adapter)
    guard = None
    if config.guard:
        from taskalign.serve.guard import load_guard

        guard = load_guard(config.judge, domain=domain)
    return create_app(model, config.db, guard=guard, mode=config.mode, model_name=config.served_name, domain=domain)


def run(config: ServeConfig) -> None:
    """Serve until interrupted."""
    import uvicorn

    app = build_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info")
