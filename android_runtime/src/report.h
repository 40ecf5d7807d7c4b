// report.json (docs/FORMAT.md, "Report"): written to a temp file and renamed, so a killed
// run never leaves a partial report.
#pragma once

#include <string>
#include <vector>

#include "error.h"

namespace wrx {

struct DeviceInfo {
  std::string cpu, kernel, arch, hostname;
  int cores = 0;
};
DeviceInfo device_info();
// The mount that holds `path` (longest /proc/mounts prefix): {"mount", "device", "fstype"} as JSON.
std::string storage_json(const std::string& path);
long peak_rss_kb();     // VmHWM
long current_rss_kb();  // VmRSS

// A JSON object under construction; values are raw JSON text.
class JsonObject {
 public:
  JsonObject& raw(const std::string& key, const std::string& json);
  JsonObject& str(const std::string& key, const std::string& v);
  JsonObject& num(const std::string& key, double v);
  JsonObject& integer(const std::string& key, long long v);
  JsonObject& boolean(const std::string& key, bool v);
  std::string text() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

std::string json_num(double v);
std::string json_array(const std::vector<double>& v);

// Write atomically: path.tmp.<pid>, fsync, rename.
Status write_atomic(const std::string& path, const std::string& text);

std::string error_json(const Status& s);

}  // namespace wrx
