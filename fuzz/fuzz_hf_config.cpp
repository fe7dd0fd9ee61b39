// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: Hugging Face config.json, read as the backbone's (ParseDinov2Config) and as a
// head's (ParseHeadConfig), then the tensor specs derived from them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/model/dinov2_config.h"
#include "curia/model/head_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  curia::config::Json doc;
  try {
    doc = curia::config::ParseJson(text, "config.json");
    // The writer must read back what it wrote.
    (void)curia::config::ParseJson(curia::config::Dump(doc, 2), "dump");
  } catch (const curia::Error&) {
    return 0;
  }
  int64_t hidden = 0;
  try {
    const curia::model::Dinov2Config backbone = curia::model::ParseDinov2Config(doc, "config.json");
    (void)curia::model::BackboneTensorSpecs(backbone);
    (void)curia::model::Dinov2ConfigToJson(backbone);
    hidden = backbone.hidden_size;
  } catch (const curia::Error&) {
  }
  try {
    const curia::model::HeadConfig head = curia::model::ParseHeadConfig(doc, "config.json");
    (void)curia::model::HeadTensorSpecs(head, hidden > 0 && hidden <= 4096 ? hidden : 768);
    (void)curia::model::HeadConfigToJson(head);
  } catch (const curia::Error&) {
  }
  return 0;
}
