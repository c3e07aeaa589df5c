// The model contract embedded in every exported gvae model (docs/DESIGN.md section 8).
#ifndef GVAE_CONTRACT_H
#define GVAE_CONTRACT_H

#include <string>

namespace gvae {

/// Mean and standard deviation of one normalised feature (DESIGN section 5).
struct FeatureNorm {
  double mean = 0.0;
  double std = 1.0;
};

/// The parts of the contract libgvae uses, parsed and validated. Everything else stays in `document`.
struct Contract {
  static constexpr int kSchemaVersion = 1;
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

  /// Parse and validate a contract document. Throws gvae::ContractError naming `source` and the
  /// offending field for: malformed JSON, a missing/mistyped field, an unknown schema_version,
  /// an unknown graph.builder, node/output feature lists or geometry other than DESIGN section 8,
  /// input/output names, dtypes or shapes that disagree with graph.k/max_nodes and latent,
  /// non-positive or non-finite normalisation stds.
  static Contract parse(const std::string& json_text, const std::string& source);
};

}  // namespace gvae

#endif  // GVAE_CONTRACT_H
