// The model contract embedded in every exported gvae model (docs/DESIGN.md section 8).
#ifndef GVAE_CONTRACT_H
#define GVAE_CONTRACT_H

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace gvae {

/// Mean and standard deviation of one normalised feature (DESIGN section 5).
struct FeatureNorm {
  double mean = 0.0;
  double std = 1.0;
};

/// One tensor of an entry point: name, dtype ("float32", "float64", "int64", "bool") and shape
/// (shape[0] == -1 is the dynamic batch axis).
struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
};

/// A named entry point of a contract v2 model (a TorchScript method; an AOTInductor model of the package).
struct EntryPoint {
  std::string name;        ///< "reconstruct" | "simulate"
  std::string aoti_model;  ///< model name inside an AOTInductor package
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

/// A jet type the simulate entry point knows (contract v2 `conditions.types`).
struct ConditionType {
  int index = 0;
  std::string name;
  double pt_min = 0.0;  ///< GeV, the type's training pT range
  double pt_max = 0.0;
};

/// The parts of the contract libgvae uses, parsed and validated. Everything else stays in `document`.
///
/// Versions: 1 = paper decoder (one forward: features, neighbours, mask, noise -> reconstruction
/// [B,N,3]; still read so old artifacts and paper-decoder models keep running); 2 = latent-only
/// decoder with named entry points `reconstruct` and `simulate` (decoded hit sets) and, in newer
/// exports (optional), `simulate_counts` (simulate's inputs -> its hits per channel). Any other
/// schema_version throws ContractError naming it.
struct Contract {
  static constexpr int kSchemaVersion = 1;
  static constexpr int kSchemaVersionV2 = 2;
  static constexpr const char* kGraphBuilder = "gvae-graph-v1";

  int schema_version = kSchemaVersion;
  std::string model_name;
  std::string model_version;
  std::string format;  ///< "torchscript" or "aoti"
  std::string device;  ///< device the model was exported for: "cpu" or "cuda"
  std::string builder = kGraphBuilder;
  int k = 0;           ///< neighbours per node
  int max_nodes = 0;   ///< N, nodes per graph
  int clusters = 0;    ///< C, latent clusters
  int latent_dim = 0;  ///< L, latent dimension per cluster
  FeatureNorm x;
  FeatureNorm y;
  FeatureNorm log_energy;
  std::string weights_sha256;
  std::string document;  ///< the original JSON text

  // ---- contract v2 only (empty / defaults for v1) ----
  int batch_min = 1;                 ///< smallest batch the artifact accepts
  int batch_max = 0;                 ///< largest batch (0 = no recorded limit: v1)
  std::vector<EntryPoint> entry_points;
  std::array<int, 3> slots{};        ///< decoder slots per channel; S = sum
  double logpt_mean = 0.0;           ///< simulate: t = (ln pT - logpt_mean) / logpt_std
  double logpt_std = 1.0;
  std::vector<ConditionType> types;  ///< indices 0..K-1 in order
  double max_hit_energy = 0.0;       ///< snapping: energies capped here (GeV)
  std::array<double, 3> thresholds{};  ///< snapping: readout threshold per channel (GeV)

  /// The entry point `name`, or nullptr (always nullptr for v1).
  const EntryPoint* entryPoint(const std::string& name) const noexcept {
    for (const EntryPoint& e : entry_points)
      if (e.name == name) return &e;
    return nullptr;
  }
  int slotCount() const noexcept { return slots[0] + slots[1] + slots[2]; }

  /// Parse and validate a contract document. Throws gvae::ContractError naming `source` and the
  /// offending field for: malformed JSON, a missing/mistyped field, an unknown schema_version,
  /// an unknown graph.builder, node/output feature lists or geometry other than DESIGN section 8,
  /// input/output names, dtypes or shapes that disagree with graph.k/max_nodes and latent,
  /// non-positive or non-finite normalisation stds; for v2 also entry points whose tensors disagree
  /// with graph/latent/decoder, an empty or inverted batch range, condition types not 0..K-1.
  static Contract parse(const std::string& json_text, const std::string& source);
};

}  // namespace gvae

#endif  // GVAE_CONTRACT_H
