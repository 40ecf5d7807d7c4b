// Tokenized evaluation data (docs/FORMAT.md, "Evaluation data").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "error.h"

namespace wrx {

struct DevData {
  uint32_t n = 0, seq = 0, num_labels = 0;
  std::vector<int32_t> labels, lengths, input_ids, token_types;  // ids/types: [n * seq]
};

Result<DevData> load_devdata(const std::string& path, int vocab, int type_vocab);

}  // namespace wrx
