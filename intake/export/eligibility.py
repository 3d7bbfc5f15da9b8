"""Which records may be exported, and why the others are held back: the names the bag writer,
the catalogue and the command line have always imported, now answered by the publication
policy (`intake.export.policy`), the one place that decides.
"""

from __future__ import annotations

from intake.export.policy import (
    EXPORTABLE_STATES,
    REASONS,
    Decision,
    consented_content,
)
from intake.export.policy import record_decision as decide

__all__ = ["EXPORTABLE_STATES", "REASONS", "Decision", "consented_content", "decide"]
