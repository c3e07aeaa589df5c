// Parse and validate the model contract (docs/DESIGN.md section 8) with nlohmann_json.
#include "gvae/Contract.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "Sha256.h"
#include "gvae/Errors.h"
#include "gvae/Geometry.h"

namespace gvae {
namespace {

using Json = nlohmann::json;

// Python's repr() of a finite double (what json.dumps writes): the shortest round-trip digits, in
// fixed notation when the decimal exponent e satisfies -4 <= e < 16 (with ".0" when integral),
// else d[.ddd]e+XX / e-XX with at least two exponent digits.
std::string pythonFloatRepr(double value) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // e.g. "-1.2345e+16", "5e-324"
  const std::size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::atoi(sci.c_str() + e + 1);
  std::string sign;
  if (!mantissa.empty() && mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (char ch : mantissa)
    if (ch != '.') digits += ch;
  if (exponent >= -4 && exponent < 16) {
    std::string out;
    if (exponent < 0) {
      out = "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    } else {
      const std::size_t point = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= point) {
        out = digits + std::string(point - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, point) + "." + digits.substr(point);
      }
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  const int a = std::abs(exponent);
  return sign + out + "e" + (exponent < 0 ? "-" : "+") + (a < 10 ? "0" : "") + std::to_string(a);
}

// python's gvae.train.config.canonical_json: json.dumps(sort_keys=True, separators=(",", ":"),
// ensure_ascii=True). nlohmann writes strings, integers and literals the same way; its float
// format differs from repr() for 1e15 <= |x| < 1e16, so floats are written by pythonFloatRepr.
void canonicalJson(const Json& j, std::string& out) {
  switch (j.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {  // std::map: keys in byte (= code point) order
        if (!first) out += ',';
        first = false;
        out += Json(it.key()).dump(-1, ' ', true, Json::error_handler_t::strict);
        out += ':';
        canonicalJson(it.value(), out);
      }
      out += '}';
      break;
    }
    case Json::value_t::array: {
      out += '[';
      for (std::size_t i = 0; i < j.size(); ++i) {
        if (i) out += ',';
        canonicalJson(j[i], out);
      }
      out += ']';
      break;
    }
    case Json::value_t::number_float:
      out += pythonFloatRepr(j.get<double>());
      break;
    default:
      out += j.dump(-1, ' ', true, Json::error_handler_t::strict);
  }
}

// Where a contract comes from plus the JSON pointer of the field, for error messages.
class Validator {
 public:
  explicit Validator(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw ContractError("contract of '" + source_ + "': field '" + field + "': " + what);
  }

  const Json& at(const Json& parent, const std::string& parentPath, const std::string& key) const {
    if (!parent.is_object()) fail(parentPath.empty() ? "/" : parentPath, "expected an object");
    auto it = parent.find(key);
    if (it == parent.end()) fail(parentPath + "/" + key, "missing");
    return *it;
  }

  std::string string(const Json& parent, const std::string& parentPath, const std::string& key) const {
    const Json& v = at(parent, parentPath, key);
    if (!v.is_string()) fail(parentPath + "/" + key, "expected a string, got " + v.dump());
    return v.get<std::string>();
  }

  long long integer(const Json& parent, const std::string& parentPath, const std::string& key) const {
    const Json& v = at(parent, parentPath, key);
    if (!v.is_number_integer()) fail(parentPath + "/" + key, "expected an integer, got " + v.dump());
    return v.get<long long>();
  }

  int positive(const Json& parent, const std::string& parentPath, const std::string& key) const {
    long long v = integer(parent, parentPath, key);
    if (v < 1 || v > 1000000) fail(parentPath + "/" + key, "expected a positive integer, got " + std::to_string(v));
    return static_cast<int>(v);
  }

  double number(const Json& parent, const std::string& parentPath, const std::string& key) const {
    const Json& v = at(parent, parentPath, key);
    if (!v.is_number()) fail(parentPath + "/" + key, "expected a number, got " + v.dump());
    double d = v.get<double>();
    if (!std::isfinite(d)) fail(parentPath + "/" + key, "not finite");
    return d;
  }

