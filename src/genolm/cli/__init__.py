"""The ``genolm`` command line: ``main.py`` plus one module per verb.

A verb module defines::

    NAME = "tokenize"
    HELP = "one line for the verb list"
    DESCRIPTION = "a paragraph for `genolm tokenize --help`"
    EXAMPLES = '''
      genolm tokenize genome.fa --scheme kmer6
    '''
    def add_arguments(parser): ...
    def run(args) -> int | None: ...

Verb modules import only ``argparse`` at top level; heavy imports go inside ``run``
so that ``genolm --help`` stays instant.  No logic lives in the CLI: ``run`` builds a
config and calls one library function.
"""
