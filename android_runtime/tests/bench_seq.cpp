// Per-call time of one program at one sequence length: the measurement behind the choice of
// a dynamic sequence length over fixed-length buckets (docs/RESULTS.md, issue 20). Driven by
// scripts/bench_lengths.py, which exports the programs.
//   wrx-bench-seq PROGRAM.pte layer|attn|ffn|const-layer S H A F REPS THREADS
// A and F are the attention and FFN widths of the call (k shards); prints the median ms.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io.h"
#include "program.h"

using namespace wrx;

int main(int argc, char** argv) {
  if (argc != 9) {
    std::fprintf(stderr, "usage: wrx-bench-seq PROGRAM.pte layer|attn|ffn S H A F REPS THREADS\n");
    return 2;
  }
  const std::string path = argv[1], kind = argv[2];
  const int S = std::atoi(argv[3]), H = std::atoi(argv[4]), A = std::atoi(argv[5]), F = std::atoi(argv[6]);
  const int reps = std::atoi(argv[7]), threads = std::atoi(argv[8]);
  if (Status s = init_executorch(threads); !s.ok()) return std::fprintf(stderr, "%s\n", s.message.c_str()), 1;
  const size_t n_in = kind == "layer" ? 18 : kind == "attn" ? 9 : kind == "const-layer" ? 2 : 4;
  auto prog = Program::load(path, n_in);
  if (!prog.ok()) return std::fprintf(stderr, "%s\n", prog.status().message.c_str()), 1;
  Program& p = *prog.value();
  std::vector<float> x(size_t(S) * H, 0.1f), bias(S, 0.0f);
  std::vector<float> wa(size_t(A) * H, 0.01f), wf(size_t(F) * H, 0.01f), ba(A, 0.0f), bf(F, 0.0f), h1(H, 0.0f),
      g1(H, 1.0f);
  const float* out = nullptr;
  const size_t n = size_t(S) * H;
  auto call = [&]() -> Status {
    if (kind == "const-layer")  // weights inside the program: packed once, at load
      return p.run({{x.data(), {1, S, H}}, {bias.data(), {1, 1, S}}}, &out, n);
    if (kind == "layer")
      return p.run({{x.data(), {1, S, H}},
                    {bias.data(), {1, 1, S}},
                    {wa.data(), {A, H}},
                    {ba.data(), {A}},
                    {wa.data(), {A, H}},
                    {ba.data(), {A}},
                    {wa.data(), {A, H}},
                    {ba.data(), {A}},
                    {wa.data(), {H, A}},
                    {h1.data(), {H}},
                    {g1.data(), {H}},
                    {h1.data(), {H}},
                    {wf.data(), {F, H}},
                    {bf.data(), {F}},
                    {wf.data(), {H, F}},
                    {h1.data(), {H}},
                    {g1.data(), {H}},
                    {h1.data(), {H}}},
                   &out, n);
    if (kind == "attn")
      return p.run({{x.data(), {1, S, H}},
                    {bias.data(), {1, 1, S}},
                    {wa.data(), {A, H}},
                    {ba.data(), {A}},
                    {wa.data(), {A, H}},
                    {ba.data(), {A}},
                    {wa.data(), {A, H}},
                    {ba.data(), {A}},
                    {wa.data(), {H, A}}},
                   &out, n);
    return p.run({{x.data(), {1, S, H}}, {wf.data(), {F, H}}, {bf.data(), {F}}, {wf.data(), {H, F}}}, &out, n);
  };
  std::vector<double> t;
  for (int r = 0; r <= reps; ++r) {  // call 0 warms up
    const double t0 = now_s();
    if (Status s = call(); !s.ok()) return std::fprintf(stderr, "%s\n", s.message.c_str()), 1;
    if (r > 0) t.push_back((now_s() - t0) * 1e3);
  }
  std::sort(t.begin(), t.end());
  std::printf("%.4f\n", t[t.size() / 2]);
  return 0;
}
