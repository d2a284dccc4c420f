#ifndef DREAMLAKE_CLZ4_SHIM_H
#define DREAMLAKE_CLZ4_SHIM_H
#include <lz4.h>
#endif
