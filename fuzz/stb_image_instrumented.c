/* stb_image compiled from Debian's header (libstb-dev) into the library of a sanitizer or fuzzing build
 * (REDDIFF_SANITIZE / REDDIFF_FUZZ in CMakeLists.txt), so that ASan, UBSan and libFuzzer's coverage see
 * inside the image decoders: the same source as Debian's prebuilt libstb, which the normal build links,
 * in its default configuration. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
