// wrx-tokenize TOKENIZER_JSON MAX_LEN [--bench PASSES]: the device tokenizer over records on
// stdin, for the parity tests against Hugging Face's tokenizers (tests/test_tokenizer.py).
// Binary-safe, so invalid UTF-8 can be fed: each record is "TEXT_BYTES PAIR_BYTES\n"
// (PAIR_BYTES -1 for no pair) followed by the raw bytes; each answer is one line, "ids;type_ids"
// as space-separated integers, or "ERROR CODE". With --bench it reads every record first,
// encodes them all PASSES times on this thread and prints "tokens N seconds S" (the
// tokenizer-speed check of scripts/bench_session.py).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tokenizer.h"

int main(int argc, char** argv) {
  const bool bench = argc == 5 && std::strcmp(argv[3], "--bench") == 0;
  if (argc != 3 && !bench) {
    std::fprintf(stderr, "usage: wrx-tokenize TOKENIZER_JSON MAX_LEN [--bench PASSES] < records\n");
    return 2;
  }
  auto tok = wrx::Tokenizer::load(argv[1]);
  if (!tok.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", wrx::error_name(tok.status().code), tok.status().message.c_str());
    return 2;
  }
  const int max_len = std::atoi(argv[2]);
  long tl = 0, pl = 0;
  std::string text, pair, line;
  wrx::Encoding enc;
  std::vector<std::pair<std::string, std::string>> kept;  // --bench: (text, pair or "\x01none")
  while (std::scanf("%ld %ld", &tl, &pl) == 2) {
    if (std::getchar() != '\n' || tl < 0) return 2;
    text.resize(static_cast<size_t>(tl));
    if (tl && std::fread(&text[0], 1, text.size(), stdin) != text.size()) return 2;
    std::string_view pv;
    if (pl >= 0) {
      pair.resize(static_cast<size_t>(pl));
      if (pl && std::fread(&pair[0], 1, pair.size(), stdin) != pair.size()) return 2;
      pv = pair;
    }
    if (bench) {
      kept.emplace_back(text, pl >= 0 ? pair : std::string("\x01none"));
      continue;
    }
    const wrx::Status st = tok.value()->encode(text, pl >= 0 ? &pv : nullptr, max_len, &enc);
    line.clear();
    if (!st.ok()) {
      line = std::string("ERROR ") + wrx::error_name(st.code);
    } else {
      for (size_t i = 0; i < enc.ids.size(); ++i) line += (i ? " " : "") + std::to_string(enc.ids[i]);
      line += ";";
      for (size_t i = 0; i < enc.type_ids.size(); ++i) line += (i ? " " : "") + std::to_string(enc.type_ids[i]);
    }
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
  }
  if (bench) {
    const int passes = std::atoi(argv[4]);
    long long tokens = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int p = 0; p < passes; ++p) {
      for (const auto& [t, pr] : kept) {
        const std::string_view pv(pr);
        const bool has_pair = pr != "\x01none";
        if (!tok.value()->encode(t, has_pair ? &pv : nullptr, max_len, &enc).ok()) return 3;
        tokens += static_cast<long long>(enc.ids.size());
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("tokens %lld seconds %.6f\n", tokens, s);
  }
  return 0;
}
