/* fuzz.h - the contract of a fuzz target: LLVMFuzzerTestOneInput() feeds one input to one
 * parser of paramd and must return 0 for anything, never crash, leak or read out of bounds.
 * Built with libFuzzer under --enable-fuzzers; otherwise linked with replay.c, which runs
 * every committed input of tests/fuzz/corpus/<target>/ (and regress/<target>/) once. */
#ifndef PD_TESTS_FUZZ_H
#define PD_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write the input to a private in-memory file (for parsers that take a path). Returns its
 * path in buf, or NULL. Valid until the call after next (two files at a time). */
const char *pd_fuzz_tmpfile(const uint8_t *data, size_t size, char *buf, size_t len);

#endif
