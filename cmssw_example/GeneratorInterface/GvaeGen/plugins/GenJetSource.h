// GenJetSource: generator-level jets (type, pT, eta, phi) for the fast simulation
// (CMSSW: a generator / LHE source putting reco::GenJets).
//
// Parameters (block `genJets`):
//   fileName      string  required; by extension:
//                         .csv  the conditions file of `python -m gvae.simulate --conditions`: a header,
//                               columns `type` (ttbar|qcd|1|0) and `pt` (GeV, finite, > 0), optional
//                               `eta`, `phi` (empty or absent: NaN = not given); jet id = data row (0, 1, ...)
//                         .gvh  the scalars of every jet of a gvae hits file (`python -m gvae.data
//                               generate ... --out X.gvh`): label (0 or 1) -> type, pt, eta, phi; the hits
//                               are not used; jet id = the jet's event_id
//   jetsPerEvent  int     consecutive jets grouped into one event (default 1)
//   skipEvents    int     events to skip at the start (default 0)
// Puts a gvaedf::GenJetCollection under the module label. Every problem of the file is a
// gvae::DataError "file 'F', row R, field 'X': what" (the CSV is checked completely when opened).
#ifndef GeneratorInterface_GvaeGen_GenJetSource_h
#define GeneratorInterface_GvaeGen_GenJetSource_h

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "DataFormats/GvaeJets/interface/GenJetCollection.h"
#include "FWCore/Framework/interface/InputSource.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "gvae/GvhFile.h"

class GenJetSource : public edm::InputSource {
 public:
  /// Read and check every parameter (edm::Exception Configuration), open nothing.
  static void validate(const edm::ParameterSet& pset);
  /// Opens (and for CSV reads and checks) the file: gvae::DataError naming file, row and field.
  GenJetSource(const std::string& label, const edm::ParameterSet& pset);
  std::unique_ptr<edm::Event> readEvent() override;
  /// Jets in the file (before skipEvents).
  std::uint64_t numberOfJets() const noexcept { return nJets_; }
  const std::string& fileName() const noexcept { return fileName_; }

  /// The jets of a conditions CSV (public for the unit test).
  static gvaedf::GenJetCollection readConditionsCsv(const std::string& path);

 private:
  bool nextJet(gvaedf::GenJet& jet);

  std::string fileName_;
  int jetsPerEvent_;
  std::uint64_t nJets_ = 0;
  std::unique_ptr<gvae::GvhReader> gvh_;  ///< .gvh input
  gvaedf::GenJetCollection csv_;          ///< .csv input, all rows
  std::size_t nextCsv_ = 0;
  std::uint64_t nextIndex_ = 0;
};

#endif  // GeneratorInterface_GvaeGen_GenJetSource_h
