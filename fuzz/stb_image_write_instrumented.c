/* stb_image_write from Debian's header, for the same builds as stb_image_instrumented.c. Compiled without
 * UBSan's shift-base check (CMakeLists.txt): its JPEG encoder, which only tests use (reddiff writes PNG),
 * shifts set bits into the sign bit of an int (stbiw__jpg_writeBits, stb_image_write.h:1263), undefined in
 * C and harmless on every compiler reddiff supports; the suppression is documented in docs/security.md. */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
