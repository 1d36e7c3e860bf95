"""Export a trained model for the Hugging Face Hub: merged weights, tokenizer and chat template, a model card from its
red-team runs, and optionally its preference pairs as a dataset (see docs/export.md).

    from taskalign.export import ExportConfig, run
    result = run(ExportConfig(source="runs/pipeline", out="export/taskmaster", prefs=True))
"""

from taskalign.export.export import ExportConfig, Exported, run, upload_commands

__all__ = ["ExportConfig", "Exported", "run", "upload_commands"]
