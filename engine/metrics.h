// Image quality metrics, with the conventions of scikit-image (what the RED-diff paper's tables and most
// restoration papers report):
//
//   psnr: 10 log10(R^2 / mse), mse the mean over every pixel and channel = peak_signal_noise_ratio(ref, x,
//         data_range=R). +infinity for identical images.
//   ssim: structural_similarity(ref, x, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
//         data_range=R, channel_axis=...) exactly: per channel, local means/variances/covariance from a
//         normalised 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma: radius 5) applied separably
//         with scipy's 'reflect' boundary (d c b a | a b c d); population (biased) variances; C1 = (0.01 R)^2,
//         C2 = (0.03 R)^2; the SSIM map averaged over the interior (5 pixels cropped from every border);
//         then the mean over channels. Images smaller than 11 pixels on a side have no SSIM: NaN.
//
// Images are planar (C x H x W) floats; the restoration commands pass pixels on [0, 1] with R = 1.
// Everything accumulates in double.
#pragma once
#include <cstddef>

namespace reddiff {

double psnr(const float* x, const float* ref, size_t n, double data_range = 1.0);
double ssim(const float* x, const float* ref, int c, int h, int w, double data_range = 1.0);

}  // namespace reddiff
