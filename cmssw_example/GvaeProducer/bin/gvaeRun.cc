// gvaeRun: run a gvae reconstruction or fast-simulation job (CMSSW: cmsRun).
//
//   gvaeRun CONFIG [key=value ...]
//
// Reads the configuration (FWCore/ParameterSet), creates the ThreadsService and the modules of the
// path chosen by `process.path`:
//   reconstruction (default): GvhSource (label source) -> GvaeReconstructionProducer (gvaeReco)
//                             -> GvhOutputModule (out)
//   simulation:               GenJetSource (genJets) -> GvaeFastSimProducer (gvaeFastSim)
//                             -> GvhSimOutputModule (simOut)
// The other path's blocks, when the configuration has them, are checked (every key read and
// validated) but nothing of them is opened or loaded. Runs the event loop on
// process.numberOfStreams streams and prints the TimeReport. Exit codes (README):
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
#include "GeneratorInterface/GvaeGen/plugins/GenJetSource.h"
#include "GvaeProducer/plugins/GvaeFastSimProducer.h"
#include "GvaeProducer/plugins/GvaeReconstructionProducer.h"
#include "IOGvh/plugins/GvhOutputModule.h"
#include "IOGvh/plugins/GvhSimOutputModule.h"
#include "IOGvh/plugins/GvhSource.h"
#include "PhysicsTools/Gvae/interface/ThreadsService.h"
#include "gvae/Errors.h"
#include "gvae/Version.h"

