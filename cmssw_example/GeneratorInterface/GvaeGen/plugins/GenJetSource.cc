#include "GeneratorInterface/GvaeGen/plugins/GenJetSource.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "FWCore/Utilities/interface/Exception.h"
#include "gvae/Errors.h"

namespace {

int positive(const edm::ParameterSet& pset, const std::string& name, int fallback) {
  const int value = pset.getUntrackedParameter<int>(name, fallback);
  if (value < 1)
    throw edm::Exception(edm::errors::Category::Configuration,
                         pset.origin(name) + ": parameter '" + name + "' must be >= 1, got " + std::to_string(value));
  return value;
}

std::int64_t skipEvents(const edm::ParameterSet& pset) {
  const auto skip = pset.getUntrackedParameter<std::int64_t>("skipEvents", 0);
  if (skip < 0)
    throw edm::Exception(edm::errors::Category::Configuration,
                         pset.origin("skipEvents") + ": parameter 'skipEvents' must be >= 0");
  return skip;
}

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::vector<std::string> splitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, ',')) out.push_back(trim(cell));
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

[[noreturn]] void dataError(const std::string& file, const std::string& what, std::int64_t row = -1,
                            const std::string& field = "") {
  std::string message = "file '" + file + "'";
  if (row >= 0) message += ", row " + std::to_string(row);
  if (!field.empty()) message += ", field '" + field + "'";
  throw gvae::DataError(message + ": " + what);
}

/// Parses a whole cell as a double; false if it is not a number.
bool parseDouble(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

}  // namespace

void GenJetSource::validate(const edm::ParameterSet& pset) {
  const auto name = pset.getParameter<std::string>("fileName");
  if (!endsWith(lower(name), ".csv") && !endsWith(lower(name), ".gvh"))
    throw edm::Exception(edm::errors::Category::Configuration,
                         pset.origin("fileName") + ": parameter 'fileName' must be a .csv conditions file or a .gvh "
                                                   "file, got '" + name + "'");
  positive(pset, "jetsPerEvent", 1);
  skipEvents(pset);
}

gvaedf::GenJetCollection GenJetSource::readConditionsCsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) dataError(path, "cannot open the conditions file");
  std::string line;
  if (!std::getline(in, line)) dataError(path, "the conditions file is empty (it needs a header: type,pt[,eta,phi])");
  const auto header = splitCsv(line);
  const auto column = [&](const std::string& name) -> int {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int cType = column("type"), cPt = column("pt"), cEta = column("eta"), cPhi = column("phi");
  for (const auto& [c, name] : {std::pair<int, const char*>{cType, "type"}, {cPt, "pt"}})
    if (c < 0) dataError(path, "missing column '" + std::string(name) + "' (header: '" + trim(line) + "')", -1, name);

  gvaedf::GenJetCollection jets;
  std::int64_t row = 0;
  while (std::getline(in, line)) {
    if (trim(line).empty()) continue;
    const auto cells = splitCsv(line);
    const auto cell = [&](int c) { return c >= 0 && c < static_cast<int>(cells.size()) ? cells[c] : std::string(); };
    gvaedf::GenJet jet;
    jet.jetID = static_cast<std::uint64_t>(row);
    const std::string type = lower(cell(cType));
    if (type == "ttbar" || type == "1") {
      jet.type = 1;
    } else if (type == "qcd" || type == "0") {
      jet.type = 0;
    } else {
      dataError(path, "type '" + cell(cType) + "' must be ttbar, qcd, 1 or 0", row, "type");
    }
    if (!parseDouble(cell(cPt), jet.pt) || !std::isfinite(jet.pt) || !(jet.pt > 0))
      dataError(path, "pt '" + cell(cPt) + "' must be a finite number > 0", row, "pt");
    for (const auto& [c, name, dest] : {std::tuple<int, const char*, double*>{cEta, "eta", &jet.eta},
                                        {cPhi, "phi", &jet.phi}}) {
      const std::string text = cell(c);
      if (text.empty()) {
        *dest = std::numeric_limits<double>::quiet_NaN();
      } else if (!parseDouble(text, *dest)) {
        dataError(path, std::string(name) + " '" + text + "' is not a number", row, name);
      }
    }
    jets.push_back(jet);
    ++row;
  }
  if (jets.empty()) dataError(path, "the conditions file has no rows");
  return jets;
}

GenJetSource::GenJetSource(const std::string& label, const edm::ParameterSet& pset)
    : edm::InputSource(label, "GenJetSource"),
      fileName_(pset.getParameter<std::string>("fileName")),
      jetsPerEvent_(positive(pset, "jetsPerEvent", 1)) {
  validate(pset);
  if (endsWith(lower(fileName_), ".csv")) {
    csv_ = readConditionsCsv(fileName_);
    nJets_ = csv_.size();
  } else {
    gvh_ = std::make_unique<gvae::GvhReader>(fileName_);
    nJets_ = gvh_->size();
  }
  const std::int64_t skip = skipEvents(pset);
  gvaedf::GenJet discard;
  for (std::int64_t e = 0; e < skip; ++e)
    for (int j = 0; j < jetsPerEvent_; ++j) nextJet(discard);
}

bool GenJetSource::nextJet(gvaedf::GenJet& jet) {
  if (!gvh_) {
    if (nextCsv_ == csv_.size()) return false;
    jet = csv_[nextCsv_++];
    return true;
  }
  const std::uint64_t row = gvh_->position();
  gvae::GvhJet record;
  if (!gvh_->next(record)) return false;
  if (record.label != 0.f && record.label != 1.f)
    dataError(fileName_, "label " + std::to_string(record.label) + " is not a jet type (0 = QCD, 1 = top)",
              static_cast<std::int64_t>(row), "label");
  if (!std::isfinite(record.pt) || !(record.pt > 0))
    dataError(fileName_, "pt " + std::to_string(record.pt) + " must be a finite number > 0",
              static_cast<std::int64_t>(row), "pt");
  jet = gvaedf::GenJet{record.event_id, static_cast<int>(record.label), record.pt, record.eta, record.phi};
  return true;
}

std::unique_ptr<edm::Event> GenJetSource::readEvent() {
  auto jets = std::make_unique<gvaedf::GenJetCollection>();
  gvaedf::GenJet jet;
  while (static_cast<int>(jets->size()) < jetsPerEvent_ && nextJet(jet)) jets->push_back(jet);
  if (jets->empty()) return nullptr;
  auto event = std::make_unique<edm::Event>(edm::EventID{jets->front().jetID, nextIndex_++});
  event->put(label(), std::move(jets));
  return event;
}