  void stringList(const Json& parent, const std::string& parentPath, const std::string& key,
                  const std::vector<std::string>& expected) const {
    const Json& v = at(parent, parentPath, key);
    std::vector<std::string> got;
    bool ok = v.is_array();
    if (ok) {
      for (const Json& e : v) {
        if (!e.is_string()) { ok = false; break; }
        got.push_back(e.get<std::string>());
      }
    }
    if (!ok || got != expected) {
      Json want = expected;
      fail(parentPath + "/" + key, "expected " + want.dump() + ", got " + v.dump());
    }
  }

  // Refuse keys other than `allowed` (the schema's additionalProperties: false).
  void onlyKeys(const Json& object, const std::string& path, const std::set<std::string>& allowed) const {
    if (!object.is_object()) fail(path.empty() ? "/" : path, "expected an object");
    for (auto it = object.begin(); it != object.end(); ++it)
      if (allowed.count(it.key()) == 0) fail(path + "/" + it.key(), "unknown key (not in this contract schema_version)");
  }

  // A string matching the ECMAScript regular expression `pattern` (the schema's "pattern").
  std::string matching(const Json& parent, const std::string& parentPath, const std::string& key,
                       const std::string& pattern, const std::string& what) const {
    std::string v = string(parent, parentPath, key);
    if (!std::regex_match(v, std::regex(pattern))) fail(parentPath + "/" + key, "expected " + what + ", got '" + v + "'");
    return v;
  }

  std::string sha256(const Json& parent, const std::string& parentPath, const std::string& key) const {
    return matching(parent, parentPath, key, "[0-9a-f]{64}", "a sha256 of 64 lowercase hex digits");
  }

  FeatureNorm norm(const Json& parent, const std::string& parentPath, const std::string& key) const {
    const Json& v = at(parent, parentPath, key);
    const std::string path = parentPath + "/" + key;
    onlyKeys(v, path, {"mean", "std"});
    FeatureNorm n;
    n.mean = number(v, path, "mean");
    n.std = number(v, path, "std");
    if (!(n.std > 0.0)) fail(path + "/std", "must be > 0, got " + std::to_string(n.std));
    return n;
  }

  // One tensor spec: {"name", "dtype", "shape": ["batch", d1, ...]} checked against expectations.
  void tensor(const Json& list, const std::string& listPath, std::size_t index, const std::string& name,
              const std::string& dtype, const std::vector<long long>& dims) const {
    const std::string path = listPath + "/" + std::to_string(index);
    const Json& spec = list.at(index);
    onlyKeys(spec, path, {"name", "dtype", "shape", "meaning"});
    if (string(spec, path, "meaning").empty()) fail(path + "/meaning", "must not be empty");
    std::string gotName = string(spec, path, "name");
    if (gotName != name) fail(path + "/name", "expected '" + name + "', got '" + gotName + "'");
    std::string gotDtype = string(spec, path, "dtype");
    if (gotDtype != dtype) fail(path + "/dtype", "expected '" + dtype + "' for " + name + ", got '" + gotDtype + "'");
    const Json& shape = at(spec, path, "shape");
    Json want = Json::array({"batch"});
    for (long long d : dims) want.push_back(d);
    if (shape != want) fail(path + "/shape", "expected " + want.dump() + " for " + name + ", got " + shape.dump());
  }

  const Json& list(const Json& parent, const std::string& parentPath, const std::string& key,
                   std::size_t size) const {
    const Json& v = at(parent, parentPath, key);
    if (!v.is_array() || v.size() != size)
      fail(parentPath + "/" + key, "expected a list of " + std::to_string(size) + " tensor specs, got " + v.dump());
    return v;
  }

