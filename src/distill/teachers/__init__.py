"""Teachers made elsewhere: a Hugging Face classifier fine-tuned on the user's labels
(``hf_classifier``), its labels matched to the corpus's by name (``label_map``), and the
config node that names either (``spec``). Submodules are imported where used: the spec is
read by every run, the classifier needs transformers."""
