// gvaeRun: run a gvae reconstruction job (CMSSW: cmsRun).
//
//   gvaeRun CONFIG [key=value ...]
//
// Reads the configuration (FWCore/ParameterSet), creates the ThreadsService, the GvhSource, the
// GvaeReconstructionProducer (label gvaeReco) and the GvhOutputModule (label out), runs the event
// loop on process.numberOfStreams streams and prints the TimeReport. Exit codes (README):
//   0 ok | 1 other error | 2 configuration/usage | 3 input data | 4 model/contract | 5 device | 6 output file
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "FWCore/Framework/interface/EventProcessor.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "FWCore/ServiceRegistry/interface/Service.h"
#include "FWCore/Utilities/interface/Exception.h"
#include "GvaeProducer/plugins/GvaeReconstructionProducer.h"
#include "IOGvh/plugins/GvhOutputModule.h"
#include "IOGvh/plugins/GvhSource.h"
#include "PhysicsTools/Gvae/interface/ThreadsService.h"
#include "gvae/Errors.h"
#include "gvae/Version.h"

namespace {

constexpr const char* kUsage = R"(usage: gvaeRun CONFIG [key=value ...]

Run the gvae reconstruction job described by CONFIG (a `key = value` file, see
cmssw_example/README.md); each key=value argument overrides or adds one parameter, e.g.
  gvaeRun GvaeProducer/test/gvaeReco_cfg.txt source.fileName=jets.gvh process.numberOfStreams=4

Parameters:
  process.numberOfStreams   concurrent streams (threads), default 1
  process.maxEvents         events to process, -1 = all (default)
  process.timingReport      also write the TimeReport as JSON to this file (default: none)
  ThreadsService.intraOpThreads / interOpThreads   LibTorch threads (default 1 / 1)
  source.fileName           input .gvh file (required)
  source.jetsPerEvent       jets per event (default 1); source.skipEvents (default 0)
  gvaeReco.modelPath        exported model .pt / .pt2 (required)
  gvaeReco.device           cpu | cuda | auto (default cpu)
  gvaeReco.batchSize        jets per model call (default 64)
  gvaeReco.mode             deterministic | sampling (default deterministic)
  gvaeReco.seed             sampling seed (default 0); gvaeReco.noise  jet | stream (default jet)
  out.fileName              output .gvh of reconstructed hits (required)
  out.detailsFileName       output .gvr with full-precision x, y, energy (optional)

Exit codes: 0 ok, 1 other error, 2 configuration, 3 input data, 4 model/contract,
5 device unavailable, 6 output file.
)";

/// One line: newlines in a message (LibTorch likes them) become " | ".
std::string oneLine(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string out;
  for (char c : message) {
    if (c == '\n') {
      out += " | ";
    } else if (c != '\r') {
      out += c;
    }
  }
  return out;
}

int fail(int code, const char* kind, const std::string& message) {
  std::cerr << "gvaeRun: error [" << kind << "]: " << oneLine(message) << std::endl;
  return code;
}

int runJob(int argc, char** argv) {
  edm::ParameterSet pset = edm::ParameterSet::fromFile(argv[1]);
  for (int i = 2; i < argc; ++i) pset.applyOverride(argv[i]);

  const auto process = pset.subset("process");
  edm::ProcessOptions options;
  const int streams = process.getUntrackedParameter<int>("numberOfStreams", 1);
  if (streams < 1 || streams > 256)
    throw edm::Exception(edm::errors::Category::Configuration,
                         process.origin("numberOfStreams") + ": process.numberOfStreams must be in [1, 256], got " +
                             std::to_string(streams));
  options.numberOfStreams = static_cast<unsigned>(streams);
  options.maxEvents = process.getUntrackedParameter<std::int64_t>("maxEvents", -1);
  if (options.maxEvents < -1)
    throw edm::Exception(edm::errors::Category::Configuration, process.origin("maxEvents") +
                                                                   ": process.maxEvents must be -1 (all) or >= 0");
  const std::string timingReport = process.getUntrackedParameter<std::string>("timingReport", "");

  // Services first (before any model exists), then the modules; all parameters are read and
  // checked before anything heavy happens.
  edm::ServiceRegistry::instance().add<ThreadsService>(pset.subset("ThreadsService"));
  auto source = std::make_unique<GvhSource>("source", pset.subset("source"));
  std::vector<std::unique_ptr<edm::stream::ProducerHolderBase>> producers;
  producers.push_back(std::make_unique<edm::stream::ProducerHolder<GvaeReconstructionProducer>>(
      "gvaeReco", "GvaeReconstructionProducer", pset.subset("gvaeReco")));
  auto output = std::make_unique<GvhOutputModule>("out", pset.subset("out"));

  const auto unused = pset.unusedParameters();
  if (!unused.empty()) {
    std::string list;
    for (const auto& u : unused) list += (list.empty() ? "" : ", ") + u;
    throw edm::Exception(edm::errors::Category::Configuration, "unknown parameter(s): " + list);
  }

  const auto settings = GvaeReconstructionProducer::readSettings(pset.subset("gvaeReco"));
  std::cout << "gvaeRun: libgvae " << gvae::version() << ", input " << pset.subset("source").getParameter<std::string>("fileName")
            << " (" << source->numberOfJets() << " jets), model " << settings.config.model_path << ", device "
            << gvae::deviceName(settings.config.device) << ", mode " << gvae::modeName(settings.config.mode)
            << ", batch " << settings.config.batch_size << ", " << options.numberOfStreams << " stream(s)" << std::endl;

  edm::EventProcessor processor(options, std::move(source), std::move(producers), std::move(output));
  const edm::TimeReport report = processor.run();
  report.print(std::cout);
  if (!timingReport.empty()) {
    std::ofstream json(timingReport);
    json << report.toJson() << "\n";
    if (!json) throw edm::Exception(edm::errors::Category::FileOpenError, "cannot write '" + timingReport + "'");
  }
  std::cout << "gvaeRun: " << report.events << " events processed, output " << pset.subset("out").getParameter<std::string>("fileName") << std::endl;
  edm::ServiceRegistry::instance().clear();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::cout << kUsage;
    return 0;
  }
  if (argc < 2) {
    std::cerr << kUsage;
    return fail(2, "Usage", "missing CONFIG argument");
  }
  try {
    return runJob(argc, argv);
  } catch (const edm::Exception& e) {
    int code = 1;
    if (e.category() == edm::errors::Category::Configuration) code = 2;
    if (e.category() == edm::errors::Category::FileOpenError) code = 6;
    return fail(code, edm::errors::categoryName(e.category()), e.what());
  } catch (const gvae::DeviceUnavailable& e) {
    return fail(5, "DeviceUnavailable", e.what());
  } catch (const gvae::ModelLoadError& e) {
    return fail(4, "ModelLoadError", e.what());
  } catch (const gvae::ContractError& e) {
    return fail(4, "ContractError", e.what());
  } catch (const gvae::DataError& e) {
    return fail(3, "DataError", e.what());
  } catch (const gvae::InvalidInput& e) {
    return fail(3, "InvalidInput", e.what());
  } catch (const gvae::Error& e) {
    return fail(1, "gvae::Error", e.what());
  } catch (const std::exception& e) {
    return fail(1, "std::exception", e.what());
  } catch (...) {
    return fail(1, "unknown", "unknown exception");
  }
}
