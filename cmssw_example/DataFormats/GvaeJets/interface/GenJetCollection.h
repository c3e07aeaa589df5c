// Generator-level jets as the GenJetSource puts them: what a fast simulation starts from.
// (CMSSW: reco::GenJetCollection.) Independent of libgvae: the producer turns each GenJet into a
// gvae::JetCondition.
#ifndef DataFormats_GvaeJets_GenJetCollection_h
#define DataFormats_GvaeJets_GenJetCollection_h

#include <cstdint>
#include <vector>

namespace gvaedf {

struct GenJet {
  std::uint64_t jetID = 0;  ///< labels the jet: per-jet seeds, output event_id (CSV: row; .gvh: event_id)
  int type = 0;             ///< 1 = hadronic top, 0 = QCD light quark/gluon (gvae.data labels)
  double pt = 0.0;          ///< GeV
  double eta = 0.0;         ///< jet axis; NaN when the input does not give it
  double phi = 0.0;         ///< NaN when the input does not give it
};

using GenJetCollection = std::vector<GenJet>;

}  // namespace gvaedf

#endif  // DataFormats_GvaeJets_GenJetCollection_h
