// Writer of the .gvh gvae hits binary (docs/DESIGN.md section 3.1), no ROOT needed, and of the
// .gvr reconstruction-details file of this example (README.md, "Output files"). The reader is
// libgvae's gvae::GvhReader (gvae/GvhFile.h), shared with the tests and the benchmark.
//
// .gvh, little-endian:
//   header : char[8] "GVAEHIT1" | uint32 version = 1 | uint32 reserved = 0 | uint64 n_jets
//   jet    : uint64 event_id | float32 pt, eta, phi, m0, label | uint32 n_hits | n_hits x hit
//   hit    : uint8 channel | uint8 pad = 0 | uint16 ieta | uint16 iphi | uint16 pad = 0 | float32 energy
//
// Every problem is a gvae::DataError whose message names the file, the jet (row) and the field,
// in the form of python/gvae/errors.py: "file 'F', row R, field 'X': what".
#ifndef IOGvh_GvhFile_h
#define IOGvh_GvhFile_h

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "DataFormats/GvaeJets/interface/JetCollection.h"
#include "gvae/GvhFile.h"
#include "gvae/Hits.h"

namespace gvh {

using gvae::gvh::kHeaderBytes;
using gvae::gvh::kHitBytes;
using gvae::gvh::kJetHeaderBytes;
using gvae::gvh::kMagic;
using gvae::gvh::kMaxHits;
using gvae::gvh::kVersion;
inline constexpr char kRecoMagic[8] = {'G', 'V', 'A', 'E', 'R', 'C', 'O', '1'};
inline constexpr std::uint64_t kRecoJetHeaderBytes = 40;
inline constexpr std::uint64_t kRecoHitBytes = 20;

/// Writes a .gvh file to `<path>.tmp`; commit() writes n_jets into the header and renames it to
/// `path`. A writer destroyed without commit() removes its temporary file.
class GvhWriter {
 public:
  explicit GvhWriter(const std::string& path);
  ~GvhWriter();
  GvhWriter(const GvhWriter&) = delete;
  GvhWriter& operator=(const GvhWriter&) = delete;

  void write(const gvaedf::JetKinematics& kinematics, const std::vector<gvae::Hit>& hits);
  /// The hits libgvae returns (Producer reconstructions, Simulator output): channel, ieta, iphi and
  /// energy of each, HCAL hits at the centre pixel 5t+2 of their tower (DESIGN section 3.1). The one
  /// writer of both output modules (GvhOutputModule, GvhSimOutputModule).
  void writeHits(const gvaedf::JetKinematics& kinematics, const std::vector<gvae::RecoHit>& hits);
  void commit();
  std::uint64_t size() const noexcept { return nJets_; }

 private:
  std::string path_;
  std::string tmpPath_;
  std::ofstream out_;
  std::uint64_t nJets_ = 0;
  bool committed_ = false;
  std::vector<gvae::Hit> scratch_;  // writeHits conversion buffer (one writer per output module)
};

/// Writes the .gvr reconstruction details (full-precision x, y, energy and diagnostics), with the
/// same temporary-file/commit behaviour as GvhWriter.
///   header : char[8] "GVAERCO1" | uint32 version = 1 | uint32 reserved = 0 | uint64 n_jets
///   jet    : uint64 event_id | uint32 n_nodes | uint32 n_hits | float64 total_energy
///            | float64 dropped_energy_fraction | uint32 n_reco | uint32 pad = 0 | n_reco x reco
///   reco   : uint8 channel | uint8 pad | uint16 ieta | uint16 iphi | uint16 pad
///            | float32 x | float32 y | float32 energy
class GvrWriter {
 public:
  explicit GvrWriter(const std::string& path);
  ~GvrWriter();
  GvrWriter(const GvrWriter&) = delete;
  GvrWriter& operator=(const GvrWriter&) = delete;

  void write(const gvae::JetResult& result, std::uint64_t eventID);
  void commit();

 private:
  std::string path_;
  std::string tmpPath_;
  std::ofstream out_;
  std::uint64_t nJets_ = 0;
  bool committed_ = false;
};

}  // namespace gvh

#endif  // IOGvh_GvhFile_h
