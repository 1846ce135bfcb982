"""`load_pipeline`, importing the pipeline-file modules (`_file_*`) only when called.

Most runs never read a pipeline file, so `import fanflow` does not pay for its modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fanflow.adapters import LLMAdapter
    from fanflow.engine.pipeline._pipeline import Pipeline

__all__ = ["load_pipeline"]


def load_pipeline(path: str | Path, network: LLMAdapter | None = None) -> Pipeline:
    """The pipeline a file written by `Pipeline.dump` (or by hand) describes, built.

    `network` replaces the file's network. API keys come from the environment (see
    `_file_network`). A bad file is a `ConfigurationError` naming the key and line.
    """
    from fanflow.engine.pipeline import _file_load

    return _file_load.load_pipeline(path, network)
