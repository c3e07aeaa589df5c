// The fast-simulation pieces that need no model: GenJetSource (conditions CSV and .gvh scalars,
// every bad input named by file, row and field; configuration checks) and GvhSimOutputModule
// (simulated jets -> .gvh readable by gvae::GvhReader / gvae.io, HCAL at tower centres, m0 = calo
// mass, consistency checks, nothing committed without endJob).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "DataFormats/GvaeJets/interface/GenJetCollection.h"
#include "FWCore/Framework/interface/Event.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "FWCore/Utilities/interface/Exception.h"
#include "FWCore/Utilities/interface/TestMacros.h"
#include "GeneratorInterface/GvaeGen/plugins/GenJetSource.h"
#include "IOGvh/interface/GvhFile.h"
#include "IOGvh/plugins/GvhSimOutputModule.h"
#include "gvae/Errors.h"
#include "gvae/Geometry.h"
#include "gvae/GvhFile.h"
#include "gvae/Simulator.h"

namespace {

std::string dir;

std::string writeText(const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

edm::ParameterSet block(const std::string& text, const std::string& label) {
  return edm::ParameterSet::fromString(text, "test_cfg").subset(label);
}

std::unique_ptr<GenJetSource> source(const std::string& file, int jetsPerEvent = 1, int skip = 0) {
  return std::make_unique<GenJetSource>(
      "genJets", block("genJets.fileName = \"" + file + "\"\ngenJets.jetsPerEvent = " + std::to_string(jetsPerEvent) +
                           "\ngenJets.skipEvents = " + std::to_string(skip) + "\n",
                       "genJets"));
}

void testConditionsCsv() {
  const auto csv = writeText("cond.csv", "type, pt, eta, phi\nttbar,500,0.5,-1\nqcd, 650.5 ,,\n1,1000,-2,3\n\n0,300,1e-1,0\n");
  auto src = source(csv, 2);
  CHECK(src->numberOfJets() == 4);
  auto e0 = src->readEvent();
  auto e1 = src->readEvent();
  CHECK(e0 && e1 && !src->readEvent());
  CHECK(e0->id().index == 0 && e1->id().index == 1 && e0->id().event == 0 && e1->id().event == 2);
  const auto& a = e0->get<gvaedf::GenJetCollection>("genJets");
  const auto& b = e1->get<gvaedf::GenJetCollection>("genJets");
  CHECK(a.size() == 2 && b.size() == 2);
  CHECK(a[0].jetID == 0 && a[0].type == 1 && a[0].pt == 500 && a[0].eta == 0.5 && a[0].phi == -1);
  CHECK(a[1].jetID == 1 && a[1].type == 0 && a[1].pt == 650.5 && std::isnan(a[1].eta) && std::isnan(a[1].phi));
  CHECK(b[0].jetID == 2 && b[0].type == 1 && b[0].eta == -2 && b[0].phi == 3);
  CHECK(b[1].jetID == 3 && b[1].type == 0 && b[1].pt == 300 && b[1].eta == 0.1);
  auto skipped = source(csv, 1, 3);
  CHECK(skipped->readEvent()->get<gvaedf::GenJetCollection>("genJets")[0].jetID == 3);
  // pt only (eta, phi optional)
  const auto ptOnly = writeText("ptonly.csv", "pt,type\n450,QCD\n");
  const auto jets = GenJetSource::readConditionsCsv(ptOnly);
  CHECK(jets.size() == 1 && jets[0].type == 0 && jets[0].pt == 450 && std::isnan(jets[0].eta));

  // every problem names the file, the row and the field
  const auto bad = [](const std::string& name, const std::string& text, const std::string& message) {
    const auto path = writeText(name, text);
    CHECK_THROWS(source(path), gvae::DataError, "file '" + path + "'" + message);
  };
  bad("badtype.csv", "type,pt\nttbar,500\nw,500\n", ", row 1, field 'type': type 'w' must be ttbar, qcd, 1 or 0");
  bad("badpt.csv", "type,pt\nttbar,500\nqcd,-3\n", ", row 1, field 'pt': pt '-3' must be a finite number > 0");
  bad("nanpt.csv", "type,pt\nqcd,nan\n", ", row 0, field 'pt'");
  bad("textpt.csv", "type,pt\nqcd,500GeV\n", ", row 0, field 'pt': pt '500GeV'");
  bad("missingpt.csv", "type,pt\nqcd\n", ", row 0, field 'pt'");
  bad("badeta.csv", "type,pt,eta\nqcd,500,x\n", ", row 0, field 'eta': eta 'x' is not a number");
  bad("nocolumn.csv", "type,energy\nqcd,500\n", ", field 'pt': missing column 'pt'");
  bad("norows.csv", "type,pt\n", ": the conditions file has no rows");
  bad("empty.csv", "", ": the conditions file is empty");
  CHECK_THROWS(source(dir + "/nothere.csv"), gvae::DataError, "nothere.csv': cannot open");
}

void testGvhScalars() {
  const std::string path = dir + "/gen.gvh";
  {
    gvh::GvhWriter writer(path);
    writer.write(gvaedf::JetKinematics{17, 510.f, 0.25f, -0.5f, 170.f, 1.f}, {{1, 62, 62, 3.f}});
    writer.write(gvaedf::JetKinematics{18, 620.f, -1.f, 2.f, 20.f, 0.f}, {});
    writer.commit();
  }
  auto src = source(path);
  CHECK(src->numberOfJets() == 2);
  const auto e0 = src->readEvent();
  const auto& j0 = e0->get<gvaedf::GenJetCollection>("genJets");
  CHECK(j0.size() == 1 && j0[0].jetID == 17 && j0[0].type == 1 && j0[0].pt == 510.0 && j0[0].eta == 0.25 &&
        j0[0].phi == -0.5 && e0->id().event == 17);
  const auto e1 = src->readEvent();
  CHECK(e1->get<gvaedf::GenJetCollection>("genJets")[0].type == 0 && !src->readEvent());

  const std::string badLabel = dir + "/badlabel.gvh";
  {
    gvh::GvhWriter writer(badLabel);
    writer.write(gvaedf::JetKinematics{0, 510.f, 0.f, 0.f, 0.f, 1.f}, {});
    writer.write(gvaedf::JetKinematics{1, 510.f, 0.f, 0.f, 0.f, 0.5f}, {});
    writer.commit();
  }
  auto bad = source(badLabel);
  bad->readEvent();
  CHECK_THROWS(bad->readEvent(), gvae::DataError, "file '" + badLabel + "', row 1, field 'label': label 0.5");
}

void testConfiguration() {
  CHECK_THROWS(GenJetSource::validate(block("genJets.fileName = jets.txt\n", "genJets")), edm::Exception,
               "must be a .csv conditions file or a .gvh file, got 'jets.txt'");
  CHECK_THROWS(GenJetSource::validate(block("genJets.fileName = a.csv\ngenJets.jetsPerEvent = 0\n", "genJets")),
               edm::Exception, "test_cfg:2: parameter 'jetsPerEvent' must be >= 1");
  CHECK_THROWS(GenJetSource::validate(block("", "genJets")), edm::Exception,
               "missing required parameter 'genJets.fileName'");
  CHECK_THROWS(GvhSimOutputModule::validate(block("simOut.fileName = \"\"\n", "simOut")), edm::Exception,
               "'fileName' is empty");
}

gvae::SimulatedJet simJet(std::uint64_t id, std::vector<gvae::RecoHit> hits) {
  gvae::SimulatedJet jet;
  jet.jet_id = id;
  jet.hits = std::move(hits);
  return jet;
}

std::unique_ptr<edm::Event> simEvent(std::uint64_t index, gvaedf::GenJetCollection gen,
                                     std::vector<gvae::SimulatedJet> sim) {
  auto event = std::make_unique<edm::Event>(edm::EventID{gen.empty() ? 0 : gen.front().jetID, index});
  event->put("genJets", std::make_unique<gvaedf::GenJetCollection>(std::move(gen)));
  event->put("gvaeFastSim", std::make_unique<std::vector<gvae::SimulatedJet>>(std::move(sim)));
  return event;
}

void testSimOutput() {
  using gvae::geometry::pixelToOffset;
  const double nan = std::nan("");
  // two ECAL hits of 10 GeV at eta 0, phi +-a: m = 2 E sin(a); the track does not count
  const int da = 10;
  const std::vector<gvae::RecoHit> hits0 = {{1, 0.f, static_cast<float>(pixelToOffset(62 + da)), 62, 62 + da, 10.f},
                                            {1, 0.f, static_cast<float>(pixelToOffset(62 - da)), 62, 62 - da, 10.f},
                                            {0, 0.f, 0.f, 62, 62, 50.f},
                                            {2, 0.f, 0.f, 57, 67, 4.f}};  // HCAL on its tower centre
  const double expected0 = [&] {
    const auto hcal = std::vector<gvae::RecoHit>{hits0[0], hits0[1], hits0[3]};
    return GvhSimOutputModule::caloMass(hcal);
  }();
  const double twoHits = GvhSimOutputModule::caloMass({hits0[0], hits0[1], hits0[2]});
  CHECK(std::abs(twoHits - 2 * 10 * std::sin(da * gvae::geometry::kPixelSize)) < 1e-9);

  const std::string path = dir + "/sim.gvh";
  std::remove(path.c_str());  // from an earlier run
  {
    GvhSimOutputModule out("simOut", block("simOut.fileName = \"" + path + "\"\n", "simOut"));
    out.beginJob();
    out.write(*simEvent(0, {{5, 1, 700.0, 0.5, nan}, {6, 0, 300.0, nan, nan}},
                        {simJet(5, hits0), simJet(6, {})}));
    out.write(*simEvent(1, {{9, 0, 450.0, -1.0, 2.0}}, {simJet(9, {{2, 0.f, 0.f, 3, 121, 1.5f}})}));
    CHECK_THROWS(out.write(*simEvent(2, {{10, 0, 450.0, 0, 0}}, {})), edm::Exception,
                 "0 simulated jets for 1 generator jets");
    CHECK_THROWS(out.write(*simEvent(2, {{10, 0, 450.0, 0, 0}}, {simJet(11, {})})), edm::Exception,
                 "simulated jet id 11 for generator jet 10");
    CHECK(!std::ifstream(path).good());  // nothing committed before endJob
    out.endJob();
  }
  gvae::GvhReader reader(path);
  CHECK(reader.size() == 3);
  gvae::GvhJet jet;
  CHECK(reader.next(jet));
  CHECK(jet.event_id == 5 && jet.pt == 700.f && jet.eta == 0.5f && std::isnan(jet.phi) && jet.label == 1.f);
  CHECK(std::abs(jet.m0 - static_cast<float>(expected0)) < 1e-4f && jet.m0 > 0);
  CHECK(jet.hits.size() == 4);
  for (std::size_t h = 0; h < jet.hits.size() && jet.hits.size() == 4; ++h) {
    CHECK(jet.hits[h].channel == hits0[h].channel && jet.hits[h].ieta == hits0[h].ieta &&
          jet.hits[h].iphi == hits0[h].iphi && jet.hits[h].energy == hits0[h].energy);
  }
  CHECK(reader.next(jet));
  CHECK(jet.event_id == 6 && jet.label == 0.f && jet.hits.empty() && jet.m0 == 0.f && std::isnan(jet.eta));
  CHECK(reader.next(jet));
  // an HCAL hit off its tower centre is stored at the centre pixel 5t+2 (DESIGN 3.1)
  CHECK(jet.event_id == 9 && jet.hits.size() == 1 && jet.hits[0].ieta == 2 && jet.hits[0].iphi == 122);
  CHECK(!reader.next(jet));

  // a job that fails before endJob leaves no file behind
  const std::string failed = dir + "/sim_failed.gvh";
  std::remove(failed.c_str());
  {
    GvhSimOutputModule out("simOut", block("simOut.fileName = \"" + failed + "\"\n", "simOut"));
    out.beginJob();
    out.write(*simEvent(0, {{5, 1, 700.0, 0.5, 0.1}}, {simJet(5, hits0)}));
  }
  CHECK(!std::ifstream(failed).good() && !std::ifstream(failed + ".tmp").good());
}

}  // namespace

int main(int argc, char** argv) {
  dir = argc > 1 ? argv[1] : ".";
  testConditionsCsv();
  testGvhScalars();
  testConfiguration();
  testSimOutput();
  return TEST_MAIN_RESULT();
}
