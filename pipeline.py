"""Run every stage of an experiment: ``python pipeline.py experiment=quickstart`` (see ``distill.cli.pipeline``)."""

from distill.cli.pipeline import main

if __name__ == "__main__":
    main()
