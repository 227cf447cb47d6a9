// The bin-measurement tasks, jpeg and quant (docs/tasks.md): the measurement says only that each true
// value lies in a known interval (a JPEG coefficient k with step q: [(k - 1/2) q, (k + 1/2) q]; an N-bit
// pixel level: its rounding bin). The operators (operators/op_jpeg.cpp, operators/op_quant.cpp) are bound
// to their measurement, because the data term is the distance to those bins:
//   data_term interval (default): A(x) = c + d(x), with c the bin centres and d(x) the signed distance of
//     x's coefficients (jpeg) or pixels (quant) past their bins (0 inside), so with y = c,
//     0.5 ||A(x) - y||^2 = 0.5 sum d^2, the squared distance to the set of images consistent with the file;
//     RED-diff (residual_vjp), DPS (apply, vjp) and PiGDM (apply, pinv) all optimise it.
//   data_term l2 (the official RED-diff formulation): A(x) = decode(round(encode(x))) with straight-through
//     rounding, y = the decoded image (jpeg) or the quantised image (quant), A+ = identity.
// Values are in the [-1, 1] image units throughout (a JPEG coefficient of that scale is libjpeg's / 127.5),
// so the interval data term is an image-space squared distance (exactly so for the orthonormal DCT).
//
// Use (what `reddiff jpeg` / `reddiff quant` do):
//   OperatorOptions o; o.task = "jpeg"; o.jpeg_files = {std::make_shared<JpegCoefficients>(read_jpeg_file(p))};
//   Shape4 xs{1, 3, f.height, f.width};
//   auto A = make_operator(o, xs, ids, device);  std::vector<float> y = bound_measurement(o, xs);
//   quant: o.task = "quant"; o.quant_bits = N; o.quant_image = the measured image [N, C, H, W] in [-1, 1].
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/operator/jpeg.h"
#include "operators/jpeg_file.h"
#include "operators/operator.h"

namespace reddiff {

// The measurement y the jpeg or quant operator that make_operator(o, x, ...) builds is bound to (host):
//   jpeg interval: the dequantised coefficients k q / 127.5, [N, 1, 1, M] (the operator's measurement_shape)
//   jpeg l2:       their decoded image (the operator's inverse chain, unclamped), [N, C, H, W]
//   quant:         o.quant_image snapped to its N-bit levels, [N, C, H, W]
std::vector<float> bound_measurement(const OperatorOptions& o, Shape4 x);

// The coefficient-vector geometry of a file for images of `channels` channels (kernels/operator/jpeg.h).
// A grey file takes 1 channel (the image itself) or 3 (its luma: the data term then constrains only
// 0.299 R + 0.587 G + 0.114 B); a colour file needs 3. Throws a one-line reddiff::Error otherwise.
JpegGeom jpeg_geometry(const JpegCoefficients& f, int channels);
// The file's quantisation steps in [-1, 1] units, [ncomp][64] (q / 127.5), and dequantised coefficients,
// [M] (k q / 127.5), in the layout of kernels/operator/jpeg.h.
std::vector<float> jpeg_steps(const JpegCoefficients& f);
std::vector<float> jpeg_dequantised(const JpegCoefficients& f);

// How far a result agrees with its measurement, in the measurement's own terms: the fraction of image k's
// bins (of the batch bound in o, images of shape x) that the image `img` ([C, H, W] in [-1, 1], e.g. a
// result as written to its file) lands in.
//   jpeg:  img encoded by libjpeg with the file's tables and subsampling (8-bit samples, ISLOW DCT), the
//          fraction of its quantised coefficients equal to the file's;
//   quant: the fraction of samples at the measured N-bit level.
// 1 for an image the file describes exactly; the data term drives a restoration towards it.
double bins_kept_fraction(const OperatorOptions& o, Shape4 x, int k, const float* img);

// The options that encode an image as file f was encoded: its tables (luma, chroma) and subsampling.
JpegEncodeOptions jpeg_encode_options_like(const JpegCoefficients& f);
// The fraction of coefficients two files of one geometry store equally (0 when they differ in geometry).
double jpeg_same_fraction(const JpegCoefficients& a, const JpegCoefficients& b);

// quant: the official quantiser (NVlabs RED-diff Quantization.H) on host values in [-1, 1]: the nearest of
// the 2^bits levels 2k/(2^bits - 1) - 1, i.e. floor((x + 1)/2 * (2^bits - 1) + 1/2), clamped to the levels.
void quantize_levels(const float* x, float* y, int64_t count, int bits);
// The smallest N in 1..8 for which every value (in [-1, 1], from an 8-bit file: value/127.5 - 1) is an N-bit
// level as an 8-bit file stores it (round(255 k / (2^N - 1))), 0 when none is. For --bits auto.
int detect_quant_bits(const float* y, int64_t count);

}  // namespace reddiff
