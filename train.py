"""Train one model: ``python train.py model=bilstm`` (see ``distill.cli.train``)."""

from distill.cli.train import main

if __name__ == "__main__":
    main()
