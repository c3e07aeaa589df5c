// gvae::Contract::parse: the valid contract of the test model parses; each kind of tampering
// (DESIGN section 8) is refused with gvae::ContractError naming the field.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gvae_test.h"

using nlohmann::json;

namespace {

json readSidecar() {
  std::ifstream in(gvae_test::torchscriptPath() + ".contract.json");
  std::stringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
}

// Parse `doc` after `edit` and expect a ContractError mentioning `field`.
template <typename Edit>
void expectRejected(const json& valid, Edit edit, const std::string& field, const std::string& what = "") {
  json doc = valid;
  edit(doc);
  if (what.empty())
    GVAE_CHECK_THROWS(gvae::ContractError, gvae::Contract::parse(doc.dump(), "tampered.json"), "tampered.json", field);
  else
    GVAE_CHECK_THROWS(gvae::ContractError, gvae::Contract::parse(doc.dump(), "tampered.json"), "tampered.json", field,
                      what);
}

}  // namespace

int main() {
  const json valid = readSidecar();
  const gvae::Contract c = gvae::Contract::parse(valid.dump(), "sidecar");
  GVAE_CHECK(c.schema_version == 1);
  GVAE_CHECK(c.format == "torchscript");
  GVAE_CHECK(c.device == "cpu");
  GVAE_CHECK(c.builder == "gvae-graph-v1");
  GVAE_CHECK(c.k == 4);
  GVAE_CHECK(c.max_nodes == 64);
  GVAE_CHECK(c.clusters == 8);
  GVAE_CHECK(c.latent_dim == 4);
  GVAE_CHECK(c.x.std == 0.25 && c.x.mean == 0.0);
  GVAE_CHECK(c.log_energy.mean == -1.0 && c.log_energy.std == 1.5);
  GVAE_CHECK(c.weights_sha256.size() == 64);

  GVAE_CHECK_THROWS(gvae::ContractError, gvae::Contract::parse("{not json", "broken.json"), "broken.json",
                    "not valid JSON");
  GVAE_CHECK_THROWS(gvae::ContractError, gvae::Contract::parse("[1, 2]", "list.json"), "expected a JSON object");
  expectRejected(valid, [](json& d) { d["schema_version"] = 3; }, "/schema_version", "unknown schema_version 3");
  expectRejected(valid, [](json& d) { d["schema_version"] = "1"; }, "/schema_version", "expected an integer");
  expectRejected(valid, [](json& d) { d.erase("schema_version"); }, "/schema_version", "missing");
  expectRejected(valid, [](json& d) { d["graph"]["builder"] = "gvae-graph-v2"; }, "/graph/builder",
                 "unknown graph builder 'gvae-graph-v2'");
  expectRejected(valid, [](json& d) { d["node_features"][2] = "energy"; }, "/node_features");
  expectRejected(valid, [](json& d) { d["node_features"].erase(5); }, "/node_features");
  expectRejected(valid, [](json& d) { d["output_features"] = {"x", "y", "energy"}; }, "/output_features");
  expectRejected(valid, [](json& d) { d["graph"]["k"] = 5; }, "/inputs/1/shape");
  expectRejected(valid, [](json& d) { d["graph"]["max_nodes"] = 400; }, "/inputs/0/shape");
  expectRejected(valid, [](json& d) { d["latent"]["dim"] = 16; }, "/inputs/3/shape");
  expectRejected(valid, [](json& d) { d["inputs"][2]["shape"] = {"batch", 65}; }, "/inputs/2/shape");
  expectRejected(valid, [](json& d) { d["outputs"][0]["shape"] = {"batch", 64, 4}; }, "/outputs/0/shape");
  expectRejected(valid, [](json& d) { d["inputs"][1]["dtype"] = "int32"; }, "/inputs/1/dtype");
  expectRejected(valid, [](json& d) { d["inputs"][0]["name"] = "x"; }, "/inputs/0/name");
  expectRejected(valid, [](json& d) { d["inputs"].erase(3); }, "/inputs");
  expectRejected(valid, [](json& d) { d["normalisation"]["x"]["std"] = 0.0; }, "/normalisation/x/std");
  expectRejected(valid, [](json& d) { d["normalisation"]["y"].erase("mean"); }, "/normalisation/y/mean");
  expectRejected(valid, [](json& d) { d["geometry"]["image_size"] = 64; }, "/geometry/image_size");
  expectRejected(valid, [](json& d) { d["geometry"]["channels"] = {"ecal", "track", "hcal"}; },
                 "/geometry/channels");
  expectRejected(valid, [](json& d) { d["model"]["format"] = "onnx"; }, "/model/format");
  expectRejected(valid, [](json& d) { d["model"]["device"] = "tpu"; }, "/model/device");
  // The rest of the schema and the config hash, as python's gvae.contract.validate_contract
  // (tests/test_contract_parity.py runs one table through both validators).
  expectRejected(valid, [](json& d) { d["geometry"]["centre_pixel"] = 61; }, "/geometry/centre_pixel");
  expectRejected(valid, [](json& d) { d["geometry"]["pixel_size"] = 0.0175; }, "/geometry/pixel_size");
  expectRejected(valid, [](json& d) { d["geometry"]["pixel_size"] = 0.01740000001; }, "/geometry/pixel_size");
  expectRejected(valid, [](json& d) { d["geometry"]["hcal_tower_pixels"] = 4; }, "/geometry/hcal_tower_pixels");
  expectRejected(valid, [](json& d) { d["geometry"]["energy_unit"] = "MeV"; }, "/geometry/energy_unit");
  expectRejected(valid, [](json& d) {
    d["graph"]["k"] = 64;
    d["inputs"][1]["shape"] = {"batch", 64, 64};
  }, "/graph/k", "k must be < max_nodes");
  expectRejected(valid, [](json& d) { d.erase("weights_sha256"); }, "/weights_sha256", "missing");
  expectRejected(valid, [](json& d) { d["weights_sha256"] = "abc"; }, "/weights_sha256", "sha256");
  expectRejected(valid, [](json& d) { d["training"]["config"]["seed"] = 1235; }, "/training/config_sha256",
                 "not the sha256 of the canonical config");
  expectRejected(valid, [](json& d) { d["training"]["config_sha256"] = std::string(64, '0'); },
                 "/training/config_sha256");
  expectRejected(valid, [](json& d) { d["extra"] = 1; }, "/extra", "unknown key");
  expectRejected(valid, [](json& d) { d["model"]["extra"] = 1; }, "/model/extra", "unknown key");
  expectRejected(valid, [](json& d) { d["inputs"][2]["unit"] = "none"; }, "/inputs/2/unit", "unknown key");
  expectRejected(valid, [](json& d) { d["created_utc"] = "yesterday"; }, "/created_utc", "ISO 8601");
  expectRejected(valid, [](json& d) { d.erase("created_utc"); }, "/created_utc", "missing");
  expectRejected(valid, [](json& d) { d["model"]["name"] = "my model"; }, "/model/name");
  // The config hash is recomputed from the canonical JSON: key order and whitespace do not matter.
  {
    json reordered = valid;
    const std::string pretty = reordered.dump(4);
    GVAE_CHECK(gvae::Contract::parse(pretty, "pretty").k == 4);
  }
  return gvae_test::finish("test_contract");
}
