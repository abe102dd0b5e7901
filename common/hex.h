/* Hex encoding of small binary values (nonces and MACs on the wire). */
#ifndef HERD_COMMON_HEX_H
#define HERD_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len lower-case hex digits and a NUL into out (2*len+1 bytes). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly len bytes from s (2*len hex digits, nothing after).
 * Returns 0, or -1 when s is not that. */
int hex_decode(const char *s, uint8_t *out, size_t len);

#endif
