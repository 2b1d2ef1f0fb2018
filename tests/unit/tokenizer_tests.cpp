// Placeholder: the tokenizer tests are being written (issue 3).
#include <gtest/gtest.h>
