// The C API's header (include/dreamlake.h) is this target's point: the Swift target DreamlakeC
// implements its functions, and imports it for the types they share with C (dreamlake_error,
// dreamlake_field), so that their layout is the header's. The one function written in C is here.
#include "dreamlake.h"

const char *dreamlake_version(void) { return "0.3.0"; }
