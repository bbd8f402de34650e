#ifndef RYMI_CSHA256_H
#define RYMI_CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// FIPS 180-4's 64 round constants, shared by both compression paths.
const uint32_t *rymi_sha256_round_constants(void);

/// Non-zero when this processor has the SHA extensions (and SSSE3, SSE4.1) the fast path needs.
int rymi_sha256_hardware_available(void);

/// Compresses `blocks` 64-byte blocks of `data` into `state` (the eight working words, as FIPS
/// 180-4 orders them) with the SHA extensions. Call only when the function above said yes.
void rymi_sha256_hardware_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
