import subprocess
import sys

import pytest

from genolm.cli.main import _verb_modules, build_parser, main


def test_top_level_help_lists_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "ls" in capsys.readouterr().out


@pytest.mark.parametrize("mod", _verb_modules(), ids=lambda m: m.NAME)
def test_every_verb_has_help_ending_in_examples(mod):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    text = sub.choices[mod.NAME].format_help()
    assert "examples:" in text
    tail = text.split("examples:")[-1]
    assert "genolm " + mod.NAME in tail


def test_ls_unknown_kind_suggests(capsys):
    assert main(["ls", "tokenizrs"]) == 2
    assert "Did you mean 'tokenizers'" in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "genolm.cli.main", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "genolm" in out.stdout
