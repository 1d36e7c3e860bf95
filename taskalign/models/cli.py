"""`taskalign chat` and `taskalign models`: talk to any model spec, and show where the embedded model lives."""

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from taskalign.domain import conversation
from taskalign.models.base import GenerationConfig

console = Console()

MODEL_HELP = "embedded | ./hf-folder | hub/id | openai:<base_url> | mock:<file.jsonl>"


def register(app: typer.Typer) -> None:
    app.command()(chat)
    app.command()(models)


def show_reply(reply, assistant: str = "TaskMaster") -> None:
    """The reply as text (brackets in it are shown, never read as rich markup) and each tool call as a panel."""
    if reply.error:
        console.print(f"[red]error:[/red] {escape(reply.error)}")
        return
    from taskalign.domain.toolcalls import strip_tool_calls

    text = strip_tool_calls(reply.text)
    if text:
        console.print(f"[bold cyan]{escape(assistant)}:[/bold cyan] {escape(text)}")
    for call in reply.tool_calls:
        body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
        title = "tool call" if call.valid else f"invalid tool call: {call.error}"
        console.print(Panel(body if call.valid else call.raw, title=title, border_style="green" if call.valid else "red"))


def chat(
    model: str = typer.Option("embedded", "--model", help=MODEL_HELP),
    model_name: str = typer.Option(None, "--model-name", help="Model id on an OpenAI-compatible server."),
    adapter: str = typer.Option(None, "--adapter", help="PEFT adapter folder to apply to a Hugging Face model."),
    message: list[str] = typer.Option(None, "-m", "--message", help="Send this message (repeat for several turns); "
                                      "without -m the chat is interactive."),
    system: str = typer.Option(None, "--system", help="Replace the TaskMaster system prompt."),
    max_new_tokens: int = typer.Option(160, help="Longest reply in tokens."),
    temperature: float = typer.Option(0.0, help="0 is greedy."),
    domain: str = typer.Option("taskmaster", "--domain", help="A built-in domain name or a domain folder: its "
                               "persona and tools."),
    system_prompt: str = typer.Option(None, "--system-prompt", help="FILE: its text as the system prompt; 'none': "
                                      "no system message (a server that injects its own)."),
):
    """Chat with a model as a domain's assistant (one-shot with -m, or interactive); exits 2 when a reply was an error."""
    from taskalign.domain import load_domain
    from taskalign.domain.toolcalls import parse_tool_calls
    from taskalign.models import load_model

    where = load_domain(domain)
    prompt = system or conversation.system_for(system_prompt, where)
    llm = load_model(model, model_name=model_name, adapter=adapter, tools=where.tools)
    config = GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature, batch_size=1)
    messages = conversation.start(prompt) if prompt else []
    turns = iter(message) if message else _ask(where.assistant)
    failed = False
    try:
        for text in turns:
            reply = llm.generate([conversation.add(messages, "user", text)], config)[0]
            reply.tool_calls = parse_tool_calls(reply.text, where.tools)
            show_reply(reply, where.assistant)
            failed = failed or bool(reply.error)
            conversation.add(messages, "assistant", reply.text)
    finally:
        llm.close()
    if failed:
        raise typer.Exit(2)


def _ask(assistant: str = "TaskMaster"):
    console.print(f"[dim]Chatting with {escape(assistant)}; empty line or Ctrl-D to quit.[/dim]")
    while True:
        try:
            text = console.input("[bold]you:[/bold] ").strip()
        except EOFError:
            return
        if not text:
            return
        yield text


def models():
    """Show what `embedded` resolves to, where it is cached and its size."""
    from taskalign.models.embedded import describe

    for key, value in describe().items():
        console.print(f"[bold]{key}[/bold]: {value}")
