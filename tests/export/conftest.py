"""run_cli: `taskalign ARGS` through its real entry point, usable from module-scoped fixtures (the shared `cli`
fixture is per test)."""

import contextlib
import io
import sys
from types import SimpleNamespace


def run_cli(*args) -> SimpleNamespace:
    """code, out and err of `taskalign ARGS` run in-process (a UserError becomes one line and exit code 2)."""
    from taskalign.cli import main

    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["taskalign", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.argv = argv
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())
