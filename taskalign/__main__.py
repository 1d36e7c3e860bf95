"""`python -m taskalign ...` runs the CLI (this is what `accelerate launch -m taskalign` uses)."""

from taskalign.cli import main

main()
