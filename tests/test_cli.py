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


def test_help_imports_no_heavy_library():
    # guards `genolm --help` staying instant: building every verb's arguments used to import torch
    # and transformers (about 3 s); only the verb on the command line gets its arguments now
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from genolm.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'pandas', 'sklearn') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "<verb>" in out and "HEAVY []" in out
    # a verb's own --help still lists its arguments
    verb = subprocess.run(
        [sys.executable, "-m", "genolm.cli.main", "ism", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--sequence" in verb and "examples:" in verb
