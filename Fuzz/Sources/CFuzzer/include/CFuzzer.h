// libFuzzer's driver, which its documentation offers to programs that have a main of their own
// (https://llvm.org/docs/LibFuzzer.html, "Using LibFuzzer as a library"): the fuzzer executable's
// main is the one SwiftPM names for it, and it hands the command line to libFuzzer here.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
