// Decoder microbenchmark: fp32 output GB/s per bitwidth on one core, decoding a
// 1536x384 matrix (one MiniLM FFN1 shard set) into a column block of a wider buffer.
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "decode.h"
#include "store_format.h"

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 200;
  const uint32_t rows = 1536, cols = 384;
  std::mt19937 rng(0);
  std::printf("bits  GB/s(fp32 out)\n");
  for (uint32_t bits : {2u, 3u, 4u, 5u, 6u, 8u}) {
    const uint64_t n = uint64_t{rows} * cols;
    std::vector<float> cb(1u << bits);
    for (size_t i = 0; i < cb.size(); ++i) cb[i] = float(i) * 0.01f - 1.0f;
    std::vector<uint8_t> codes((n + 7) / 8 * bits);
    for (auto& c : codes) c = static_cast<uint8_t>(rng());
    std::vector<uint32_t> oi(n / 200);
    std::vector<float> ov(oi.size(), 3.0f);
    for (size_t i = 0; i < oi.size(); ++i) oi[i] = static_cast<uint32_t>(i * 200);
    wrx::CodebookView v;
    v.bits = bits;
    v.rows = rows;
    v.cols = cols;
    v.codebook = cb.data();
    v.codes = codes.data();
    v.outlier_idx = oi.data();
    v.outlier_val = ov.data();
    v.n_outliers = static_cast<uint32_t>(oi.size());
    std::vector<float> out(n);
    double best = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters / 5; ++i) (void)wrx::decode_codebook(v, out.data(), cols);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / (iters / 5);
      best = std::min(best, s);
    }
    std::printf("%4u  %6.2f\n", bits, n * 4.0 / best / 1e9);
  }
  return 0;
}
