"""A web page and JSON API over ``distill.serving``: every model of a run side by side.

    python -m distill.web logs/pipeline/<time>     # then open http://127.0.0.1:8000/

``models`` loads what a run or export folder holds, ``predict`` runs and compares them,
``app`` is the FastAPI app, ``deadline`` the time a request may take to arrive, ``static/`` the
page (with the logistic student in JavaScript). docs/serving.md documents the API and its limits.
The command line lives in ``distill.cli.serve``: it reads the run's config for the val split.
"""
