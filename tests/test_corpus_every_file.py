"""Every file of ../shared/corpus parses through the same path `fwcheck check` takes (format
detected from the content), and says something: rules or profile settings. The per-format
corpus tests count each file's rules; this one makes sure no file is left out."""

from __future__ import annotations

from pathlib import Path

from checker.model.netfilter import Ruleset
from checker.model.windows import WindowsRuleset
from checker.pipeline import parse_sources


def test_every_corpus_file_parses(shared_dir: Path) -> None:
    corpus = shared_dir / "corpus"
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.name != "README.md")
    assert len(files) >= 14
    for path in files:
        (model,) = parse_sources([(str(path), path.read_bytes())])
        if isinstance(model, Ruleset):
            assert sum(len(c.rules) for t in model.tables for c in t.chains), path
        else:
            assert isinstance(model, WindowsRuleset)
            assert model.rules or model.profiles, path
