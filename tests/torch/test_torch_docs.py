"""Every ``>>>`` example of ``docs/torch.md`` runs and gives the printed output.

The page's ``python`` blocks share one namespace, in page order, as a reader
typing them into one session would.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "torch.md"


def test_torch_page_examples_run():
    text = PAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 6
    source = "\n".join(blocks)
    test = doctest.DocTestParser().get_doctest(source, {}, str(PAGE), str(PAGE), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 15
    assert result.failed == 0