namespace {

constexpr const char* kUsage = R"(usage: gvaeRun CONFIG [key=value ...]

Run the gvae reconstruction or fast-simulation job described by CONFIG (a `key = value` file,
see cmssw_example/README.md); each key=value argument overrides or adds one parameter, e.g.
  gvaeRun GvaeProducer/test/gvaeReco_cfg.txt source.fileName=jets.gvh process.numberOfStreams=4
  gvaeRun GvaeProducer/test/gvaeReco_cfg.txt process.path=simulation genJets.fileName=conditions.csv

Parameters:
  process.path              reconstruction (default) | simulation
  process.numberOfStreams   concurrent streams (threads), default 1
  process.maxEvents         events to process, -1 = all (default)
  process.maxEventsInFlight events read but not yet written, at most (back-pressure on the
                            output's reorder buffer); default 0 = 2 x numberOfStreams
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
 simulation path:
  genJets.fileName          generator jets: conditions .csv (type,pt[,eta,phi]) or a .gvh (its
                            label/pt/eta/phi scalars) (required); genJets.jetsPerEvent, skipEvents
  gvaeFastSim.modelPath     exported model with a `simulate` entry point (required)
  gvaeFastSim.device / batchSize / seed    as gvaeReco (default cpu / 64 / 0)
  gvaeFastSim.noise         jet (per-jet seeds, default) | stream
  simOut.fileName           output .gvh of simulated jets (required)

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

struct Failure {
  int code;
  const char* kind;
};

/// Exit code and kind of an exception; a ModuleFailure (an exception that left a module, wrapped
/// with the module's context) is classified by the original exception nested inside it.
Failure classify(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const edm::Exception& e) {
    if (e.category() == edm::errors::Category::ModuleFailure) {
      try {
        std::rethrow_if_nested(e);
      } catch (...) {
        return classify(std::current_exception());
      }
    }
    if (e.category() == edm::errors::Category::Configuration) return {2, "Configuration"};
    if (e.category() == edm::errors::Category::FileOpenError) return {6, "FileOpenError"};
    return {1, edm::errors::categoryName(e.category())};
  } catch (const gvae::DeviceUnavailable&) {
    return {5, "DeviceUnavailable"};
  } catch (const gvae::ModelLoadError&) {
    return {4, "ModelLoadError"};
  } catch (const gvae::ContractError&) {
    return {4, "ContractError"};
  } catch (const gvae::DataError&) {
    return {3, "DataError"};
  } catch (const gvae::InvalidInput&) {
    return {3, "InvalidInput"};
  } catch (const gvae::Error&) {
    return {1, "gvae::Error"};
  } catch (const std::exception&) {
    return {1, "std::exception"};
  } catch (...) {
    return {1, "unknown"};
  }
}

/// The modules of one path.
struct Job {
  std::unique_ptr<edm::InputSource> source;
  std::vector<std::unique_ptr<edm::stream::ProducerHolderBase>> producers;
  std::unique_ptr<edm::OutputModule> output;
  std::string summary;  ///< what the job does, for the first printed line
  std::string outputFile;
};

Job reconstructionJob(const edm::ParameterSet& pset) {
  Job job;
  auto source = std::make_unique<GvhSource>("source", pset.subset("source"));
  job.producers.push_back(std::make_unique<edm::stream::ProducerHolder<GvaeReconstructionProducer>>(
      "gvaeReco", "GvaeReconstructionProducer", pset.subset("gvaeReco")));
  job.output = std::make_unique<GvhOutputModule>("out", pset.subset("out"));
  const auto settings = GvaeReconstructionProducer::readSettings(pset.subset("gvaeReco"));
  job.summary = "reconstruction, input " + pset.subset("source").getParameter<std::string>("fileName") + " (" +
                std::to_string(source->numberOfJets()) + " jets), model " + settings.config.model_path + ", device " +
                gvae::deviceName(settings.config.device) + ", mode " + gvae::modeName(settings.config.mode) +
                ", batch " + std::to_string(settings.config.batch_size);
  job.outputFile = pset.subset("out").getParameter<std::string>("fileName");
  job.source = std::move(source);
  return job;
}

void validateSimulation(const edm::ParameterSet& pset) {
  GenJetSource::validate(pset.subset("genJets"));
  GvaeFastSimProducer::validate(pset.subset("gvaeFastSim"));
  GvhSimOutputModule::validate(pset.subset("simOut"));
}

Job simulationJob(const edm::ParameterSet& pset) {
  validateSimulation(pset);
#ifdef GVAE_EXAMPLE_HAS_SIMULATOR
  Job job;
  auto source = std::make_unique<GenJetSource>("genJets", pset.subset("genJets"));
  job.producers.push_back(std::make_unique<edm::stream::ProducerHolder<GvaeFastSimProducer>>(
      "gvaeFastSim", "GvaeFastSimProducer", pset.subset("gvaeFastSim")));
  job.output = std::make_unique<GvhSimOutputModule>("simOut", pset.subset("simOut"));
  const auto s = GvaeFastSimProducer::readSettings(pset.subset("gvaeFastSim"));
  job.summary = "simulation, generator jets " + source->fileName() + " (" + std::to_string(source->numberOfJets()) +
                " jets), model " + s.modelPath + ", device " + gvae::deviceName(s.device) + ", noise " +
                (s.perStreamNoise ? "stream" : "jet") + ", seed " + std::to_string(s.config.seed) + ", batch " +
                std::to_string(s.config.batch_size);
  job.outputFile = pset.subset("simOut").getParameter<std::string>("fileName");
  job.source = std::move(source);
  return job;
#else
  throw edm::Exception(edm::errors::Category::Configuration,
                       pset.subset("process").origin("path") +
                           ": process.path = simulation, but this gvaeRun was built without fast simulation: the "
                           "installed libgvae has no gvae::Simulator implementation (cmssw_example's CMake check "
                           "GVAE_HAS_SIMULATOR failed; rebuild against a libgvae with contract v2 simulation)");
#endif
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
  options.maxEventsInFlight = process.getUntrackedParameter<std::int64_t>("maxEventsInFlight", 0);
  if (options.maxEventsInFlight < 0)
    throw edm::Exception(edm::errors::Category::Configuration,
                         process.origin("maxEventsInFlight") +
                             ": process.maxEventsInFlight must be >= 1, or 0 = 2 x numberOfStreams");
  const std::string timingReport = process.getUntrackedParameter<std::string>("timingReport", "");
  const std::string path = process.getUntrackedParameter<std::string>("path", "reconstruction");
  if (path != "reconstruction" && path != "simulation")
    throw edm::Exception(edm::errors::Category::Configuration,
                         process.origin("path") + ": process.path must be reconstruction or simulation, got '" + path +
                             "'");

  // Services first (before any model exists), then the modules; all parameters are read and
  // checked before anything heavy happens. The other path's blocks are only checked.
  edm::ServiceRegistry::instance().add<ThreadsService>(pset.subset("ThreadsService"));
  Job job;
  if (path == "simulation") {
    if (!pset.subset("source").empty()) GvhSource::validate(pset.subset("source"));
    if (!pset.subset("gvaeReco").empty()) GvaeReconstructionProducer::validate(pset.subset("gvaeReco"));
    if (!pset.subset("out").empty()) GvhOutputModule("out", pset.subset("out"));  // reads its parameters only
    job = simulationJob(pset);
  } else {
    if (!pset.subset("genJets").empty() || !pset.subset("gvaeFastSim").empty() || !pset.subset("simOut").empty())
      validateSimulation(pset);
    job = reconstructionJob(pset);
  }

  const auto unused = pset.unusedParameters();
  if (!unused.empty()) {
    std::string list;
    for (const auto& u : unused) list += (list.empty() ? "" : ", ") + u;
    throw edm::Exception(edm::errors::Category::Configuration, "unknown parameter(s): " + list);
  }

  std::cout << "gvaeRun: libgvae " << gvae::version() << ", " << job.summary << ", " << options.numberOfStreams
            << " stream(s)" << std::endl;

  edm::EventProcessor processor(options, std::move(job.source), std::move(job.producers), std::move(job.output));
  const edm::TimeReport report = processor.run();
  report.print(std::cout);
  if (!timingReport.empty()) {
    std::ofstream json(timingReport);
    json << report.toJson() << "\n";
    if (!json) throw edm::Exception(edm::errors::Category::FileOpenError, "cannot write '" + timingReport + "'");
  }
  std::cout << "gvaeRun: " << report.events << " events processed, output " << job.outputFile << std::endl;
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
  } catch (const std::exception& e) {
    const Failure f = classify(std::current_exception());
    return fail(f.code, f.kind, e.what());  // e.what() of a module's error includes its context
  } catch (...) {
    return fail(1, "unknown", "unknown exception");
  }
}
