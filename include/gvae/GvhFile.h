// Reader of the .gvh hits file (docs/DESIGN.md section 3.1): the one C++ reader, used by the
// tests, the inference benchmark and the CMSSW-like example (python: gvae.io.gvh).
//
// .gvh, little-endian:
//   header : char[8] "GVAEHIT1" | uint32 version = 1 | uint32 reserved = 0 | uint64 n_jets
//   jet    : uint64 event_id | float32 pt, eta, phi, m0, label | uint32 n_hits | n_hits x hit
//   hit    : uint8 channel | uint8 pad = 0 | uint16 ieta | uint16 iphi | uint16 pad = 0 | float32 energy
//
// Every problem is a gvae::DataError whose message names the file, the jet (row) and the field,
// in the form of python/gvae/errors.py: "file 'F', row R, field 'X': what".
#ifndef GVAE_GVHFILE_H
#define GVAE_GVHFILE_H

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "gvae/GraphBuilder.h"  // gvae::Hit
#include "gvae/Hits.h"          // gvae::JetHits

namespace gvae {

namespace gvh {
inline constexpr char kMagic[8] = {'G', 'V', 'A', 'E', 'H', 'I', 'T', '1'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint64_t kHeaderBytes = 24;     // magic, version, reserved, n_jets
inline constexpr std::uint64_t kJetHeaderBytes = 32;  // event_id, 5 floats, n_hits
inline constexpr std::uint64_t kHitBytes = 12;
/// Most hits a jet may have: one per pixel of each channel (as gvae::kMaxHitsPerJet).
inline constexpr std::uint32_t kMaxHits = 3 * 125 * 125;
}  // namespace gvh

/// One jet of a .gvh file: its scalars and its hits.
struct GvhJet {
  std::uint64_t event_id = 0;  ///< row of the jet in the original source file
  float pt = 0.f;              ///< GeV
  float eta = 0.f;
  float phi = 0.f;
  float m0 = 0.f;              ///< GeV
  float label = 0.f;           ///< e.g. 1 = top, 0 = QCD
  std::vector<Hit> hits;
};

/// Sequential reader. The constructor validates the whole file's structure (magic, version,
/// reserved field, the n_hits chain of every jet, n_jets against the actual content, trailing
/// bytes) before any jet is returned, so a truncated or corrupt file fails fast, naming the jet.
/// next() validates every hit (channel, pads, ieta/iphi in [0,125), energy finite and >= 0).
/// Not thread-safe (one reader per thread).
class GvhReader {
 public:
  explicit GvhReader(const std::string& path);
  const std::string& path() const noexcept { return path_; }
  std::uint64_t size() const noexcept { return nJets_; }      ///< jets in the file
  std::uint64_t position() const noexcept { return next_; }   ///< index of the next jet
  /// Read the next jet into `jet`; false at the end of the file.
  bool next(GvhJet& jet);

 private:
  [[noreturn]] void fail(const std::string& what, std::int64_t row = -1, const std::string& field = "") const;
  std::string path_;
  std::ifstream in_;
  std::uint64_t nJets_ = 0;
  std::uint64_t next_ = 0;
  std::vector<unsigned char> buffer_;
};

/// Every jet of a .gvh file as producer input (jet_id = event_id), in file order.
std::vector<JetHits> readGvhJets(const std::string& path);

}  // namespace gvae

#endif  // GVAE_GVHFILE_H
