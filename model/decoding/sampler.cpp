// Placeholder: decoding is being written (issue 3).