 private:
  const std::string& source_;
};

}  // namespace

Contract Contract::parse(const std::string& json_text, const std::string& source) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    throw ContractError("contract of '" + source + "': not valid JSON: " + e.what());
  }
  Validator v(source);
  if (!root.is_object()) v.fail("/", "expected a JSON object");

  Contract c;
  c.document = json_text;
  long long version = v.integer(root, "", "schema_version");
  if (version != kSchemaVersion && version != kSchemaVersionV2)
    v.fail("/schema_version", "unknown schema_version " + std::to_string(version) + " (this libgvae reads " +
                                  std::to_string(kSchemaVersion) + " and " + std::to_string(kSchemaVersionV2) + ")");
  c.schema_version = static_cast<int>(version);
  const bool v2 = version == kSchemaVersionV2;
  if (v2)
    v.onlyKeys(root, "", {"schema_version", "model", "batch", "entry_points", "node_features", "output_features",
                          "geometry", "graph", "normalisation", "latent", "decoder", "conditions", "snap", "training",
                          "weights_sha256", "created_utc"});
  else
    v.onlyKeys(root, "", {"schema_version", "model", "inputs", "outputs", "node_features", "output_features",
                          "geometry", "graph", "normalisation", "latent", "training", "weights_sha256", "created_utc"});

  const Json& model = v.at(root, "", "model");
  if (v2) {
    v.onlyKeys(model, "/model", {"name", "version", "format", "device", "decoder"});
    if (v.string(model, "/model", "decoder") != "latent") v.fail("/model/decoder", "expected 'latent'");
  } else {
    v.onlyKeys(model, "/model", {"name", "version", "format", "device"});
  }
  c.model_name = v.matching(model, "/model", "name", "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                            "a name of 1-64 characters [A-Za-z0-9_.-] starting with a letter or digit");
  c.model_version = v.matching(model, "/model", "version", "[0-9]+\\.[0-9]+\\.[0-9]+([.+-][0-9A-Za-z.+-]*)?",
                               "a version MAJOR.MINOR.PATCH[suffix]");
  c.format = v.string(model, "/model", "format");
  if (c.format != "torchscript" && c.format != "aoti")
    v.fail("/model/format", "expected 'torchscript' or 'aoti', got '" + c.format + "'");
  c.device = v.string(model, "/model", "device");
  if (c.device != "cpu" && c.device != "cuda")
    v.fail("/model/device", "expected 'cpu' or 'cuda', got '" + c.device + "'");

  const Json& graph = v.at(root, "", "graph");
  v.onlyKeys(graph, "/graph", {"builder", "k", "max_nodes"});
  c.builder = v.string(graph, "/graph", "builder");
  if (c.builder != kGraphBuilder)
    v.fail("/graph/builder", "unknown graph builder '" + c.builder + "' (this libgvae implements '" +
                                 std::string(kGraphBuilder) + "')");
  c.k = v.positive(graph, "/graph", "k");
  c.max_nodes = v.positive(graph, "/graph", "max_nodes");
  if (c.k >= c.max_nodes) v.fail("/graph/k", "k must be < max_nodes");

  const Json& latent = v.at(root, "", "latent");
  v.onlyKeys(latent, "/latent", {"clusters", "dim"});
  c.clusters = v.positive(latent, "/latent", "clusters");
  c.latent_dim = v.positive(latent, "/latent", "dim");

  v.stringList(root, "", "node_features", {"x", "y", "log_energy", "is_track", "is_ecal", "is_hcal"});
  v.stringList(root, "", "output_features", {"x", "y", "log_energy"});

  const long long N = c.max_nodes, K = c.k;
  if (!v2) {
    const Json& inputs = v.list(root, "", "inputs", 4);
    v.tensor(inputs, "/inputs", 0, "features", "float32", {N, 6});
    v.tensor(inputs, "/inputs", 1, "neighbours", "int64", {N, K});
    v.tensor(inputs, "/inputs", 2, "mask", "bool", {N});
    v.tensor(inputs, "/inputs", 3, "noise", "float32", {c.clusters, c.latent_dim});
    const Json& outputs = v.list(root, "", "outputs", 1);
    v.tensor(outputs, "/outputs", 0, "reconstruction", "float32", {N, 3});
  } else {
    const Json& batch = v.at(root, "", "batch");
    v.onlyKeys(batch, "/batch", {"min", "max"});
    c.batch_min = v.positive(batch, "/batch", "min");
    c.batch_max = v.positive(batch, "/batch", "max");
    if (c.batch_min > c.batch_max)
      v.fail("/batch", "min " + std::to_string(c.batch_min) + " > max " + std::to_string(c.batch_max));

    const Json& decoder = v.at(root, "", "decoder");
    v.onlyKeys(decoder, "/decoder", {"slots"});
    const Json& slots = v.at(decoder, "/decoder", "slots");
    if (!slots.is_array() || slots.size() != 3) v.fail("/decoder/slots", "expected 3 positive integers");
    for (int ch = 0; ch < 3; ++ch) {
      if (!slots[ch].is_number_integer() || slots[ch].get<long long>() < 1)
        v.fail("/decoder/slots", "expected 3 positive integers, got " + slots.dump());
      c.slots[ch] = static_cast<int>(slots[ch].get<long long>());
    }
    if (c.slotCount() > c.max_nodes) v.fail("/decoder/slots", "sum to more than max_nodes");
    const long long C = c.clusters, L = c.latent_dim;
    const long long slotsTotal = c.slotCount();

    struct Want { const char* name; const char* dtype; std::vector<long long> dims; };
    const std::vector<Want> decoded = {{"xyu", "float32", {slotsTotal, 3}}, {"channel", "int64", {slotsTotal}},
                                       {"hit_mask", "bool", {slotsTotal}}, {"counts", "int64", {3}}};
    const std::vector<Want> simulateInputs = {
        {"conditions", "float64", {2}}, {"latent_noise", "float32", {C * L}}, {"count_noise", "float32", {3}}};
    struct Entry {
      std::string name;
      std::vector<Want> inputs, outputs;
      bool optional;  // exports written before the entry point existed lack it
    };
    const std::vector<Entry> entries = {
        {"reconstruct",
         {{"features", "float32", {N, 6}}, {"neighbours", "int64", {N, K}}, {"mask", "bool", {N}},
          {"noise", "float32", {C, L}}, {"count_noise", "float32", {3}}},
         decoded, false},
        {"simulate", simulateInputs, decoded, false},
        {"simulate_counts", simulateInputs, {{"counts", "int64", {3}}}, true}};
    const Json& eps = v.at(root, "", "entry_points");
    v.onlyKeys(eps, "/entry_points", {"reconstruct", "simulate", "simulate_counts"});
    for (const auto& [name, inputs, outputs, optional] : entries) {
      if (optional && !eps.contains(name)) continue;
      const std::string path = "/entry_points/" + name;
      const Json& e = v.at(eps, "/entry_points", name);
      v.onlyKeys(e, path, {"aoti_model", "inputs", "outputs"});
      EntryPoint ep;
      ep.name = name;
      ep.aoti_model = v.matching(e, path, "aoti_model", "[a-z_]+", "a model name [a-z_]+");
      const Json& in = v.list(e, path, "inputs", inputs.size());
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        v.tensor(in, path + "/inputs", i, inputs[i].name, inputs[i].dtype, inputs[i].dims);
        TensorSpec t{inputs[i].name, inputs[i].dtype, {-1}};
        t.shape.insert(t.shape.end(), inputs[i].dims.begin(), inputs[i].dims.end());
        ep.inputs.push_back(std::move(t));
      }
      const Json& out = v.list(e, path, "outputs", outputs.size());
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        v.tensor(out, path + "/outputs", i, outputs[i].name, outputs[i].dtype, outputs[i].dims);
        TensorSpec t{outputs[i].name, outputs[i].dtype, {-1}};
        t.shape.insert(t.shape.end(), outputs[i].dims.begin(), outputs[i].dims.end());
        ep.outputs.push_back(std::move(t));
      }
      c.entry_points.push_back(std::move(ep));
    }

    const Json& cond = v.at(root, "", "conditions");
    v.onlyKeys(cond, "/conditions", {"columns", "logpt_mean", "logpt_std", "types"});
    v.stringList(cond, "/conditions", "columns", {"type", "pt"});
    c.logpt_mean = v.number(cond, "/conditions", "logpt_mean");
    c.logpt_std = v.number(cond, "/conditions", "logpt_std");
    if (!(c.logpt_std > 0.0)) v.fail("/conditions/logpt_std", "must be > 0");
    const Json& types = v.at(cond, "/conditions", "types");
    if (!types.is_array() || types.empty()) v.fail("/conditions/types", "expected a non-empty list");
    for (std::size_t i = 0; i < types.size(); ++i) {
      const std::string path = "/conditions/types/" + std::to_string(i);
      v.onlyKeys(types[i], path, {"index", "name", "pt_min", "pt_max"});
      ConditionType t;
      t.index = static_cast<int>(v.integer(types[i], path, "index"));
      if (t.index != static_cast<int>(i)) v.fail(path + "/index", "indices must be 0..K-1 in order");
      t.name = v.string(types[i], path, "name");
      t.pt_min = v.number(types[i], path, "pt_min");
      t.pt_max = v.number(types[i], path, "pt_max");
      if (!(t.pt_min > 0.0 && t.pt_min <= t.pt_max)) v.fail(path, "expected 0 < pt_min <= pt_max");
      c.types.push_back(std::move(t));
    }

    const Json& snap = v.at(root, "", "snap");
    v.onlyKeys(snap, "/snap", {"max_hit_energy", "thresholds"});
    c.max_hit_energy = v.number(snap, "/snap", "max_hit_energy");
    if (!(c.max_hit_energy > 0.0)) v.fail("/snap/max_hit_energy", "must be > 0");
    const Json& thr = v.at(snap, "/snap", "thresholds");
    if (!thr.is_array() || thr.size() != 3) v.fail("/snap/thresholds", "expected 3 numbers");
    for (int ch = 0; ch < 3; ++ch) {
      if (!thr[ch].is_number() || !std::isfinite(thr[ch].get<double>()) || thr[ch].get<double>() < 0.0)
        v.fail("/snap/thresholds", "expected 3 finite numbers >= 0, got " + thr.dump());
      c.thresholds[ch] = thr[ch].get<double>();
    }
  }

  // The geometry the model was trained on must be the one this library builds graphs for.
  const Json& geo = v.at(root, "", "geometry");
  v.onlyKeys(geo, "/geometry",
             {"channels", "image_size", "pixel_size", "centre_pixel", "hcal_tower_pixels", "energy_unit", "coordinate_unit"});
  v.stringList(geo, "/geometry", "channels", {"track", "ecal", "hcal"});
  if (v.integer(geo, "/geometry", "image_size") != geometry::kImageSize)
    v.fail("/geometry/image_size", "expected " + std::to_string(geometry::kImageSize));
  if (v.integer(geo, "/geometry", "centre_pixel") != geometry::kCentrePixel)
    v.fail("/geometry/centre_pixel", "expected " + std::to_string(geometry::kCentrePixel));
  if (v.integer(geo, "/geometry", "hcal_tower_pixels") != geometry::kHcalTowerPixels)
    v.fail("/geometry/hcal_tower_pixels", "expected " + std::to_string(geometry::kHcalTowerPixels));
  // Exactly the double 0.0174 (the schema's const), as Python compares it.
  if (v.number(geo, "/geometry", "pixel_size") != geometry::kPixelSize)
    v.fail("/geometry/pixel_size", "expected 0.0174");
  if (v.string(geo, "/geometry", "energy_unit") != "GeV") v.fail("/geometry/energy_unit", "expected 'GeV'");
  if (v.string(geo, "/geometry", "coordinate_unit").empty()) v.fail("/geometry/coordinate_unit", "must not be empty");

  const Json& norm = v.at(root, "", "normalisation");
  v.onlyKeys(norm, "/normalisation", {"x", "y", "log_energy"});
  c.x = v.norm(norm, "/normalisation", "x");
  c.y = v.norm(norm, "/normalisation", "y");
  c.log_energy = v.norm(norm, "/normalisation", "log_energy");

  // The training config and its hash: sha256 of the canonical JSON (keys sorted, separators ',' ':',
  // ASCII only), the bytes python's gvae.train.config.canonical_json gives for the same document.
  const Json& training = v.at(root, "", "training");
  v.onlyKeys(training, "/training", {"config", "config_sha256"});
  const Json& config = v.at(training, "/training", "config");
  if (!config.is_object()) v.fail("/training/config", "expected an object");
  const std::string configHash = v.sha256(training, "/training", "config_sha256");
  std::string canonical;
  try {
    canonicalJson(config, canonical);
  } catch (const Json::exception& e) {
    v.fail("/training/config", std::string("cannot be written as canonical JSON: ") + e.what());
  }
  const std::string actual = detail::sha256Hex(canonical);
  if (actual != configHash)
    v.fail("/training/config_sha256", configHash + " is not the sha256 of the canonical config (" + actual +
                                          "): the config was changed after hashing");

  c.weights_sha256 = v.sha256(root, "", "weights_sha256");
  v.matching(root, "", "created_utc", "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
             "an ISO 8601 UTC time YYYY-MM-DDTHH:MM:SSZ");
  return c;
}

}  // namespace gvae
