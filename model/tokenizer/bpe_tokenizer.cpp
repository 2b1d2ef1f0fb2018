// Placeholder: the tokenizer is being written (issue 3).
