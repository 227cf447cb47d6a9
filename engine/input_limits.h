// Limits on what an input file may declare, checked from its header before anything large is allocated
// (decompression bombs: a few hundred bytes of PNG or JPEG header can declare 100000x100000 pixels). One
// process-wide pixel limit covers every image and array read as pixels: inputs, masks, blur kernels and
// .npy measurements. The commands set it from --max-pixels or from the available memory.
#pragma once
#include <cstdint>
#include <string>

namespace reddiff {

// Bytes a restoration needs per pixel of its image. Large images are tiled (--tile auto), so the network's
// memory is one batch of tiles and only image-sized buffers grow: peak RSS / pixels was 160 bytes for a
// tiled 4096x4096 sr x4 with the bundled model (docs/benchmarks.md, "Large photos: tiling"). Untiled runs
// (--tile off) need more (3.7 KB for --algo dps at 512x512); this is a guard against absurd sizes, not a
// promise that every image under the limit fits.
constexpr int64_t kRestoreBytesPerPixel = 256;
// Bytes `reddiff degrade` needs per pixel: the decoded image, x and y as float, the operator's work.
constexpr int64_t kDegradeBytesPerPixel = 128;

// MemAvailable (from /proc/meminfo; physical memory where that is unreadable), in bytes.
int64_t available_memory_bytes();
// Half the available memory divided by bytes_per_pixel, at least 1 << 20 pixels.
int64_t default_max_pixels(int64_t bytes_per_pixel);

// The current limit (default: default_max_pixels(kRestoreBytesPerPixel)) and where it came from, for messages.
int64_t max_pixels();
void set_max_pixels(int64_t n, const std::string& origin);

// Throws reddiff::Error (exit 2) when h x w exceeds max_pixels(), one line naming `what`, the size, the limit
// and how to raise it, e.g. "image 'a.png' is 100000x100000 (1e10 pixels), over the limit of ...".
void check_pixels(const std::string& what, int64_t h, int64_t w);

}  // namespace reddiff
