// The jets of one event as the source puts them: per-jet kinematics plus the detector hits
// in the form gvae::Producer takes (gvae::JetHits, jet_id = the jet's event_id in the file).
#ifndef DataFormats_GvaeJets_JetCollection_h
#define DataFormats_GvaeJets_JetCollection_h

#include <cstdint>
#include <vector>

#include "gvae/Hits.h"

namespace gvaedf {

/// The per-jet scalars of a .gvh record (docs/DESIGN.md section 3.1).
struct JetKinematics {
  std::uint64_t eventID = 0;  ///< row of the jet in the original source file
  float pt = 0.f;             ///< GeV
  float eta = 0.f;
  float phi = 0.f;
  float m0 = 0.f;             ///< GeV
  float label = 0.f;          ///< e.g. 1 = top, 0 = QCD
};

/// kinematics[i] and hits[i] describe the same jet; hits[i].jet_id == kinematics[i].eventID.
struct JetCollection {
  std::vector<JetKinematics> kinematics;
  std::vector<gvae::JetHits> hits;
};

}  // namespace gvaedf

#endif  // DataFormats_GvaeJets_JetCollection_h
