#ifndef DREAMLAKE_CCRC32C_H
#define DREAMLAKE_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this processor has a CRC-32C instruction (SSE 4.2's crc32 on
/// x86-64, the CRC extension's crc32c on 64-bit ARM).
int dreamlake_crc32c_hardware(void);

/// Continues a CRC-32C register (already inverted: ~0 to start) over `n`
/// bytes with that instruction. Call only when dreamlake_crc32c_hardware().
uint32_t dreamlake_crc32c_update(uint32_t reg, const void *bytes, size_t n);

#endif
