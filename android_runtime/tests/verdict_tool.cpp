// wrx-verdict: the device readers' verdict on files, for the differential test against the
// Python readers (tests/test_differential.py). Each stdin line is "KIND PACKAGE_DIR PATH";
// each answer is one line, the closed error name ("OK" when the reader accepts the file):
//   json      PATH is parsed by the JSON layer alone (PACKAGE_DIR unused)
//   store     PATH is opened and every entry read and checksummed
//   manifest  PACKAGE_DIR is opened (PATH unused: its manifest.json)
//   plan      PATH is loaded and validated against the package in PACKAGE_DIR
//   data      PATH is loaded with the vocabularies of the package in PACKAGE_DIR
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "devdata.h"
#include "json.h"
#include "manifest.h"
#include "plan.h"
#include "store.h"

namespace {

using namespace wrx;

Status store_verdict(const std::string& path) {
  auto s = Store::open(path);
  if (!s.ok()) return s.status();
  return s.value()->verify_all();
}

Status verdict(const std::string& kind, const std::string& dir, const std::string& path) {
  if (kind == "json") {
    auto text = read_file(path);
    if (!text.ok()) return text.status();
    return json::parse(text.value(), Error::kBadData).status();
  }
  if (kind == "store") return store_verdict(path);
  auto pkg = open_package(dir);
  if (kind == "manifest" || !pkg.ok()) return pkg.status();
  if (kind == "plan") {
    auto plan = load_plan(path);
    return plan.ok() ? validate_plan(plan.value(), *pkg.value()) : plan.status();
  }
  if (kind == "data") return load_devdata(path, pkg.value()->geom.vocab, pkg.value()->geom.type_vocab).status();
  return fail(Error::kRuntime, "unknown kind " + kind);
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string kind, dir, path;
    in >> kind >> dir >> path;
    const Status st = verdict(kind, dir, path);
    std::printf("%s\n", st.ok() ? "OK" : error_name(st.code));
    std::fflush(stdout);
  }
  return 0;
}
