// The header alone is the module: LLVMFuzzerRunDriver comes from libFuzzer, linked into the fuzzer.
#include "CFuzzer.h"
