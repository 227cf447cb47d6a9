/* stb_image compiled from Debian's header (libstb-dev) into the library of a sanitizer or fuzzing build
 * (REDDIFF_SANITIZE / REDDIFF_FUZZ in CMakeLists.txt), so that ASan, UBSan and libFuzzer's coverage see
 * inside the image decoders: the same source as Debian's prebuilt libstb, which the normal build links,
 * in its default configuration. Compiled without UBSan's pointer-overflow and nonnull-attribute checks
 * (CMakeLists.txt): its PNG reader, on a first IDAT chunk of length 0, computes NULL + 0 (stb_image.h:5130,
 * z->idata + ioff before any data) and passes that NULL to memcpy with a length of 0 (stbi__getn, :1663);
 * undefined in C and harmless (nothing is read or written through it); documented in docs/security.md.
 * JPEG never reaches this decoder (engine/image_io.cpp). */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
