"""distill: make a fine-tuned BERT text classifier small by distilling its logits into tiny students."""
